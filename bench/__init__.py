"""Benchmarks (``make bench`` / ``python -m bench.run``): figures beside their peers, one machine, one run.

See ``docs/benchmarks.md`` (regenerated from ``bench/results/*.json``) for the latest figures.
"""
