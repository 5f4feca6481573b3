"""The anomaly screen on the generated sample (issue #16, point 7).

Clean generated data raises next to nothing (the false-positive rate is printed and bounded), and
real slips in the published year values are severe: x10 (an annual value beside quarterly ones),
x100, 万 vs 个, ‰ vs %, a fraction typed for a percentage.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime

import duckdb
import pytest

from scorecard.core.settings import get_settings

pytestmark = pytest.mark.slow

# At most this share of the clean year values may be flagged at all (moderate), none severe.
MAX_CLEAN_FLAGGED_SHARE = 0.001


def test_clean_generated_data_raises_next_to_nothing(built_warehouse):
    assert built_warehouse.build_ok, built_warehouse.build_stdout[-4000:]
    with duckdb.connect(str(built_warehouse.settings.warehouse_path), read_only=True) as con:
        counts = dict(
            con.execute("select severity, count(*) from marts.fct_value_anomalies group by all").fetchall()
        )
        published = con.execute(
            "select count(*) from intermediate.int_measure_values_annualised where value is not null"
        ).fetchone()[0]
    screened = sum(counts.values())
    flagged = counts.get("moderate", 0) + counts.get("severe", 0)
    share = flagged / screened
    print(f"clean generated data: {flagged} of {screened} year values flagged ({share:.4%}), {counts}")
    assert screened == published  # every published year value is screened, once
    assert counts.get("severe", 0) == 0
    assert flagged <= MAX_CLEAN_FLAGGED_SHARE * screened


# (measure, region, period, how the slipped value is made from the clean one, what it stands for)
SLIPS = [
    ("EC05", "330102", "2025", lambda v: v * 10, "x10: an annual value beside the quarterly ones"),
    ("CH01A", "330105", "2025", lambda v: v * 100, "x100"),
    ("WS08", "330212", "2025", lambda v: v / 10000, "万 vs 个: the count typed in 万"),
    # ‰ for %: a rate above 100 is refused at the door (measure_value_ranges), one below it is not
    ("WS02", "330109", "2021", lambda v: v * 10, "‰ vs %: the rate typed in per mille"),
    ("PP06", "330108", "2025", lambda v: v / 100, "a fraction typed for a percentage"),
]


@pytest.fixture(scope="module")
def slipped(built_warehouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """A copy of the built warehouse with a later file carrying one slip each, screened again."""
    from warehouse.dbt import run_dbt

    assert built_warehouse.build_ok, built_warehouse.build_stdout[-4000:]
    work = tmp_path_factory.mktemp("slips")
    home = work / "home"
    home.mkdir()
    shutil.copy(built_warehouse.settings.warehouse_path, home / "warehouse.duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCORECARD_HOME", str(home))
        mp.setenv("SCORECARD_AS_OF", "2026-01-15")
        mp.setenv("DBT_TARGET_PATH", str(work / "dbt-target"))
        mp.setenv("DBT_LOG_PATH", str(work / "dbt-logs"))
        settings = get_settings()
        settings.ensure_dirs()
        with duckdb.connect(str(settings.warehouse_path)) as con:
            file_id = con.execute("select max(file_id) + 1 from raw.file_ledger").fetchone()[0]
            con.execute(
                "insert into raw.file_ledger (file_id, file_name, department_code, sha256, size_bytes, "
                "file_format, layout, received_at, status, rows_input, rows_loaded, rows_rejected, "
                "periods) values "
                "(?, 'slips.csv', 'elderly_care', ?, 100, 'csv', 'long', ?, 'loaded', 5, 5, 0, '2021,2025')",
                [file_id, f"{file_id:064x}", datetime(2026, 1, 12, 9)],
            )
            for n, (measure, region, period, slip, _) in enumerate(SLIPS):
                clean = con.execute(
                    "select value from intermediate.int_measure_values_annualised "
                    "where measure_code = ? and region_code = ? and year = ?",
                    [measure, region, int(period[:4])],
                ).fetchone()[0]
                con.execute(
                    "insert into raw.submissions (file_id, row_ref, department_code, region_code, "
                    "measure_code, period, value, loaded_at) select ?, ?, department_code, ?, ?, ?, ?, ? "
                    "from reference.measures where measure_code = ?",
                    [
                        file_id,
                        f"s{n}",
                        region,
                        measure,
                        period,
                        slip(clean),
                        datetime(2026, 1, 12, 9),
                        measure,
                    ],
                )
        result = run_dbt(["run", "--select", "+fct_value_anomalies", "--full-refresh"], settings)
        assert result.ok, result.stdout[-3000:] + result.stderr[-2000:]
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            yield con


@pytest.mark.parametrize(("measure", "region", "period", "what"), [(m, r, p, w) for m, r, p, _, w in SLIPS])
def test_each_unit_slip_is_severe(slipped, measure, region, period, what):
    row = slipped.execute(
        "select severity, period, reason_en from marts.fct_value_anomalies "
        "where measure_code = ? and region_code = ? and left(period, 4) = ?",
        [measure, region, period[:4]],
    ).fetchone()
    assert row is not None, what
    severity, screened_period, reason = row
    assert (severity, screened_period) == ("severe", period), (what, reason)
    assert reason


def test_only_the_slips_are_severe(slipped):
    severe = {
        (m, r)
        for m, r in slipped.execute(
            "select measure_code, region_code from marts.fct_value_anomalies where severity = 'severe'"
        ).fetchall()
    }
    assert severe == {(m, r) for m, r, _, _, _ in SLIPS}
