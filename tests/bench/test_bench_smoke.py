"""Smoke run of the cheapest benchmarks at a tiny size: the scale generator and the ingest
comparison (loader, bare DuckDB, pandas when installed, the CLI, the profile).

Benchmarks are never timed assertions: these tests check that the code runs and that the result
JSON is well-formed with positive figures, nothing about how fast anything is.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench import report, scale
from bench.measure import machine
from bench.run import Sizes, bench_ingest, write_result

TINY = Sizes("smoke", "province", 1, 1, ("province",), 0)


def test_scales_have_the_documented_sizes() -> None:
    assert scale.leaf_count(scale.SCALES["province"].regions()) == 90
    assert scale.leaf_count(scale.SCALES["township"].regions()) == 1364
    national = scale.SCALES["national"].regions()
    assert 2800 <= scale.leaf_count(national) <= 2900
    assert len({row["region_code"] for row in national}) == len(national)
    assert sum(1 for row in national if row["region_level"] == "province") == 31
    parents = {row["region_code"] for row in national}
    assert all(row["parent_code"] in parents for row in national if row["region_level"] != "province")


def test_bench_project_and_long_files(tmp_path: Path) -> None:
    project = scale.write_bench_project(scale.SCALES["township"], tmp_path / "dbt_project")
    with (project / "seeds" / "regions.csv").open(encoding="utf-8") as handle:
        regions = list(csv.DictReader(handle))
    assert sum(1 for row in regions if len(row["region_code"]) == 9) == 1364
    with (project / "seeds" / "region_population.csv").open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(regions)
    # every seed that refers to a region names one of the scale's regions (dbt's relationships
    # tests on region_aliases and target_allocations failed the township build otherwise)
    codes = {row["region_code"] for row in regions}
    for seed in ("region_aliases.csv", "target_allocations.csv"):
        with (project / "seeds" / seed).open(encoding="utf-8") as handle:
            assert {row["region_code"] for row in csv.DictReader(handle)} <= codes, seed
    files = scale.write_long_files(
        project, tmp_path / "files", scale.monthly_periods(2), departments=["resettlement"]
    )
    assert files.files and files.rows > 0 and files.bytes > 0
    assert scale.monthly_periods(60)[0] == "2021-01" and scale.monthly_periods(60)[-1] == "2025-12"
    header = files.files[0].read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("region_code,measure_code,period,value,numerator,denominator")


@pytest.mark.slow
def test_ingest_benchmark_smoke(tmp_path: Path, scorecard_home: Path) -> None:
    figures = bench_ingest(TINY, tmp_path / "work")
    path = write_result("ingest", TINY, figures, machine(), 1.0, results_dir=tmp_path / "results")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["machine"]["cores"] >= 1
    assert len(document["machine"]["load_average_at_start"]) == 3
    result = document["figures"]
    assert result["file"]["rows"] > 0
    for peer in ("loader", "duckdb", "cli"):
        run = result[peer]
        assert run is not None, peer
        assert run["returncode"] == 0
        assert run["rows"] == result["file"]["rows"]
        assert run["rows_per_s"] > 0 and run["mb_per_s"] > 0 and run["peak_mib"] > 0
    assert result["loader_vs_duckdb"] > 0
    assert result["profile"]["by_cumulative_time"]
    pandas = result["pandas"]
    assert pandas is not None and ("skipped" in pandas or pandas["rows_per_s"] > 0)
    # the report renders from such a result
    text = "\n".join(report.render_ingest(document))
    assert "bare DuckDB" in text
