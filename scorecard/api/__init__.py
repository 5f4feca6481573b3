"""The submission API (issue #25): ``scorecard serve``, ``scorecard tokens``, ``scorecard audit``.

Orchestration layer: it writes into the inbox (the same claim path as a dropped file) and reads
the ledger; it imports ingest and warehouse, never the other way round.
"""
