"""dbt's unit tests test the models' SQL, not the data: the pipeline's builds leave them out
(``--exclude-resource-type unit_test``, as dbt's docs advise for production), and the test suite
runs every one of them here, against a copy of the session's sample build (a unit test reads its
inputs' column types from the built relations)."""

from __future__ import annotations

import json
import shutil

import pytest

from warehouse.dbt import read_run_results, run_dbt

pytestmark = pytest.mark.slow


def _run_results(path) -> list[dict]:
    return list(json.loads(path.read_text(encoding="utf-8"))["results"])


def test_the_pipeline_build_runs_no_unit_tests(built_warehouse):
    results = _run_results(built_warehouse.tmp / "dbt-target" / "run_results.json")
    assert results, "the sample build recorded no nodes"
    assert [r["unique_id"] for r in results if r["unique_id"].startswith("unit_test.")] == []


def test_every_unit_test_passes_against_the_sample_build(
    built_warehouse, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """All unit tests of the project run (none silently deselected) and pass."""
    assert built_warehouse.build_ok, built_warehouse.build_stdout[-4000:]
    manifest = json.loads((built_warehouse.tmp / "dbt-target" / "manifest.json").read_text(encoding="utf-8"))
    defined = set(manifest["unit_tests"])
    assert len(defined) >= 13
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built_warehouse.settings.warehouse_path, warehouse)
    # this run's target/ and logs/ are its own: the sample build's run_results.json stays as it was
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt-logs"))
    result = run_dbt(["test", "--select", "test_type:unit"], built_warehouse.settings, warehouse=warehouse)
    _, failures = read_run_results(tmp_path / "dbt-target" / "run_results.json")
    assert result.ok, "\n".join(failures) or (result.stdout + result.stderr)[-4000:]
    # besides the unit tests, the project's on-run-start operation runs (and succeeds)
    outcomes = {
        r["unique_id"]: r["status"]
        for r in _run_results(tmp_path / "dbt-target" / "run_results.json")
        if r["unique_id"].startswith("unit_test.")
    }
    assert outcomes == dict.fromkeys(defined, "pass")
