"""End to end: the generated 2021-2025 set (with faults) into a temporary warehouse."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from ingest_test_helpers import query

from ingest.loader import load_paths
from ingest.reference import Reference
from samples.generate import generate
from scorecard.core.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def ingested(settings: Settings, generated_set: Path, copy_into_inbox) -> tuple[Settings, list, dict]:
    copy_into_inbox(generated_set)
    results = load_paths(settings=settings)
    manifest = json.loads((generated_set / "faults_manifest.json").read_text(encoding="utf-8"))
    return settings, results, manifest


def test_generation_is_reproducible(tmp_path: Path, generated_set: Path) -> None:
    settings = Settings(home=tmp_path, as_of=date(2026, 1, 15))
    generate(tmp_path / "again", seed=7, faults=True, settings=settings)
    for path in sorted(generated_set.rglob("*.csv")) + sorted(generated_set.rglob("*.json")):
        assert (tmp_path / "again" / path.relative_to(generated_set)).read_bytes() == path.read_bytes(), path
    generate(tmp_path / "other", seed=8, settings=settings)
    name = "resettlement/2023_resettlement_values.csv"
    assert (tmp_path / "other" / name).read_bytes() != (generated_set / name).read_bytes()


def test_generated_set_mixes_formats_and_periods(generated_set: Path, reference: Reference) -> None:
    suffixes = Counter(path.suffix for path in generated_set.rglob("*") if path.is_file())
    assert {".csv", ".xlsx", ".json"} <= set(suffixes)
    for department, info in reference.departments.items():
        files = list((generated_set / department).glob("*_values.*"))
        expected = 20 if info.reporting_frequency == "quarterly" else 5
        if department == "place_names":
            expected -= 1  # the fault set leaves out its latest period
        assert len(files) == expected, department
    assert (generated_set / "social_assistance" / "2023-Q4_social_assistance_values.csv").exists()


def test_generated_set_loads_with_every_fault_in_quarantine(ingested) -> None:
    settings, results, manifest = ingested
    by_path = {result.path.relative_to(settings.inbox).as_posix(): result for result in results}
    assert all(result.status != "failed" for result in results), [r.message for r in results]

    # Accounting identity per file, against the tables themselves.
    for file_id, rows_input, loaded, rejected in query(
        settings, "SELECT file_id, rows_input, rows_loaded, rows_rejected FROM raw.file_ledger"
    ):
        assert loaded + rejected == rows_input
        counted = query(
            settings,
            "SELECT (SELECT count(*) FROM raw.submissions WHERE file_id = $f)"
            " + (SELECT count(*) FROM raw.status_reports WHERE file_id = $f),"
            " (SELECT count(*) FROM raw.quarantine WHERE file_id = $f)",
            {"f": file_id},
        )
        assert counted == [(loaded, rejected)]

    faulty = {entry["file"] for entry in manifest["faults"]}
    # Every clean file loads completely.
    for path, result in by_path.items():
        if path not in faulty:
            assert (result.status, result.rows_rejected) in {("loaded", 0), ("superseded", 0)}, (
                path,
                result.issues,
            )

    # Each fault gets its status and exactly the expected reasons on the expected rows.
    for entry in manifest["faults"]:
        result = by_path[entry["file"]]
        assert result.status == entry["expected_status"], entry["fault"]
        quarantined = query(
            settings, "SELECT row_ref, reason_code FROM raw.quarantine WHERE file_id = ?", [result.file_id]
        )
        expected = [(reject["row_ref"], reject["reason_code"]) for reject in entry["expected_rejects"]]
        assert sorted(quarantined) == sorted(expected), entry["fault"]
        if entry["expected_status"] != "duplicate":
            assert result.rows_input == entry["rows"]
            expected_loaded = 0 if result.status == "rejected" else entry["rows"] - len(expected)
            assert result.rows_loaded == expected_loaded
        if "file_reason_code" in entry:
            assert result.issues[0].reason_code == entry["file_reason_code"]

    # The correction supersedes the original file; the history keeps both values.
    correction = next(e for e in manifest["faults"] if e["fault"] == "corrected_resubmission")
    original = by_path[correction["supersedes"]]
    assert query(settings, "SELECT status FROM raw.file_ledger WHERE file_id = ?", [original.file_id]) == [
        ("superseded",)
    ]
    key = correction["corrected"]
    history = query(
        settings,
        f"SELECT file_id, {'value' if key['field'] == 'value' else 'numerator'} FROM raw.submissions "
        "WHERE region_code = ? AND measure_code = ? AND period = ? ORDER BY file_id",
        [key["region_code"], key["measure_code"], key["period"]],
    )
    assert [value for _, value in history] == [key["old"], key["new"]]

    # The missing submission is missing.
    for missing in manifest["missing_submissions"]:
        assert not query(
            settings,
            "SELECT 1 FROM raw.submissions WHERE department_code = ? AND period LIKE ?",
            [missing["department"], missing["period"] + "%"],
        )

    # Generated values sit in their canonical units and ranges: rates within 0-100, and the
    # monthly 低保 standards (元/月, under 1,200) were converted to yuan per year.
    assert query(
        settings,
        "SELECT count(*) FROM raw.submissions s JOIN (VALUES ('PP03A'), ('WS03')) m(code) "
        "ON s.measure_code = m.code WHERE value < 0 OR value > 100",
    ) == [(0,)]
    assert query(settings, "SELECT min(value) FROM raw.submissions WHERE measure_code = 'PP01'")[0][0] > 5000


def test_reingesting_adds_nothing(ingested, generated_set: Path, copy_into_inbox) -> None:
    settings, _, _ = ingested
    before = query(
        settings, "SELECT (SELECT count(*) FROM raw.submissions), (SELECT count(*) FROM raw.quarantine)"
    )
    copy_into_inbox(generated_set)
    again = load_paths(settings=settings)
    statuses = Counter(result.status for result in again)
    # Files refused earlier are tried again (and refused again); everything else is a duplicate.
    assert statuses == Counter({"duplicate": len(again) - 2, "rejected": 2})
    rows = query(
        settings, "SELECT (SELECT count(*) FROM raw.submissions), (SELECT count(*) FROM raw.quarantine)"
    )
    assert rows[0][0] == before[0][0]
