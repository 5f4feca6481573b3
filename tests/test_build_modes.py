"""Build modes: a full build records what it was built from; ``auto`` is incremental only when
nothing but the raw data changed since. dbt itself is replaced by a recorder here; the real
incremental build is compared with a full one in tests/dbt."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path

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
        ["build", "--selector", INCREMENTAL_SELECTOR, *WITHOUT_UNIT_TESTS],
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


def test_fingerprint_ignores_dbt_target_and_logs(project_copy: Settings) -> None:
    before = build_fingerprint(project_copy)
    (project_copy.dbt_project_dir / "target").mkdir(exist_ok=True)
    (project_copy.dbt_project_dir / "target" / "run_results.json").write_text("{}", encoding="utf-8")
    assert build_fingerprint(project_copy) == before


def test_unknown_mode_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown build mode"):
        dbt_build(settings, mode="partial")  # type: ignore[arg-type]
