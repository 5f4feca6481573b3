"""A data test that fails fails the build, names the test, and nothing of that build is published:
a full build's shadow copy is not swapped in, an incremental build leaves its unfinished-build
marker, and publication refuses. The bad row is planted in a copy of the session's sample build:
a quarantined row without a reason code (the raw table's NOT NULL dropped first, as a row written
by hand or by an older loader could be), which only the data test of stg_raw__quarantine catches
(``column_rules_stg_raw__quarantine``, macros/test_column_rules.sql)."""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from quality.gate import CheckRecord, GateResult
from warehouse.dbt import FAILED_BUILD_NAME, build, unfinished_build
from warehouse.publish import publish

pytestmark = pytest.mark.slow

FAILING_TEST = "column_rules_stg_raw__quarantine"


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failing_data_test_fails_the_build_and_nothing_is_published(sample_build, tmp_path, monkeypatch):
    assert sample_build.build_ok, sample_build.build_output[-4000:]
    home = sample_build.copy_home(tmp_path / "home")
    settings = sample_build.environment(monkeypatch, home, tmp_path)
    warehouse = settings.warehouse_path
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table raw.quarantine alter column reason_code drop not null")
        con.execute(
            "insert into raw.quarantine (file_id, row_ref, field, reason_code, reason_zh, reason_en, "
            "raw_record, quarantined_at) select min(file_id), 'Sheet1!A2', null, null, '无原因', "
            "'no reason', null, timestamp '2026-01-10 09:00:00' from raw.file_ledger"
        )
        con.execute("checkpoint")
    planted = _digest(warehouse)

    full = build(settings, select="stg_raw__quarantine", mode="full")
    assert not full.ok and full.returncode == 1
    assert [f for f in full.failures if FAILING_TEST in f], full.failures
    assert _digest(warehouse) == planted  # the shadow copy was not swapped in
    assert warehouse.with_name(FAILED_BUILD_NAME).exists()

    incremental = build(settings, mode="incremental")
    assert incremental.mode == "incremental" and not incremental.ok
    assert [f for f in incremental.failures if FAILING_TEST in f], incremental.failures
    assert unfinished_build(settings) is not None

    # even a gate that passed does not publish it
    gate = GateResult("gate-1", "2026-01-15T09:00:00+00:00", str(warehouse))
    gate.results.append(CheckRecord("marts", "c", "d", "row count", "pass", ""))
    refused = publish(settings, gate=gate)
    assert not refused.published
    assert "unfinished incremental build" in refused.reason
