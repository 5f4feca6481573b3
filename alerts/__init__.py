"""Alerts (预警): lifecycle and state, routing to owners, digests, silences and channels.

Modules: ``model`` (alerts, fingerprints, changes), ``config`` (routing and silences files),
``sources`` (published ``fct_alerts``, the gate), ``state`` (the SQLite state store and outbox),
``digest``, ``channels``, ``engine`` (evaluate and deliver), ``receipts`` (per-file receipts),
``cli`` (``scorecard alerts``). Importing this package does no I/O.
"""
