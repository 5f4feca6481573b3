"""Fixtures for the quality gate, publication and alert tests.

A session-scoped warehouse is built once from hand-made raw rows (90 counties x three measures of
different kinds x 2021-2025, with a little noise), through the real dbt project restricted to the
anomaly model and what it depends on, plus a small ``marts.fct_alerts``. Tests that mutate get a
copy of it in their own SCORECARD_HOME. The fixtures themselves (``built_home``, ``home_settings``)
are in tests/conftest.py, so the quality and alerts suites share one build per session.
``injected_settings`` is a copy of it published clean, then with the three anomalies injected and
the anomaly model rebuilt (once per session, not once per test that needs it).
"""

from __future__ import annotations

import csv
import random
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from scorecard.core.raw_layer import ensure_raw_schema
from scorecard.core.settings import REPO_ROOT, Settings, get_settings

SEEDS = REPO_ROOT / "dbt_project" / "seeds"
#: The contracts the hand-made warehouse can satisfy (it has no progress / index marts).
GATE_ONLY = (
    "raw/file_ledger",
    "raw/submissions",
    "raw/quarantine",
    "raw/status_reports",
    "marts/fct_value_anomalies",
    "marts/fct_alerts",
)
LOADED_AT = datetime(2026, 1, 10, 9, 0)
#: The injected anomalies: (measure, region, period) -> how the value is made.
INJECTED = {
    ("CH01A", "330102", "2025"): "10x jump of a count",
    ("PP03A", "330105", "2025"): "a rate falling to 0 after years near 90",
    ("PP01", "330106", "2025"): "a county far from its peers",
}


def counties() -> list[dict[str, str]]:
    with (SEEDS / "regions.csv").open(encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle) if r["region_level"] == "county"]


def population() -> dict[str, int]:
    with (SEEDS / "region_population.csv").open(encoding="utf-8") as handle:
        return {r["region_code"]: int(r["resident_population"]) for r in csv.DictReader(handle)}


def _ledger(con: duckdb.DuckDBPyConnection, file_id: int, name: str, department: str, rows: int) -> None:
    con.execute(
        "insert into raw.file_ledger values "
        "(?, ?, ?, ?, 100, 'csv', 'long', ?, 'loaded', ?, ?, 0, ?, null, null, null, null, null, 0)",
        [file_id, name, department, f"{file_id:064x}", LOADED_AT, rows, rows, "2021|2025"],
    )


def write_clean_raw(warehouse: Path) -> None:
    """Clean values: a rate near 80-95 rising, a count proportional to population, a yuan standard."""
    rng = random.Random(20260115)
    pop = population()
    rows = []
    for county in counties():
        code = county["region_code"]
        rate = rng.uniform(82, 92)
        count = pop[code] / 10000 * rng.uniform(0.85, 1.15)
        standard = rng.uniform(10000, 11000)
        for i, year in enumerate(range(2021, 2026)):
            rows.append(
                ("social_assistance", code, "PP03A", str(year), min(100.0, rate + i + rng.uniform(-1, 1)))
            )
            rows.append(("social_assistance", code, "PP01", str(year), round(standard + 700 * i)))
            rows.append(
                ("charity_social_work", code, "CH01A", str(year), float(round(count * (1 + 0.07 * i))))
            )
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_schema(con)
        _ledger(con, 1, "clean.csv", "social_assistance", len(rows))
        con.executemany(
            "insert into raw.submissions values (1, ?, ?, ?, ?, ?, ?, null, null, null, null, null, ?)",
            [(f"r{n}", d, rc, m, p, v, LOADED_AT) for n, (d, rc, m, p, v) in enumerate(rows)],
        )


def inject_anomalies(warehouse: Path) -> None:
    """A later file that replaces three 2025 values (the latest version wins in staging)."""
    with duckdb.connect(str(warehouse)) as con:
        _ledger(con, 2, "corrections.csv", "social_assistance", 3)
        count = con.execute(
            "select value from raw.submissions where measure_code = 'CH01A' and region_code = '330102' "
            "and period = '2025'"
        ).fetchone()[0]
        values = {
            ("CH01A", "330102", "2025"): count * 10,
            ("PP03A", "330105", "2025"): 0.0,
            ("PP01", "330106", "2025"): 40000.0,
        }
        con.executemany(
            "insert into raw.submissions values "
            "(2, ?, 'social_assistance', ?, ?, ?, ?, null, null, null, null, null, ?)",
            [(f"x{n}", r, m, p, values[(m, r, p)], LOADED_AT) for n, (m, r, p) in enumerate(INJECTED)],
        )


def add_alerts_mart(warehouse: Path, missed: int = 3) -> None:
    """A stand-in ``marts.fct_alerts`` with missed-target alerts and one late submission."""
    rows = [
        (
            f"target_missed|PP01|{c['region_code']}|2025",
            "target_missed",
            "high",
            "PP01",
            c["region_code"],
            "2025",
            f"{c['name_zh']} 最低生活保障标准未达 2025 年目标",
            f"{c['name_en']} missed the 2025 target for PP01",
        )
        for c in counties()[:missed]
    ]
    rows.append(
        (
            "late|elderly_care|2025-Q4",
            "late_submission",
            "medium",
            None,
            None,
            "2025-Q4",
            "养老服务处 2025-Q4 未按期报送",
            "elderly_care has not submitted 2025-Q4",
        )
    )
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create or replace table marts.fct_alerts (alert_id varchar, alert_kind varchar, "
            "severity varchar, measure_code varchar, region_code varchar, period varchar, "
            "message_zh varchar, message_en varchar)"
        )
        con.executemany("insert into marts.fct_alerts values (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def build_anomalies(settings: Settings, *, seeds: bool = False) -> None:
    """Seeds, then the anomaly model and its parents (the rest of the project is not needed here)."""
    from warehouse.dbt import run_dbt

    steps = [["seed"]] if seeds else []
    for args in [*steps, ["run", "--select", "+fct_value_anomalies"]]:
        result = run_dbt(args, settings)
        assert result.ok, result.stdout[-3000:] + result.stderr[-2000:]


def _set_env(mp: pytest.MonkeyPatch, home: Path, work: Path) -> Settings:
    mp.setenv("SCORECARD_HOME", str(home))
    mp.setenv("SCORECARD_AS_OF", "2026-01-15")
    mp.setenv("DBT_TARGET_PATH", str(work / "dbt-target"))
    mp.setenv("DBT_LOG_PATH", str(work / "dbt-logs"))
    mp.delenv("SCORECARD_ALERT_WEBHOOK_URL", raising=False)
    mp.delenv("SCORECARD_SMTP_HOST", raising=False)
    settings = get_settings()
    settings.ensure_dirs()
    return settings


@pytest.fixture(scope="session")
def injected_home(built_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``built_home`` published (its gate passed), then a later file with the three anomalies
    (``inject_anomalies``) and the anomaly model rebuilt: the warehouse the gate must now refuse,
    beside the clean snapshot still published. Built once per session; tests take a copy."""
    from quality.gate import run_gate
    from warehouse.publish import publish

    work = tmp_path_factory.mktemp("quality-injected")
    home = work / "home"
    shutil.copytree(built_home, home, symlinks=True)
    with pytest.MonkeyPatch.context() as mp:
        settings = _set_env(mp, home, work)
        gate = run_gate(settings, only=GATE_ONLY)
        assert gate.ok, [(r.dataset, r.check, r.outcome) for r in gate.failures]
        assert publish(settings, gate=gate).published
        inject_anomalies(settings.warehouse_path)
        build_anomalies(settings)
    return home


@pytest.fixture
def injected_settings(injected_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of ``injected_home``, with the environment pointing at it."""
    home = tmp_path / "home"
    shutil.copytree(injected_home, home, symlinks=True)
    return _set_env(monkeypatch, home, tmp_path)
