"""Report forms as clerks keep them (issue #20): merged two-row headers, 单位 lines, total rows and
footers. Totals and footers are skipped lines, never records; a total that disagrees with its
details is a warning; personal data in a footer is dropped, never stored, and no reason to refuse."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import duckdb
import pytest
from form_samples import CITY_ROWS, FOOTER_MOBILE, FOOTER_NAME, city_elderly_care_form
from ingest_test_helpers import query, write_inbox_file

from ingest import cli
from ingest.layout import extract_grid, load_registry
from ingest.loader import load_file
from ingest.readers import Grid, read_xlsx_grid
from scorecard.core.settings import Settings


def _warning_codes(result) -> list[str]:
    return [warning.reason_code for warning in result.warnings]


def test_city_form_with_merged_header_total_and_footer_loads_the_right_values(settings: Settings) -> None:
    path = write_inbox_file(settings, "elderly_care", "杭州市养老服务季报.xlsx", city_elderly_care_form())
    result = load_file(path, settings=settings)

    assert (result.status, result.layout) == ("loaded", "wide")
    # Three districts x three measures; the 合计 row and the two footer lines are skipped lines.
    assert (result.rows_input, result.rows_loaded, result.rows_rejected, result.lines_skipped) == (9, 9, 0, 3)
    assert _warning_codes(result) == ["LINES_SKIPPED", "FOOTER_PERSONAL_DATA_DROPPED"]
    loaded = query(
        settings,
        "SELECT region_code, measure_code, period, value, numerator, denominator FROM raw.submissions"
        " ORDER BY region_code, measure_code",
    )
    expected = []
    for code, _, nurses, elderly, nursing_beds, beds, consortia in CITY_ROWS:
        expected += [
            (code, "EC01A", "2024-Q3", nurses / elderly * 10_000, float(nurses), float(elderly)),
            (code, "EC03A", "2024-Q3", float(consortia), None, None),
            (code, "EC04A", "2024-Q3", nursing_beds / beds * 100, float(nursing_beds), float(beds)),
        ]
    assert loaded == expected
    ledger = query(
        settings, "SELECT rows_input, rows_loaded, rows_rejected, lines_skipped, message FROM raw.file_ledger"
    )
    assert ledger[0][:4] == (9, 9, 0, 3)
    assert "3 lines skipped" in ledger[0][4] and "row 8 合计" in ledger[0][4]
    assert "footer" in ledger[0][4] and "dropped" in ledger[0][4]


def test_city_form_naming_its_districts_without_codes_loads_the_same_values(settings: Settings) -> None:
    path = write_inbox_file(settings, "elderly_care", "hz.xlsx", city_elderly_care_form(codes=False))
    result = load_file(path, settings=settings)

    assert (result.status, result.rows_loaded, result.rows_rejected, result.lines_skipped) == (
        "loaded",
        9,
        0,
        3,
    )
    loaded = query(
        settings,
        "SELECT region_code, measure_code, numerator FROM raw.submissions WHERE measure_code = 'EC01A'",
    )
    assert sorted(loaded) == [(code, "EC01A", float(nurses)) for code, _, nurses, *_ in CITY_ROWS]


def test_total_that_disagrees_warns_and_loads_the_details(settings: Settings) -> None:
    wrong = sum(row[2] for row in CITY_ROWS) + 100
    path = write_inbox_file(settings, "elderly_care", "hz.xlsx", city_elderly_care_form(total_nurses=wrong))
    result = load_file(path, settings=settings)

    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 9, 0)
    mismatches = [warning for warning in result.warnings if warning.reason_code == "TOTAL_MISMATCH"]
    assert [(w.row_ref, w.field) for w in mismatches] == [("养老服务!C8:D8", "numerator")]
    assert f"gives {wrong}" in mismatches[0].reason_en and "add up to 1300" in mismatches[0].reason_en
    assert "合计行不入库，明细照常入库" in mismatches[0].reason_zh
    # The total is no record: no region got the total's figures.
    assert query(
        settings, "SELECT count(*), max(numerator) FROM raw.submissions WHERE measure_code = 'EC01A'"
    ) == [(3, 500.0)]
    assert "the total row '合计' gives" in query(settings, "SELECT message FROM raw.file_ledger")[0][0]


def test_totals_that_agree_and_subtotals_check_their_own_rows(settings: Settings, tmp_path: Path) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["2024年第3季度养老服务统计报表"])
    sheet.append(["行政区划代码", "地区", "康养联合体数（个）", "智慧养老院数（家）"])
    sheet.append(["330102", "上城区", 3, 1])
    sheet.append(["330105", "拱墅区", 2, 1])
    sheet.append([None, "小  计", 5, 2])
    sheet.append(["330106", "西湖区", 4, 2])
    sheet.append([None, "小计", 4, 3])  # wrong: 西湖区 alone has 2 smart homes
    sheet.append(["全市合计", None, 9, 4])
    path = tmp_path / "subtotals.xlsx"
    workbook.save(path)
    result = load_file(path, department="elderly_care", settings=settings)

    assert (result.rows_loaded, result.lines_skipped) == (6, 3)
    mismatches = [
        (w.row_ref, w.params["label"]) for w in result.warnings if w.reason_code == "TOTAL_MISMATCH"
    ]
    assert mismatches == [("Sheet!D7", "小计")]


def test_footer_mobile_number_is_nowhere_in_warehouse_quarantine_logs_or_errors_json(
    settings: Settings, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # One district's consortia count is negative: a row is refused, so an .errors.json is written.
    data = city_elderly_care_form()
    import io

    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(data))
    workbook.active["G6"] = -2
    buffer = io.BytesIO()
    workbook.save(buffer)
    write_inbox_file(settings, "elderly_care", "hz.xlsx", buffer.getvalue())

    caplog.set_level(logging.DEBUG)
    code = cli.run(argparse.Namespace(paths=[], department=None))
    printed = capsys.readouterr()
    assert code == 1  # the refused row
    [errors_json] = list(settings.archive.rglob("*.errors.json"))
    errors = json.loads(errors_json.read_text(encoding="utf-8"))
    assert [e["reason_code"] for e in errors] == ["NEGATIVE_VALUE"]
    assert query(settings, "SELECT status, lines_skipped FROM raw.file_ledger") == [
        ("loaded_with_rejects", 3)
    ]
    assert query(settings, "SELECT count(*) FROM raw.quarantine") == [(1,)]

    secrets = [FOOTER_MOBILE, "138-1234-5678", "138 1234 5678", FOOTER_NAME, "王建国"]
    texts = {"stdout": printed.out, "stderr": printed.err, "logs": caplog.text}
    texts["errors.json"] = errors_json.read_text(encoding="utf-8")
    # Every text value of every table of the warehouse (the quarantine's raw records included).
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns"
            " WHERE data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            values = con.execute(f'SELECT "{column}" FROM "{schema}"."{table}"').fetchall()
            texts[f"{schema}.{table}.{column}"] = "\n".join(str(value) for (value,) in values)
    # Every file the data directory holds, the archived original aside (the clerk's own file).
    original = settings.archive / "elderly_care" / "1__hz.xlsx"
    assert original.exists()
    for path in settings.home.rglob("*"):
        if path.is_file() and path != original:
            texts[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    assert any(path.endswith(".duckdb") for path in texts)
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, (secret, where)
    assert "footer" in printed.out  # the report says the footer was dropped


def test_personal_data_inside_the_table_still_refuses(settings: Settings) -> None:
    data = city_elderly_care_form(note_in_table=f"联系人手机 {FOOTER_MOBILE}")
    result = load_file(write_inbox_file(settings, "elderly_care", "hz.xlsx", data), settings=settings)

    assert result.status == "rejected"
    assert result.issues[0].reason_code == "FILE_CONTAINS_PERSONAL_DATA"
    assert "养老服务!H5" in result.issues[0].reason_en
    assert FOOTER_MOBILE not in json.dumps([i.to_json() for i in result.issues], ensure_ascii=False)


def test_footer_without_personal_data_is_skipped_quietly(settings: Settings) -> None:
    headers = ["行政区划代码", "指标代码", "统计期", "数值"]
    lines = [
        ",".join(headers),
        "330102,EC05,2023,3",
        "330105,EC05,2023,2",
        "合计,,,5",
        "注：智慧养老院按省级认定口径",
    ]
    path = write_inbox_file(settings, "elderly_care", "long.csv", ("\n".join(lines) + "\n").encode("utf-8"))
    result = load_file(path, settings=settings)

    assert (result.status, result.rows_input, result.rows_loaded, result.lines_skipped) == ("loaded", 2, 2, 2)
    assert _warning_codes(result) == ["LINES_SKIPPED"]
    assert query(settings, "SELECT region_code, value FROM raw.submissions ORDER BY 1") == [
        ("330102", 3.0),
        ("330105", 2.0),
    ]


def test_long_total_rows_are_checked_per_measure_and_period(settings: Settings) -> None:
    lines = [
        "行政区划代码,行政区划名称,指标代码,统计期,数值",
        "330102,上城区,EC05,2023,3",
        "330105,拱墅区,EC05,2023,2",
        "330102,上城区,EC03A,2023,1",
        "330105,拱墅区,EC03A,2023,1",
        ",合计,EC05,2023,5",
        ",合计,EC03A,2023,3",
    ]
    path = write_inbox_file(settings, "elderly_care", "long.csv", ("\n".join(lines) + "\n").encode("utf-8"))
    result = load_file(path, settings=settings)

    assert (result.rows_loaded, result.lines_skipped) == (4, 2)
    assert [
        (w.row_ref, w.params["measure"][:5]) for w in result.warnings if w.reason_code == "TOTAL_MISMATCH"
    ] == [("row 7", "EC03A")]


def test_merged_header_is_flattened_so_a_registry_can_name_parent_or_child() -> None:
    registry = load_registry("elderly_care")
    grid = read_xlsx_grid(city_elderly_care_form())
    extraction = extract_grid(grid, registry)

    assert extraction.layout == "wide" and extraction.header_row == 4
    assert extraction.header_cells[:4] == [
        "行政区划代码",
        "地区",
        "养老护理员/持证养老护理员数（人）",
        "养老护理员/60岁及以上老年人口数（人）",
    ]
    # The parent names a measure over its sub-header "本期"; "行政区划" over "代码" / "名称" names
    # the fields joined.
    grid = Grid(
        rows=[
            (1, ["行政区划", None, "智慧养老院数（家）", "康复辅具适配服务平台数（个）"]),
            (2, ["代码", "名称", "本期", None]),
            (3, ["330102", "上城区", 2, 1]),
        ]
    )
    extraction = extract_grid(grid, registry)
    assert extraction.layout == "wide"
    assert extraction.columns == {"region_code": 0, "region_name": 1}
    assert [record.measure_code for record in extraction.records] == ["EC05", "EC06"]


def test_unit_line_above_a_long_table_applies_to_its_values(settings: Settings) -> None:
    lines = [
        "2023年慈善信托统计表",
        "单位：万元",
        "行政区划代码,指标代码,统计期,数值,单位",
        "330102,CH02A,2023,5000,",
        "330105,CH02A,2023,0.3,亿元",
    ]
    path = write_inbox_file(
        settings, "charity_social_work", "trust.csv", ("\n".join(lines) + "\n").encode("utf-8")
    )
    result = load_file(path, settings=settings)

    assert (result.status, result.rows_loaded) == ("loaded", 2)
    # 5000 万元 = 0.5 亿元; a row naming its own unit keeps it.
    assert query(settings, "SELECT region_code, value, unit_submitted FROM raw.submissions ORDER BY 1") == [
        ("330102", 0.5, "万元"),
        ("330105", 0.3, "亿元"),
    ]


def test_unit_line_that_cannot_convert_is_refused_clearly(settings: Settings) -> None:
    lines = ["单位：张", "行政区划代码,指标代码,统计期,数值", "330102,CH02A,2023,5000"]
    path = write_inbox_file(
        settings, "charity_social_work", "trust.csv", ("\n".join(lines) + "\n").encode("utf-8")
    )
    result = load_file(path, settings=settings)

    assert result.status == "rejected"
    assert [(i.reason_code, i.field) for i in result.issues[1:]] == [("UNIT_UNCONVERTIBLE", "unit")]
    assert "张" in result.issues[1].reason_zh
