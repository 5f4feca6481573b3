"""Issue #20: periods as clerks write them, in every layout (long CSV, wide form, XLSX, JSON).

Each file is loaded for real (``load_file`` into a fresh warehouse), so the columnar CSV path, the
general path and the wide form's title all meet the same spellings; a day or a span that is no
quarter is refused by row, with the reason, and nothing is lost.
"""

from __future__ import annotations

import json
from datetime import datetime

from ingest_test_helpers import query, rows_csv, write_inbox_file, xlsx_bytes

from ingest import fastpath
from ingest.loader import load_file
from scorecard.core.settings import Settings

HEADER = ["行政区划代码", "指标代码", "统计期", "数值"]
# Spelling -> the canonical period it must load as (PP03A: a county rate of social assistance).
SPELLINGS = {
    "2023年": "2023",
    "2023年度": "2023",
    "2023年第二季度": "2023-Q2",
    "2023年三季度": "2023-Q3",
    "2024年第三季度": "2024-Q3",
    "2023年1-6月": "2023-Q2",
    "2022年上半年": "2022-Q2",
    "2023年6月": "2023-06",
    "2023.07": "2023-07",
    "2023/8": "2023-08",
}
REFUSED = {
    "2023-6-30": "PERIOD_AMBIGUOUS",
    "2023年1-5月": "PERIOD_AMBIGUOUS",
    "2023年第五季度": "PERIOD_INVALID",
}
COUNTIES = ["330102", "330105", "330106", "330108", "330109", "330110", "330111", "330112", "330113"]
COUNTIES += ["330114", "330122", "330127", "330182"]


def _long_rows() -> tuple[list[list[object]], dict[str, str], dict[str, str]]:
    """One row per spelling (each on its own county, so no key repeats) and per refused one."""
    rows: list[list[object]] = [HEADER]
    loaded, refused = {}, {}
    counties = iter(COUNTIES)
    for spelling, period in SPELLINGS.items():
        county = next(counties)
        rows.append([county, "PP03A", spelling, "90"])
        loaded[county] = period
    for spelling, code in REFUSED.items():
        county = next(counties)
        rows.append([county, "PP03A", spelling, "90"])
        refused[county] = code
    return rows, loaded, refused


def _check(settings: Settings, result: object, loaded: dict[str, str], refused: dict[str, str]) -> None:
    stored = dict(query(settings, "SELECT region_code, period FROM raw.submissions"))
    assert stored == loaded
    assert {issue.reason_code for issue in result.issues} == set(refused.values())  # type: ignore[attr-defined]
    quarantined = query(settings, "SELECT field, reason_code FROM raw.quarantine ORDER BY reason_code")
    assert sorted(quarantined) == sorted(("period", code) for code in refused.values())
    assert result.rows_loaded + result.rows_rejected == result.rows_input  # type: ignore[attr-defined]
    assert result.rows_input == len(loaded) + len(refused)  # type: ignore[attr-defined]


def test_long_csv_periods_read_column_wise(settings: Settings) -> None:
    rows, loaded, refused = _long_rows()
    fastpath.last_stats = fastpath.FastPathStats()
    result = load_file(
        write_inbox_file(settings, "social_assistance", "periods.csv", rows_csv(rows)), settings=settings
    )
    assert fastpath.last_stats.columnar and fastpath.last_stats.plain == len(loaded)
    _check(settings, result, loaded, refused)


def test_long_xlsx_periods_including_date_and_number_cells(settings: Settings) -> None:
    rows, loaded, refused = _long_rows()
    # Cells Excel typed for the clerk: a true date cell (its month) and 2023.06 stored as a number.
    rows.append(["330127", "PP03A", datetime(2023, 9, 30), 90])
    rows.append(["330182", "PP03A", 2023.06, 90])
    loaded |= {"330127": "2023-09", "330182": "2023-06"}
    result = load_file(
        write_inbox_file(settings, "social_assistance", "periods.xlsx", xlsx_bytes(rows)), settings=settings
    )
    _check(settings, result, loaded, refused)


def test_json_periods(settings: Settings) -> None:
    rows, loaded, refused = _long_rows()
    records = [
        dict(zip(["region_code", "measure_code", "period", "value"], row, strict=True)) for row in rows[1:]
    ]
    data = json.dumps({"department": "social_assistance", "records": records}, ensure_ascii=False).encode()
    result = load_file(
        write_inbox_file(settings, "social_assistance", "periods.json", data), settings=settings
    )
    _check(settings, result, loaded, refused)


def test_wide_form_period_column_and_title(settings: Settings) -> None:
    header = ["行政区划代码", "行政区划名称", "统计期", "康养联合体数（个）"]
    rows: list[list[object]] = [header]
    loaded, refused = {}, {}
    counties = iter(COUNTIES)
    for spelling, period in SPELLINGS.items():
        county = next(counties)
        rows.append([county, "", spelling, 3])
        loaded[county] = period
    for spelling, code in REFUSED.items():
        county = next(counties)
        rows.append([county, "", spelling, 3])
        refused[county] = code
    result = load_file(
        write_inbox_file(settings, "elderly_care", "form.xlsx", xlsx_bytes(rows, "报表")), settings=settings
    )
    assert result.layout == "wide"
    _check(settings, result, loaded, refused)


def test_wide_form_period_in_a_chinese_title(settings: Settings) -> None:
    """ "2023年二季度" in the title used to read as the year 2023 (the title parser knew only 第N季度)."""
    rows = [["2023年二季度养老服务统计报表"], ["行政区划代码", "康养联合体数（个）"], ["330102", 3]]
    result = load_file(
        write_inbox_file(settings, "elderly_care", "title.xlsx", xlsx_bytes(rows, "报表")), settings=settings
    )
    assert (result.layout, result.rows_loaded) == ("wide", 1)
    assert query(settings, "SELECT period FROM raw.submissions") == [("2023-Q2",)]
