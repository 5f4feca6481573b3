"""``scorecard run`` on generated data (build -> check -> publish -> alert, then further runs).

These are the issue's acceptance tests; they need the whole project (generator, loader, models).
They start from the session's sample build (tests/conftest.py: the default generated set, loaded
by the real loader and fully built by dbt), so the pipeline's own run here builds incrementally;
the run from an empty data directory (ingest and a full build inside ``run_pipeline``) is
tests/api/test_api_end_to_end.py's, through Airflow tests/airflow/test_dag_chain.py's.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from scorecard.core.settings import REPO_ROOT, Settings, get_settings
from warehouse.publish import sha256_of, snapshot_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def generated_run(sample_build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's sample build run through the pipeline once, in a copy of its data directory:
    no new file, an incremental build, the gate, publication, rendering and alerts (its home)."""
    from scorecard.pipeline import run_pipeline

    assert sample_build.build_ok, sample_build.build_output[-3000:]
    work = tmp_path_factory.mktemp("quality-e2e")
    home = sample_build.copy_home(work / "home")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SCORECARD_ALERT_WEBHOOK_URL", raising=False)
        settings = sample_build.environment(mp, home, work)
        result = run_pipeline([], settings)
        assert result.ok, [(s.name, s.summary) for s in result.steps] + [
            (r.dataset, r.check, r.diagnostic) for r in (result.gate.failures if result.gate else [])
        ]
        assert result.published
    return home


@pytest.fixture
def e2e_settings(generated_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    home = tmp_path / "home"
    shutil.copytree(generated_run, home, symlinks=True)
    monkeypatch.setenv("SCORECARD_HOME", str(home))
    monkeypatch.setenv("SCORECARD_AS_OF", "2026-01-15")
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt-logs"))
    return get_settings()


def test_clean_generated_data_is_published(e2e_settings: Settings) -> None:
    snapshot = snapshot_path(e2e_settings)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        marts = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        ]
        assert {"fct_indicator_progress", "fct_alerts", "fct_value_anomalies"} <= set(marts)
        for mart in marts:
            con.execute(f'select count(*) from marts."{mart}"').fetchone()
    for mart in marts:
        assert (e2e_settings.publish / "parquet" / f"{mart}.parquet").exists()
    # what people read is published beside the snapshot, rendered from the same release
    current = (e2e_settings.publish / "current").resolve()
    for name in ("report.html", "scorecards.xlsx"):
        published = e2e_settings.publish / name
        assert published.is_file() and published.resolve() == current / name
    assert "精准保障指数" in (e2e_settings.publish / "report.html").read_text(encoding="utf-8")


def test_reader_reads_every_mart_while_another_run_is_in_progress(e2e_settings: Settings) -> None:
    """A whole ``scorecard run`` (no new file: build, gate, publication, rendering, alerts) while a
    reader opens the published snapshot again and again and reads every mart."""
    snapshot = snapshot_path(e2e_settings)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        (before,) = con.execute("select run_id from meta.publication").fetchone()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scorecard.cli", "run"],
        cwd=REPO_ROOT,
        env=e2e_settings.subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    reads = 0
    try:
        while proc.poll() is None:
            with duckdb.connect(str(snapshot), read_only=True) as con:
                for (mart,) in con.execute(
                    "select table_name from information_schema.tables where table_schema = 'marts'"
                ).fetchall():
                    con.execute(f'select * from marts."{mart}" limit 1').fetchall()
            reads += 1
            time.sleep(0.05)  # a 2-core machine: leave the run some CPU
    finally:
        out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out.decode()[-3000:]
    assert reads > 0
    with duckdb.connect(str(snapshot), read_only=True) as con:  # the run published meanwhile
        assert con.execute("select run_id from meta.publication").fetchone()[0] != before


def _inject(target: Path) -> None:
    """Extra files after the clean set: a 10x jump of a count (CH01A, 16 -> 160), a rate falling to
    0 after years near 90 (CH03), a county far from its peers (PP01, about 3x the county median;
    social_assistance reports quarterly, so 2025-Q4)."""
    header = ["region_code", "measure_code", "period", "value"]
    files = {
        "charity_social_work": [["330102", "CH01A", "2025", "160"], ["330105", "CH03", "2025", "0"]],
        "social_assistance": [["330106", "PP01", "2025-Q4", "40000"]],
    }
    for department, rows in files.items():
        folder = target / department
        folder.mkdir(parents=True)
        with (folder / "zz_corrections.csv").open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])


def test_injected_anomalies_block_publication(e2e_settings: Settings, tmp_path: Path) -> None:
    from scorecard.pipeline import run_pipeline

    snapshot = snapshot_path(e2e_settings)
    before = (sha256_of(snapshot), snapshot.stat().st_mtime_ns)
    injected = tmp_path / "injected"
    _inject(injected)
    result = run_pipeline([injected], e2e_settings)
    assert not result.ok and result.gate is not None and not result.gate.ok
    assert not result.published
    severe = {
        (a.measure_code, a.region_code, a.period) for a in result.gate.anomalies if a.severity == "severe"
    }
    assert {
        ("CH01A", "330102", "2025"),
        ("CH03", "330105", "2025"),
        ("PP01", "330106", "2025-Q4"),
    } <= severe
    assert (sha256_of(snapshot), snapshot.stat().st_mtime_ns) == before
    with duckdb.connect(str(snapshot), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_indicator_progress").fetchone()[0] > 0


def test_a_tenfold_annual_value_beside_quarterly_ones_fails_the_gate(
    e2e_settings: Settings, tmp_path: Path
) -> None:
    """elderly_care reports quarterly; a 2025 annual value ten times the county's year value is the
    value that would be published (an annual value wins over Q4): the screen of the published year
    values catches it, the gate fails and the snapshot stays as it was."""
    from scorecard.pipeline import run_pipeline

    snapshot = snapshot_path(e2e_settings)
    before = (sha256_of(snapshot), snapshot.stat().st_mtime_ns)
    with duckdb.connect(str(snapshot), read_only=True) as con:
        clean, source = con.execute(
            "select actual_value, source_period from marts.fct_indicator_progress "
            "where measure_code = 'EC05' and region_code = '330102' and year = 2025"
        ).fetchone()
    assert source == "2025-Q4" and clean >= 1
    folder = tmp_path / "tenfold" / "elderly_care"
    folder.mkdir(parents=True)
    with (folder / "zz_annual.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [["region_code", "measure_code", "period", "value"], ["330102", "EC05", "2025", str(clean * 10)]]
        )
    result = run_pipeline([tmp_path / "tenfold"], e2e_settings)
    assert result.gate is not None and not result.gate.ok
    assert not result.published
    severe = {
        (a.measure_code, a.region_code, a.period) for a in result.gate.anomalies if a.severity == "severe"
    }
    assert ("EC05", "330102", "2025") in severe
    assert (sha256_of(snapshot), snapshot.stat().st_mtime_ns) == before


def test_the_demo_prints_the_alert_count_by_kind_and_level(e2e_settings: Settings) -> None:
    from scorecard.demo import summarise

    text = summarise(e2e_settings, {"run_id": "test"}, "http://127.0.0.1:8080", {})
    with duckdb.connect(str(snapshot_path(e2e_settings)), read_only=True) as con:
        total = con.execute("select count(*) from marts.fct_alerts").fetchone()[0]
        split = con.execute(
            "select a.alert_kind, coalesce(r.region_level, 'department'), count(*) "
            "from marts.fct_alerts as a "
            "left join marts.dim_region as r using (region_code) group by 1, 2"
        ).fetchall()
    assert total > 0 and f"预警 ({total})" in text
    for kind, level, n in split:
        assert f"{kind}/{level} {n}" in text
