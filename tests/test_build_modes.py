"""Build modes: a full build records what it was built from; ``auto`` is incremental only when
nothing but the raw data changed since. dbt itself is replaced by a recorder here; the real
incremental build is compared with a full one in tests/dbt."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from scorecard.core.settings import Settings
from warehouse import dbt as dbt_module
from warehouse.dbt import (
    INCREMENTAL_SELECTOR,
    WITHOUT_UNIT_TESTS,
    DbtResult,
    build_fingerprint,
    dbt_build,
    full_build_state_path,
    resolve_mode,
    shadow_path,
    sources_built_path,
    unfinished_build,
    unfinished_build_path,
)


class RecordedDbt:
    """Stands in for the dbt subprocess: records the arguments, succeeds unless ``fail``."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail = False
        # per call: the warehouse file it built, and whether the unfinished-build marker was there
        self.built: list[tuple[Path | None, bool]] = []

    def __call__(
        self, args: list[str], settings: Settings, *, warehouse: Path | None = None, **_: object
    ) -> DbtResult:
        self.calls.append(list(args))
        self.built.append((warehouse, unfinished_build_path(settings).exists()))
        return DbtResult(["dbt", *args], 1 if self.fail else 0, "", "")


@pytest.fixture
def recorded_dbt(monkeypatch: pytest.MonkeyPatch) -> RecordedDbt:
    recorder = RecordedDbt()
    monkeypatch.setattr(dbt_module, "run_dbt", recorder)
    return recorder


@pytest.fixture
def project_copy(settings: Settings, tmp_path: Path) -> Settings:
    """Settings pointing at a private copy of the dbt project (so a test may edit a model)."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(
        settings.dbt_project_dir, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    return dataclasses.replace(settings, dbt_project_dir=copy)


def test_auto_is_full_until_a_full_build_has_succeeded(
    project_copy: Settings, recorded_dbt: RecordedDbt
) -> None:
    assert resolve_mode(project_copy, "auto") == "full"
    first = dbt_build(project_copy, mode="auto")
    second = dbt_build(project_copy, mode="auto")
    assert (first.mode, second.mode) == ("full", "incremental")
    assert recorded_dbt.calls == [
        ["build", "--full-refresh", *WITHOUT_UNIT_TESTS],
        # no raw data moved since the full build: only the file ledger's models
        ["build", "--selector", "after_ledger", *WITHOUT_UNIT_TESTS],
    ]


def test_a_changed_model_or_a_new_day_means_a_full_build(
    project_copy: Settings, recorded_dbt: RecordedDbt
) -> None:
    dbt_build(project_copy, mode="full")
    assert resolve_mode(project_copy, "auto") == "incremental"

    next_day = dataclasses.replace(project_copy, as_of=date(2026, 1, 16))
    assert resolve_mode(next_day, "auto") == "full"
    other_window = dataclasses.replace(project_copy, last_year=2026)
    assert resolve_mode(other_window, "auto") == "full"

    model = project_copy.dbt_project_dir / "models" / "marts" / "dim_zone.sql"
    model.write_text(model.read_text(encoding="utf-8") + "\n-- changed\n", encoding="utf-8")
    assert resolve_mode(project_copy, "auto") == "full"


def test_a_failed_full_build_leaves_the_record_of_the_last_good_one(
    project_copy: Settings, recorded_dbt: RecordedDbt
) -> None:
    dbt_build(project_copy, mode="full")
    good = full_build_state_path(project_copy).read_text(encoding="utf-8")
    seed = project_copy.dbt_project_dir / "seeds" / "zones.csv"
    seed.write_text(seed.read_text(encoding="utf-8") + "\n", encoding="utf-8")

    recorded_dbt.fail = True
    failed = dbt_build(project_copy, mode="auto")
    assert failed.mode == "full" and not failed.ok
    assert full_build_state_path(project_copy).read_text(encoding="utf-8") == good
    assert resolve_mode(project_copy, "auto") == "full"  # still: the seed changed since


def test_selected_and_incremental_builds_do_not_record_a_full_build(
    project_copy: Settings, recorded_dbt: RecordedDbt
) -> None:
    dbt_build(project_copy, select="dim_zone", mode="full")
    dbt_build(project_copy, mode="incremental")
    assert not full_build_state_path(project_copy).exists()
    assert recorded_dbt.calls == [
        ["build", "--select", "dim_zone", "--full-refresh", *WITHOUT_UNIT_TESTS],
        ["build", "--selector", INCREMENTAL_SELECTOR, *WITHOUT_UNIT_TESTS],
    ]


def test_full_builds_run_on_a_copy_and_incremental_builds_in_place(
    project_copy: Settings, recorded_dbt: RecordedDbt
) -> None:
    """A full build writes the shadow copy; an incremental one the live warehouse, with the
    unfinished-build marker beside it while dbt runs, removed when the build passed."""
    dbt_build(project_copy, mode="full")
    incremental = dbt_build(project_copy, mode="auto")
    assert incremental.mode == "incremental" and incremental.ok
    assert recorded_dbt.built == [
        (shadow_path(project_copy), False),
        (project_copy.warehouse_path, True),
    ]
    assert unfinished_build(project_copy) is None
    assert not shadow_path(project_copy).exists()


def test_an_unfinished_incremental_build_means_full_builds_and_no_publication_until_one_passed(
    project_copy: Settings, recorded_dbt: RecordedDbt
) -> None:
    from warehouse.publish import publish

    dbt_build(project_copy, mode="full")
    recorded_dbt.fail = True
    failed = dbt_build(project_copy, mode="auto")
    assert failed.mode == "incremental" and not failed.ok
    marker = unfinished_build(project_copy)
    assert marker is not None and marker["mode"] == "incremental"
    assert resolve_mode(project_copy, "auto") == "full"

    from quality.gate import CheckRecord, GateResult

    # even a passing gate's result does not publish an unfinished build: refused before it is read
    passing = GateResult("gate-1", "2026-01-15T09:00:00+00:00", str(project_copy.warehouse_path))
    passing.results.append(CheckRecord("marts", "c", "d", "row count", "pass", ""))
    assert passing.ok
    refused = publish(project_copy, gate=passing)
    assert not refused.published and refused.gate is None
    assert "unfinished incremental build" in refused.reason
    assert unfinished_build_path(project_copy).name in refused.reason

    # Neither an incremental build that passes nor a full one that fails clears the marker.
    recorded_dbt.fail = False
    assert dbt_build(project_copy, mode="incremental").ok
    recorded_dbt.fail = True
    assert not dbt_build(project_copy, mode="auto").ok
    assert unfinished_build(project_copy) == marker
    # A full build that passes does: everything rebuilt from scratch and tested.
    recorded_dbt.fail = False
    repaired = dbt_build(project_copy, mode="auto")
    assert repaired.mode == "full" and repaired.ok
    assert unfinished_build(project_copy) is None
    assert resolve_mode(project_copy, "auto") == "incremental"
    assert [call[1] for call in recorded_dbt.calls] == [
        "--full-refresh",
        "--selector",
        "--selector",
        "--full-refresh",
        "--full-refresh",
    ]


# One row of each raw table, as the loader writes them (the columns that may not be null).
RAW_ROWS = {
    "file_ledger": (
        "(file_id, file_name, sha256, size_bytes, received_at, status, rows_input, rows_loaded,"
        " rows_rejected)",
        "($1, 'f.csv', 'x', 1, timestamp '2026-01-15 09:00:00', 'loaded', 1, 1, 0)",
    ),
    "submissions": (
        "(file_id, row_ref, department_code, region_code, measure_code, period, value, loaded_at)",
        "($1, 'row 2', 'social_assistance', '330000', 'PP01', '2025', 1.0, timestamp '2026-01-15 09:00:00')",
    ),
    "status_reports": (
        "(file_id, row_ref, department_code, item_code, region_code, period, status, loaded_at)",
        "($1, 'row 2', 'elderly_care', 'EC02', '330000', '2025', 'done', timestamp '2026-01-15 09:00:00')",
    ),
    "quarantine": (
        "(file_id, row_ref, reason_code, reason_zh, reason_en, quarantined_at)",
        "($1, 'row 2', 'bad_value', '值无效', 'bad value', timestamp '2026-01-15 09:00:00')",
    ),
}


def _receive(settings: Settings, file_id: int, *tables: str) -> None:
    """A file arrives: a ledger row, and a row in each of ``tables``."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        for table in ("file_ledger", *tables):
            columns, values = RAW_ROWS[table]
            con.execute(f"insert into raw.{table} {columns} values {values}", [file_id])


def _selectors(recorded: RecordedDbt) -> list[str]:
    called = [DbtResult(["dbt", *call], 0, "", "").selector for call in recorded.calls]
    return [selector for selector in called if selector is not None]


def test_a_build_after_a_file_runs_what_the_raw_tables_it_moved_feed(
    project_copy: Settings, recorded_dbt: RecordedDbt
) -> None:
    """The file-triggered build selects the models downstream of the raw tables that changed since
    the last build that passed: a values file leaves the status-report chain alone and the other
    way round (dbt_project/selectors.yml; tests/dbt/test_selectors.py checks their node sets)."""
    dbt_build(project_copy, mode="full")
    _receive(project_copy, 1, "submissions")
    _receive(project_copy, 2, "submissions", "quarantine")  # a values file with a row refused
    dbt_build(project_copy, mode="auto")
    _receive(project_copy, 3, "status_reports")
    dbt_build(project_copy, mode="auto")
    _receive(project_copy, 4, "quarantine")  # a file refused as a whole
    dbt_build(project_copy, mode="auto")
    _receive(project_copy, 5, "submissions")
    _receive(project_copy, 6, "status_reports")
    dbt_build(project_copy, mode="auto")
    dbt_build(project_copy, mode="auto")  # nothing new
    assert _selectors(recorded_dbt) == [
        "after_values",
        "after_status_reports",
        "after_ledger",
        "after_submission",
        "after_ledger",
    ]


def test_without_a_record_of_what_was_built_every_raw_table_counts_as_moved(
    project_copy: Settings, recorded_dbt: RecordedDbt
) -> None:
    """A warehouse built before the record existed, or a build that failed: the next build selects
    everything a file can change; only a build that passed records the raw tables it read."""
    dbt_build(project_copy, mode="full")
    recorded = json.loads(sources_built_path(project_copy).read_text(encoding="utf-8"))
    assert set(recorded["sources"]) == {"submissions", "status_reports", "quarantine", "file_ledger"}
    sources_built_path(project_copy).unlink()
    _receive(project_copy, 1, "submissions")
    dbt_build(project_copy, mode="incremental")
    assert _selectors(recorded_dbt) == ["after_submission"]

    _receive(project_copy, 2, "status_reports")
    recorded_dbt.fail = True
    dbt_build(project_copy, mode="incremental")  # fails: the record stays as the last good build left it
    recorded_dbt.fail = False
    _receive(project_copy, 3, "quarantine")
    dbt_build(project_copy, mode="incremental")
    assert _selectors(recorded_dbt) == ["after_submission", "after_status_reports", "after_status_reports"]
    dbt_build(project_copy, select="dim_zone", mode="full")  # a selected build records nothing
    _receive(project_copy, 4, "submissions")
    dbt_build(project_copy, mode="incremental")
    assert _selectors(recorded_dbt)[-1] == "after_values"


def test_fingerprint_ignores_dbt_target_and_logs(project_copy: Settings) -> None:
    before = build_fingerprint(project_copy)
    (project_copy.dbt_project_dir / "target").mkdir(exist_ok=True)
    (project_copy.dbt_project_dir / "target" / "run_results.json").write_text("{}", encoding="utf-8")
    assert build_fingerprint(project_copy) == before


def test_unknown_mode_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown build mode"):
        dbt_build(settings, mode="partial")  # type: ignore[arg-type]
