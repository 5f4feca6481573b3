"""The publication workbook: expected sheets, headers and formats, values equal to the marts,
and no formula injection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils.escape import unescape

from reports.formatting import ALERT_KIND, LEVEL, SEVERITY, TRAJECTORY_STATUS, YEAR_STATUS
from reports.queries import connect_snapshot
from reports.workbook import (
    ABOUT_SHEET,
    ALERT_COLUMNS,
    ALERTS_SHEET,
    FMT_COUNT,
    FMT_PERCENT,
    FMT_SCORE,
    FMT_VALUE,
    INDEX_COLUMNS,
    PROGRESS_COLUMNS,
    Column,
    SheetWriter,
    cell_value,
    escape_text,
    new_workbook,
    percent,
    write_workbook,
)
from tests.report.conftest import HOSTILE, Publication

ROW_FORMATS = {FMT_COUNT, *("0." + "0" * d + "%" for d in range(2, 7))}


def _zones(snapshot: Path) -> list[tuple[str, str, str, str]]:
    con = connect_snapshot(snapshot)
    try:
        return con.execute(
            "select zone_code, name_zh, index_name_zh, index_fact_table from marts.dim_zone order by zone_no"
        ).fetchall()
    finally:
        con.close()


def _rows(snapshot: Path, sql: str) -> list[dict[str, Any]]:
    con = connect_snapshot(snapshot)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    finally:
        con.close()


def _sheet_rows(sheet: Any) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    rows = list(sheet.iter_rows(values_only=True))
    return list(rows[0]), list(rows[1]), rows[2:]


def _latest_years(snapshot: Path) -> tuple[int, int]:
    """The latest year whose targets were judged, and the latest year with an index."""
    con = connect_snapshot(snapshot)
    try:
        (year,) = con.execute(
            "select max(year) from marts.fct_indicator_progress where year_status in ('met', 'not_met')"
        ).fetchone()
        (index_year,) = con.execute(
            "select max(year) from marts.fct_index_precise_protection where index_score is not null"
        ).fetchone()
    finally:
        con.close()
    return int(year), int(index_year)


def _label(vocabulary: dict[str, tuple[str, str]], code: str | None) -> str | None:
    return None if code is None else " ".join(vocabulary.get(code, (code, code.replace("_", " "))))


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == pytest.approx(b, rel=1e-12, abs=1e-9)


def test_escape_text_prefixes_formula_triggers() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert escape_text(text) == "'" + text
    for text in ("浙江省", "PP01", "1-2", "a=b", "", "'quoted"):
        assert escape_text(text) == text
    assert cell_value(float("nan")) is None
    assert cell_value(2.5) == 2.5


def test_workbook_has_the_expected_sheets(publication: Publication, loaded_workbook: Workbook) -> None:
    zones = _zones(publication.snapshot)
    assert len(zones) == 5
    year, index_year = _latest_years(publication.snapshot)
    # printed first: the latest year of every zone, its index and the alerts; then the history
    expected = [ABOUT_SHEET]
    for code, name_zh, index_name_zh, _table in zones:
        expected += [f"{name_zh} {code} {year}", f"{index_name_zh} {code} {index_year}"]
    expected.append(f"{ALERTS_SHEET} {year}")
    for code, name_zh, index_name_zh, _table in zones:
        expected += [f"{name_zh} {code}", f"{index_name_zh} {code}"]
    expected.append(ALERTS_SHEET)
    book = loaded_workbook
    assert book.sheetnames == expected
    assert "精准保障 PP" in book.sheetnames and "预警 Alerts" in book.sheetnames
    for name in expected[1:]:
        sheet = book[name]
        assert sheet.freeze_panes == "A3", name  # two header rows stay in view
        assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A2:"), name
        assert sheet.column_dimensions["A"].width and sheet.column_dimensions["A"].width > 5
    about = [v for row in book[ABOUT_SHEET].iter_rows(values_only=True) for v in row if v]
    assert publication.manifest["run_id"] in about


def _in_history(level: str | None, year: int | None, latest: int) -> bool:
    """Whether a row is on a history sheet: the province, the cities (and no region) every year,
    the counties from the latest judged year on; the rest is in the Parquet files only."""
    return level in (None, "province", "city") or (year is not None and year >= latest)


def test_zone_sheets_equal_indicator_progress(publication: Publication, loaded_workbook: Workbook) -> None:
    book = loaded_workbook
    year, _index_year = _latest_years(publication.snapshot)
    every = _rows(publication.snapshot, "select * from marts.fct_indicator_progress")
    facts = [f for f in every if _in_history(f["region_level"], f["year"], year)]
    # what the sheets leave out is the counties' earlier years, and there are some to leave out
    # (the other rows: ``f not in facts`` compared each row with every fact, one list scan a row)
    left_out = [f for f in every if not _in_history(f["region_level"], f["year"], year)]
    assert left_out and {(f["region_level"], f["year"] < year) for f in left_out} == {("county", True)}
    assert {f["region_level"] for f in facts} == {"province", "city", "county"}
    names = {r["region_code"]: r for r in _rows(publication.snapshot, "select * from marts.dim_region")}
    measures = {r["measure_code"]: r for r in _rows(publication.snapshot, "select * from marts.dim_measure")}
    assert facts
    for code, name_zh, _index_name, _table in _zones(publication.snapshot):
        zh, en, rows = _sheet_rows(book[f"{name_zh} {code}"])
        assert zh == [c.zh for c in PROGRESS_COLUMNS] and en == [c.en for c in PROGRESS_COLUMNS]
        col = {c.key: i for i, c in enumerate(PROGRESS_COLUMNS)}
        mart = {(f["measure_code"], f["region_code"], f["year"]): f for f in facts if f["zone_code"] == code}
        sheet = {(r[col["measure_code"]], r[col["region_code"]], r[col["year"]]): r for r in rows}
        assert len(rows) == len(mart) == len(sheet) > 0, code
        assert sheet.keys() == mart.keys()
        for key, f in mart.items():
            r = sheet[key]
            assert _close(r[col["actual_value"]], f["actual_value"]), key
            assert _close(r[col["target_value"]], f["target_value"]), key
            expected_pct = None if f["attainment_pct"] is None else f["attainment_pct"] / 100
            assert _close(r[col["attainment_pct"]], expected_pct), key
            assert _close(r[col["final_target_value"]], f["final_target_value"]), key
            assert r[col["year_status"]] == _label(YEAR_STATUS, f["year_status"]), key
            assert r[col["trajectory_status"]] == _label(TRAJECTORY_STATUS, f["trajectory_status"]), key
            assert r[col["region_level"]] == _label(LEVEL, f["region_level"]), key
            assert r[col["region_name_zh"]] == names[f["region_code"]]["name_zh"]
            assert r[col["measure_name_zh"]] == measures[f["measure_code"]]["name_zh"]


def test_index_sheets_equal_index_marts(publication: Publication, loaded_workbook: Workbook) -> None:
    book = loaded_workbook
    for code, _name, index_name_zh, table in _zones(publication.snapshot):
        zh, en, rows = _sheet_rows(book[f"{index_name_zh} {code}"])
        mart_rows = _rows(publication.snapshot, f'select * from marts."{table}"')
        dimension_cols = [c for c in mart_rows[0] if c.endswith("_score") and c != "index_score"]
        assert len(zh) == len(INDEX_COLUMNS) + len(dimension_cols)
        # dimension headers carry the dimension's names (matched to the mart's values)
        assert all(h.endswith("得分") for h in zh[len(INDEX_COLUMNS) :]), zh
        assert all(h.endswith(" score") for h in en[len(INDEX_COLUMNS) :]), en
        col = {c.key: i for i, c in enumerate(INDEX_COLUMNS)}
        col.update({c: len(INDEX_COLUMNS) + i for i, c in enumerate(dimension_cols)})
        sheet = {(r[col["region_code"]], r[col["year"]]): r for r in rows}
        mart = {(m["region_code"], m["year"]): m for m in mart_rows}
        # the two dimensions that moved each index most (fct_index_score_changes), in order
        movers: dict[tuple[str, int], list[tuple[str, float]]] = {}
        for t in _rows(
            publication.snapshot,
            "select region_code, year, dimension_name_zh, contribution from marts.fct_index_score_changes "
            f"where zone_code = '{code}' and mover_rank <= 2 and contribution <> 0 "
            "order by region_code, year, mover_rank",
        ):
            movers.setdefault((t["region_code"], t["year"]), []).append(
                (t["dimension_name_zh"], t["contribution"])
            )
        assert len(rows) == len(sheet) == len(mart) and sheet.keys() == mart.keys(), code
        for key, m in mart.items():
            r = sheet[key]
            assert _close(r[col["index_score"]], m["index_score"]), (code, key)
            assert r[col["rank_in_level"]] == m["rank_in_level"], (code, key)
            for c in ("rank_median", "rank_p05", "rank_p95"):
                assert r[col[c]] == m[c], (code, key, c)
            expected = "；".join(f"{name} {points:+.1f}" for name, points in movers.get(key, [])) or None
            assert r[col["top_movers"]] == expected, (code, key)
            assert _close(
                r[col["coverage_pct"]], None if m["coverage_pct"] is None else m["coverage_pct"] / 100
            )
            for c in dimension_cols:
                assert _close(r[col[c]], m[c]), (code, key, c)


def test_alerts_sheet_equals_fct_alerts(publication: Publication, loaded_workbook: Workbook) -> None:
    book = loaded_workbook
    zh, _en, rows = _sheet_rows(book[ALERTS_SHEET])
    year, _index_year = _latest_years(publication.snapshot)
    every = _rows(
        publication.snapshot,
        "select a.*, r.region_level from marts.fct_alerts as a "
        "left join marts.dim_region as r on a.region_code = r.region_code",
    )
    assert every, "the generated data should raise alerts"
    alerts = {a["alert_id"]: a for a in every if _in_history(a["region_level"], a["year"], year)}
    assert {a["region_level"] for a in alerts.values()} >= {"province", "city", "county"}
    assert len(alerts) < len(every)  # earlier county alerts: in the Parquet files only
    i_id, i_zh, i_en = zh.index("预警编号"), zh.index("预警内容"), zh.index("预警内容（英文）")
    i_sev, i_kind = zh.index("级别"), zh.index("类型")
    sheet = {r[i_id]: r for r in rows}
    assert len(rows) == len(alerts) and sheet.keys() == alerts.keys()
    for alert_id, a in alerts.items():
        r = sheet[alert_id]
        assert r[i_zh] == a["message_zh"] and r[i_en] == a["message_en"]
        assert r[i_sev] == _label(SEVERITY, a["severity"])
        assert r[i_kind] == _label(ALERT_KIND, a["alert_kind"])
    # most serious first
    severities = [r[i_sev] for r in rows]
    assert severities == sorted(severities, key=lambda s: {"高 high": 0, "中 medium": 1}.get(s, 2))


def test_number_formats(loaded_workbook: Workbook) -> None:
    book = loaded_workbook
    sheet = book["精准保障 PP"]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=3) if r[header.index("完成率")].value is not None)
    assert row[header.index("实际值")].number_format in {FMT_VALUE, FMT_COUNT}
    assert row[header.index("目标值")].number_format in {FMT_VALUE, FMT_COUNT}
    assert row[header.index("完成率")].number_format.startswith("0.0") and row[
        header.index("完成率")
    ].number_format.endswith("%")
    index_sheet = book["精准保障指数 PP"]
    index_header = [c.value for c in index_sheet[1]]
    assert index_sheet.cell(3, index_header.index("指数") + 1).number_format == FMT_SCORE
    assert index_sheet.cell(3, index_header.index("数据覆盖率") + 1).number_format == FMT_PERCENT
    assert sheet["A1"].font.bold


def test_formula_injection_is_escaped(hostile_snapshot: Path, tmp_path: Path) -> None:
    out = write_workbook(hostile_snapshot, tmp_path / "hostile.xlsx")
    book = load_workbook(out)
    texts: list[str] = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r")), (
                        sheet.title,
                        cell.value,
                    )
    # XML stores a carriage return as a line feed when read back; the apostrophe is what matters
    texts = [t.replace("\r", "\n") for t in texts]
    for _table, _key, _value, _column, text in HOSTILE:
        assert "'" + text.replace("\r", "\n") in texts, text
    assert "'-2+3+cmd|' /C calc'!A0" in texts
    assert "'@SUM(A1:A9)" in texts


def test_snapshot_is_left_unchanged(publication: Publication, tmp_path: Path) -> None:
    """The workbook reads the snapshot and never writes to it."""
    import hashlib

    before = hashlib.sha256(publication.snapshot.read_bytes()).hexdigest()
    assert write_workbook(publication.snapshot, tmp_path / "again.xlsx").exists()
    assert hashlib.sha256(publication.snapshot.read_bytes()).hexdigest() == before


def test_header_rows_are_styled_on_every_sheet(loaded_workbook: Workbook) -> None:
    """Both header rows carry their style in every column (Chinese bold on blue, English italic
    grey), and the About sheet's title is large and bold."""
    book = loaded_workbook
    for sheet in book.worksheets[1:]:
        zh, en = list(sheet.iter_rows(min_row=1, max_row=2))
        assert len(zh) == len(en) == sheet.max_column, sheet.title
        for cell in zh:
            assert isinstance(cell.value, str) and cell.value, (sheet.title, cell.coordinate)
            assert cell.font.b and not cell.font.i, (sheet.title, cell.coordinate)
            assert cell.fill.fill_type == "solid" and cell.fill.fgColor.rgb.endswith("DCE6F1")
            assert cell.alignment.vertical == "center"
        for cell in en:
            assert isinstance(cell.value, str) and cell.value, (sheet.title, cell.coordinate)
            assert cell.font.i and not cell.font.b, (sheet.title, cell.coordinate)
            assert cell.font.color.rgb.endswith("555555")
            assert cell.fill.fill_type == "solid" and cell.fill.fgColor.rgb.endswith("EEF3F8")
    about = book[ABOUT_SHEET]
    assert about["A1"].font.b and about["A1"].font.sz == 14
    assert [c.width for c in (about.column_dimensions[x] for x in "ABC")] == sorted(
        c.width for c in (about.column_dimensions[x] for x in "ABC")
    )


def test_columns_keep_their_types_and_number_formats(
    publication: Publication, loaded_workbook: Workbook
) -> None:
    """Every value of a number column is a number with the column's format (or empty); every
    value of a text column is text, never a number or a formula."""
    book = loaded_workbook
    zones = _zones(publication.snapshot)
    for code, name_zh, index_name_zh, _table in zones:
        for name, columns in (
            (f"{name_zh} {code}", PROGRESS_COLUMNS),
            (f"{index_name_zh} {code}", INDEX_COLUMNS),
        ):
            _check_column_types(book[name], columns)
    _check_column_types(book[ALERTS_SHEET], ALERT_COLUMNS)


def _check_column_types(sheet: Any, columns: Sequence[Column]) -> None:
    numbers = 0
    for row in sheet.iter_rows(min_row=3, max_col=len(columns)):
        for cell, column in zip(row, columns, strict=True):
            if cell.value is None:
                continue
            where = (sheet.title, cell.coordinate, cell.value)
            if column.number_format:
                assert cell.data_type == "n" and isinstance(cell.value, (int, float)), where
                # the column's format, or a row's own: a count without decimals, a percentage
                # with the decimals that keep it on its verdict's side of 100 %
                assert cell.number_format == column.number_format or (
                    column.row_format is not None and cell.number_format in ROW_FORMATS
                ), where
                numbers += 1
            else:
                assert cell.data_type == "s" and isinstance(cell.value, str), where
    assert numbers, sheet.title


def test_sheet_writer_writes_values_as_their_types(tmp_path: Path) -> None:
    """The cell writer on its own: text stays text (formula-like text escaped, no link, no number
    made of digits), numbers keep the column's format, NaN and infinities stay empty, booleans,
    decimals and dates keep their types."""
    columns = [
        Column("文本", "Text", "text"),
        Column("数值", "Value", "value", number_format=FMT_VALUE),
        Column("比例", "Share", "share", number_format=FMT_PERCENT, convert=percent),
    ]
    rows: list[dict[str, Any]] = [
        {"text": "=1+1", "value": 1.5, "share": 12.5},
        {"text": "+1", "value": 7, "share": None},
        {"text": "-1", "value": float("nan"), "share": float("inf")},
        {"text": "@SUM(A1)", "value": Decimal("2.25"), "share": 0},
        {"text": "http://evil.example/x", "value": True, "share": 100},
        {"text": "1.5", "value": date(2026, 1, 15), "share": 50.0},
        {"text": "  空格 ", "value": None, "share": None},
        {"text": "铃\x07声", "value": -3, "share": None},
        {"text": "\r\n行一\r行二", "value": None, "share": None},
        {"text": "_x0041_", "value": None, "share": None},
    ]
    path = tmp_path / "cells.xlsx"
    workbook = new_workbook(path)
    writer = SheetWriter(workbook, "测试 [T]", columns)
    writer.extend(rows)
    writer.finish()
    workbook.close()

    book = load_workbook(path)
    assert book.sheetnames == ["测试 T"]
    sheet = book["测试 T"]
    assert sheet.freeze_panes == "A3" and sheet.auto_filter.ref == f"A2:C{2 + len(rows)}"
    assert [c.value for c in sheet[1]] == ["文本", "数值", "比例"]
    assert [c.value for c in sheet[2]] == ["Text", "Value", "Share"]
    cells = list(sheet.iter_rows(min_row=3))
    assert [r[0].value for r in cells] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@SUM(A1)",
        "http://evil.example/x",
        "1.5",
        "  空格 ",
        "铃_x0007_声",  # OOXML's escape of a control character (Excel shows the character)
        "'\n行一\n行二",  # carriage returns as line feeds, as the XML parser reads them
        "_x005F_x0041_",  # a literal escape-like text, itself escaped
    ]
    assert unescape(cells[7][0].value) == "铃\x07声" and unescape(cells[9][0].value) == "_x0041_"
    assert all(r[0].data_type == "s" and r[0].hyperlink is None for r in cells)
    values = [(r[1].value, r[1].number_format) for r in cells]
    assert values[0] == (1.5, FMT_VALUE) and values[1] == (7, FMT_VALUE) and values[3] == (2.25, FMT_VALUE)
    assert values[2][0] is None and values[6][0] is None and values[7] == (-3, FMT_VALUE)
    assert values[4][0] is True and cells[4][1].data_type == "b"
    assert cells[5][1].is_date and cells[5][1].value.date() == date(2026, 1, 15)
    shares = [(r[2].value, r[2].number_format) for r in cells]
    assert shares[0] == (pytest.approx(0.125), FMT_PERCENT) and shares[3] == (0, FMT_PERCENT)
    assert shares[1][0] is None and shares[2][0] is None and shares[4] == (1, FMT_PERCENT)


def _sheet_parts(path: Path) -> dict[str, bytes]:
    """The workbook's worksheets and styles, as written (the rest holds times of writing)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return {
            name: archive.read(name)
            for name in archive.namelist()
            if name.startswith("xl/worksheets/") or name == "xl/styles.xml"
        }


TRICKY_ROWS: list[dict[str, Any]] = [
    {"text": "=1+1", "value": 1.5, "share": 12.5, "code": "met"},
    {"text": "+1", "value": 7, "share": None, "code": "not_met"},
    {"text": "-1", "value": float("nan"), "share": float("inf"), "code": None},
    {"text": "@SUM(A1)", "value": Decimal("2.25"), "share": 0, "code": "met"},
    {"text": "http://evil.example/x", "value": True, "share": 100, "code": "unknown_code"},
    {"text": "1.5", "value": date(2026, 1, 15), "share": 50.0, "code": "met"},
    {"text": "  空格 ", "value": None, "share": None, "code": "met"},
    {"text": "铃\x07声", "value": -3, "share": 99.96, "code": "not_met"},
    {"text": "\r\n行一\r行二", "value": None, "share": 99.9999999, "code": "not_met"},
    {"text": "_x0041_ & <b> \"q\" 'a'", "value": 10**17, "share": 1e-300, "code": "met"},
    {"text": "<r>rich</r>", "value": 2.0, "share": None, "code": "met"},
    {"text": "\t缩进", "value": -0.0, "share": 1 / 3, "code": "met"},
    {"text": "尾\n", "value": 123456789.123456789, "share": None, "code": "met"},
    {"text": "\ufffe\uffff", "value": None, "share": None, "code": None},
    {"text": "长" * 20_000, "value": 1, "share": None, "code": "met"},
    {"text": None, "value": None, "share": None, "code": None},  # an empty row
    {"text": "中文 English", "value": 0, "share": 100.0, "code": "met"},
]


def test_rows_are_written_as_the_xml_xlsxwriter_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SheetWriter.append`` writes a row's XML itself (XlsxWriter's per-cell calls were most of
    the national workbook's time): byte for byte what ``append_via_xlsxwriter`` (XlsxWriter cell by
    cell) writes, for every kind of value, escape and number format, and rows that fall back."""
    columns = [
        Column("文本", "Text", "text"),
        Column("数值", "Value", "value", number_format=FMT_VALUE,
               row_format=lambda r: FMT_COUNT if r["value"] == 7 else None),
        Column("比例", "Share", "share", number_format=FMT_PERCENT, convert=percent,
               row_format=lambda r: "0.00%" if r["code"] == "not_met" else None),
        Column("状态", "Status", "code", convert=lambda c: None if c is None else _label(YEAR_STATUS, c)),
    ]  # fmt: skip

    def write(path: Path) -> Path:
        workbook = new_workbook(path)
        for name in ("一", "二"):
            writer = SheetWriter(workbook, name, columns)
            writer.extend(TRICKY_ROWS * 2)
            writer.finish("footer")
        workbook.close()
        return path

    fast = _sheet_parts(write(tmp_path / "fast.xlsx"))
    monkeypatch.setattr(SheetWriter, "append", SheetWriter.append_via_xlsxwriter)
    reference = _sheet_parts(write(tmp_path / "reference.xlsx"))
    assert fast.keys() == reference.keys() and len(fast) == 3
    for name, data in reference.items():
        assert fast[name] == data, name


def test_the_workbook_is_the_xml_xlsxwriter_writes(
    hostile_snapshot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole workbook of a publication (with hostile names and messages): every sheet as
    XlsxWriter writes it cell by cell."""
    fast = _sheet_parts(write_workbook(hostile_snapshot, tmp_path / "fast.xlsx"))
    monkeypatch.setattr(SheetWriter, "append", SheetWriter.append_via_xlsxwriter)
    reference = _sheet_parts(write_workbook(hostile_snapshot, tmp_path / "reference.xlsx"))
    assert fast.keys() == reference.keys() and len(fast) > 20
    for name, data in reference.items():
        assert fast[name] == data, name
