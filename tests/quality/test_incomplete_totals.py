"""Totals that know they are partial (issue #16, point 4): the 13 counties of one city missing.

Hand-made raw rows (tests/quality/conftest.py: 90 counties x CH01A, PP03A, PP01, 2021-2025), with
the 2025 CH01A values of Hangzhou's 13 counties never submitted. The province's 2025 total of
charitable organisations is then a sum over 77 of 90 counties: it must not be judged (no
met / not_met, no target_missed alert), and the gate warns before the deadline of the year's last
reporting period (charity_social_work, annual, 31 days: 2026-01-31) and fails after it, naming the
missing counties.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from quality.gate import run_gate
from scorecard.core.settings import Settings, get_settings
from tests.quality.conftest import counties, write_clean_raw

pytestmark = pytest.mark.slow

CITY = "330100"  # Hangzhou, 13 counties
CONTRACT = ("marts/fct_incomplete_totals",)


@pytest.fixture(scope="module")
def partial_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from warehouse.dbt import run_dbt

    work = tmp_path_factory.mktemp("incomplete-totals")
    home = work / "home"
    with pytest.MonkeyPatch.context() as mp:
        settings = _settings(mp, home, work, "2026-01-15")
        write_clean_raw(settings.warehouse_path)
        missing = [c["region_code"] for c in counties() if c["city_code"] == CITY]
        assert len(missing) == 13
        with duckdb.connect(str(settings.warehouse_path)) as con:
            # The ledger lists the periods a file covers comma-separated (the alerts read them).
            con.execute("update raw.file_ledger set periods = '2021,2022,2023,2024,2025'")
            con.execute(
                "delete from raw.submissions where measure_code = 'CH01A' and period = '2025' "
                "and region_code in (select unnest(?))",
                [missing],
            )
        for args in (
            ["seed"],
            ["run", "--select", "+fct_incomplete_totals", "+fct_alerts", "fct_indicator_progress"],
        ):
            result = run_dbt(args, settings)
            assert result.ok, result.stdout[-3000:] + result.stderr[-2000:]
    yield home


def _settings(mp: pytest.MonkeyPatch, home: Path, work: Path, as_of: str) -> Settings:
    mp.setenv("SCORECARD_HOME", str(home))
    mp.setenv("SCORECARD_AS_OF", as_of)
    mp.setenv("DBT_TARGET_PATH", str(work / "dbt-target"))
    mp.setenv("DBT_LOG_PATH", str(work / "dbt-logs"))
    settings = get_settings()
    settings.ensure_dirs()
    return settings


def test_a_total_missing_13_counties_is_incomplete_and_never_judged(partial_home: Path) -> None:
    with duckdb.connect(str(partial_home / "warehouse.duckdb"), read_only=True) as con:
        province = con.execute(
            "select actual_value, target_value, children_expected, children_reporting, is_complete, "
            "year_status "
            "from marts.fct_indicator_progress where measure_code = 'CH01A' and region_code = '330000' "
            "and year = 2025"
        ).fetchone()
        city = con.execute(
            "select actual_value, year_status from marts.fct_indicator_progress "
            "where measure_code = 'CH01A' and region_code = ? and year = 2025",
            [CITY],
        ).fetchone()
        alerts = con.execute(
            "select count(*) from marts.fct_alerts where alert_kind = 'target_missed' "
            "and measure_code = 'CH01A' and year = 2025 and region_code in ('330000', ?)",
            [CITY],
        ).fetchone()[0]
        complete_2024 = con.execute(
            "select year_status from marts.fct_indicator_progress "
            "where measure_code = 'CH01A' and region_code = '330000' and year = 2024"
        ).fetchone()[0]
    actual, target, expected, reporting, is_complete, status = province
    assert (expected, reporting, is_complete, status) == (90, 77, False, "incomplete")
    assert actual is not None and target == 1200  # a partial sum, never compared with the target
    assert city == (None, "no_target")  # none of its counties reported; a provincial total
    assert alerts == 0
    assert complete_2024 in {"met", "not_met"}


def test_the_gate_warns_before_the_deadline_and_fails_after_it_naming_the_missing_counties(
    partial_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = run_gate(
        _settings(monkeypatch, partial_home, tmp_path, "2026-01-15"), only=CONTRACT, write=False
    )
    assert before.ok, [(r.check, r.outcome, r.diagnostic) for r in before.results]
    assert [r.check for r in before.warnings] == ["no city or province total incomplete before its deadline"]

    after = run_gate(_settings(monkeypatch, partial_home, tmp_path, "2026-02-15"), only=CONTRACT, write=False)
    assert not after.ok
    (failure,) = after.failures
    assert failure.check == "no city or province total incomplete after its deadline"
    named = " ".join(str(sample.get("missing_regions_en")) for sample in failure.samples)
    for county in (c for c in counties() if c["city_code"] == CITY):
        assert county["region_code"] in named and county["name_en"] in named
