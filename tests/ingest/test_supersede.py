"""Which earlier files a new file supersedes: the loader's queries (ingest.commit) decide exactly
as the per-row form they replaced (kept here as the reference), on random histories of files."""

from __future__ import annotations

import random
from datetime import datetime

import duckdb
import pytest

from ingest.commit import _SUPERSEDE_CANDIDATES_SQL, _mark_superseded
from scorecard.core.raw_layer import ensure_raw_schema
from tests.hypothesis_profiles import examples

# The candidates (earlier files sharing a key with the new one) are the loader's own query.
# The form used before (issue #22: at national size it aggregated every raw row, 54 s and
# 1.25 GB for one correction): a candidate is superseded when every one of its rows has a later
# row with the same key.
REFERENCE_SUPERSEDE = """
UPDATE raw.file_ledger AS ledger SET status = 'superseded'
WHERE ledger.status IN ('loaded', 'loaded_with_rejects')
  AND list_contains($candidates, ledger.file_id)
  AND NOT EXISTS (
      SELECT 1 FROM raw.submissions AS s
      WHERE s.file_id = ledger.file_id AND NOT EXISTS (
          SELECT 1 FROM raw.submissions AS t
          WHERE t.file_id > s.file_id AND t.department_code = s.department_code
            AND t.measure_code = s.measure_code AND t.region_code = s.region_code
            AND t.period = s.period))
  AND NOT EXISTS (
      SELECT 1 FROM raw.status_reports AS s
      WHERE s.file_id = ledger.file_id AND NOT EXISTS (
          SELECT 1 FROM raw.status_reports AS t
          WHERE t.file_id > s.file_id AND t.department_code = s.department_code
            AND t.item_code = s.item_code AND t.region_code = s.region_code
            AND t.period = s.period))
"""
NOW = datetime(2026, 1, 15, 9, 0)


def _reference(con: duckdb.DuckDBPyConnection, file_id: int) -> None:
    candidates = [int(r[0]) for r in con.execute(_SUPERSEDE_CANDIDATES_SQL, {"file_id": file_id}).fetchall()]
    if candidates:
        con.execute(REFERENCE_SUPERSEDE, {"candidates": candidates})


def _add_file(cons: list[duckdb.DuckDBPyConnection], rng: random.Random, file_id: int) -> None:
    """One file: a department, some values and status rows drawn from small pools of keys (so
    that later files repeat some of them), and its ledger row."""
    department = rng.choice(["d1", "d2"])
    status = rng.choice(["loaded", "loaded", "loaded_with_rejects", "rejected", "duplicate"])
    values = {
        (rng.choice(["m1", "m2", "m3"]), rng.choice(["r1", "r2"]), rng.choice(["2024", "2025"]))
        for _ in range(rng.randint(0, 6))
    }
    statuses = {
        (rng.choice(["i1", "i2"]), rng.choice(["r1", "r2"]), rng.choice(["2024", "2025"]))
        for _ in range(rng.choice([0, 0, 1, 3]))
    }
    for con in cons:
        con.execute(
            "INSERT INTO raw.file_ledger (file_id, file_name, department_code, sha256, size_bytes,"
            " received_at, status, rows_input, rows_loaded, rows_rejected)"
            " VALUES (?, ?, ?, ?, 1, ?, ?, 0, 0, 0)",
            [file_id, f"f{file_id}.csv", department, f"{file_id:064d}", NOW, status],
        )
        for n, (measure, region, period) in enumerate(sorted(values)):
            con.execute(
                "INSERT INTO raw.submissions (file_id, row_ref, department_code, region_code, measure_code,"
                " period, value, loaded_at) VALUES (?, ?, ?, ?, ?, ?, 1.0, ?)",
                [file_id, str(n), department, region, measure, period, NOW],
            )
        for n, (item, region, period) in enumerate(sorted(statuses)):
            con.execute(
                "INSERT INTO raw.status_reports (file_id, row_ref, department_code, item_code, region_code,"
                " period, status, loaded_at) VALUES (?, ?, ?, ?, ?, ?, 'done', ?)",
                [file_id, str(n), department, item, region, period, NOW],
            )


# Twelve random histories; a tenth of them (one) under make check's hypothesis profile.
@pytest.mark.parametrize("seed", range(examples(12)))
def test_supersede_decides_as_the_per_row_form(seed: int) -> None:
    rng = random.Random(seed)
    reference, loader = duckdb.connect(), duckdb.connect()
    for con in (reference, loader):
        ensure_raw_schema(con)
    superseded = 0
    for file_id in range(1, 40):
        _add_file([reference, loader], rng, file_id)
        _reference(reference, file_id)
        _mark_superseded(loader, file_id)
        query = "SELECT file_id, status FROM raw.file_ledger ORDER BY file_id"
        expected = reference.execute(query).fetchall()
        assert loader.execute(query).fetchall() == expected, (seed, file_id)
        superseded = sum(status == "superseded" for _, status in expected)
    assert superseded  # the histories do supersede files
