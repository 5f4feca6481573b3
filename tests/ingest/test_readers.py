"""Readers: encodings, delimiters, title rows, sheets, safety limits, JSON shapes, headers."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest

from ingest.errors import FileRejected
from ingest.layout import extract_grid, extract_json, load_registry, match_header, period_from_title
from ingest.readers import (
    check_xlsx_archive,
    decode_text,
    read_csv_grids,
    read_json_document,
    read_xlsx_grid,
)

TEXT = "行政区划代码,指标代码,统计期,数值\n330102,PP01,2023,12000\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (TEXT.encode("utf-8-sig"), "utf-8-sig"),
        (TEXT.encode("gb18030"), "gb18030"),
        (TEXT.encode("gbk"), "gb18030"),
        (TEXT.encode("utf-16"), "utf-16"),
    ],
)
def test_encodings_are_detected(data: bytes, encoding: str) -> None:
    text, detected = decode_text(data)
    assert detected == encoding
    assert text.lstrip("\ufeff") == TEXT


def test_undecodable_bytes_are_refused() -> None:
    with pytest.raises(FileRejected) as error:
        decode_text(b"\x81\x00\xff\xfe\x00binary")
    assert error.value.code == "FILE_ENCODING_UNKNOWN"


def best(grids, registry=None):
    return max(
        (extract_grid(grid, registry) for grid in grids), key=lambda e: (e.header_found, len(e.columns))
    )


def test_tab_delimited_with_title_row() -> None:
    data = ("2023年 社会救助数据\n" + TEXT.replace(",", "\t")).encode("utf-8")
    extraction = best(read_csv_grids(data))
    assert extraction.layout == "long"
    assert extraction.title_text == "2023年 社会救助数据"
    assert extraction.records[0].values == {
        "region_code": "330102",
        "measure_code": "PP01",
        "period": "2023",
        "value": "12000",
    }
    assert extraction.records[0].ref == "row 3"


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_title_rows_and_cell_refs() -> None:
    data = xlsx(
        {
            "Sheet1": [
                ["2023年报表"],
                [],
                ["行政区划代码 region_code", "指标代码", "统计期", "数值"],
                [330102, "PP01", 2023, 12000],
            ]
        }
    )
    extraction = extract_grid(read_xlsx_grid(data), None)
    assert extraction.layout == "long"
    assert extraction.records[0].ref == "Sheet1!A4:D4"
    assert extraction.records[0].values["region_code"] == 330102


def test_xlsx_prefers_the_data_sheet() -> None:
    data = xlsx(
        {
            "说明": [["填报说明"]],
            "数据": [["行政区划代码", "指标代码", "统计期", "数值"], ["330102", "PP01", "2023", 1]],
        }
    )
    grid = read_xlsx_grid(data)
    assert grid.sheet == "数据"
    assert extract_grid(grid, None).layout == "long"


def test_xlsx_formulas_are_not_evaluated() -> None:
    data = xlsx(
        {"数据": [["行政区划代码", "指标代码", "统计期", "数值"], ["330102", "PP01", "2023", "=1+1"]]}
    )
    extraction = extract_grid(read_xlsx_grid(data), None)
    # openpyxl saved no cached result; the formula is not run: its text marks the cell, so that
    # the row is refused as FORMULA_NOT_COMPUTED rather than as a blank value.
    assert extraction.records[0].values["value"] == "=1+1"


def test_xlsx_unpacked_size_limit() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/big.xml", b"0" * 2_000_000)
    with pytest.raises(FileRejected) as error:
        check_xlsx_archive(buffer.getvalue(), max_unpacked_bytes=1_000_000)
    assert error.value.code == "XLSX_TOO_LARGE_UNPACKED"


def test_xlsx_that_is_not_a_zip() -> None:
    with pytest.raises(FileRejected) as error:
        read_xlsx_grid(b"not a workbook")
    assert error.value.code == "FILE_UNREADABLE"


def test_xml_entities_are_refused() -> None:
    """defusedxml: a workbook whose XML declares entities (billion laughs) is not parsed."""
    data = xlsx({"数据": [["行政区划代码", "指标代码", "统计期", "数值"]]})
    source, target = io.BytesIO(data), io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as patched:
        for item in original.infolist():
            content = original.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(
                    b"<worksheet", b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><worksheet', 1
                )
            patched.writestr(item, content)
    with pytest.raises(FileRejected) as error:
        read_xlsx_grid(target.getvalue())
    assert error.value.code == "FILE_UNREADABLE"


def test_json_shapes() -> None:
    assert read_json_document(b'[{"region_code": "330102"}]').records == [{"region_code": "330102"}]
    document = read_json_document('{"department": "养老服务处", "records": []}'.encode())
    assert document.department == "养老服务处"
    with pytest.raises(FileRejected) as error:
        read_json_document(b'{"rows": []}')
    assert error.value.code == "JSON_SHAPE"
    with pytest.raises(FileRejected) as error:
        read_json_document(b"[{,]")
    assert error.value.code == "JSON_INVALID"


def test_json_records_layouts() -> None:
    extraction = extract_json([{"事项编码": "PP-P01", "状态": "issued", "统计期": "2023"}, 5])
    assert extraction.layout == "status"
    assert extraction.records[1].values == {"__not_object__": True}


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("行政区划代码", "region_code"),
        ("行政区划代码 region_code", "region_code"),
        ("数值(value)", "value"),
        ("统计期\nperiod", "period"),
        ("MEASURE_CODE", "measure_code"),
        ("报送单位", "department"),
        ("单位", "unit"),
        ("合计", None),
    ],
)
def test_header_aliases(header: str, field: str | None) -> None:
    assert match_header(header) == field


def test_wide_layout_from_registry() -> None:
    registry = load_registry("elderly_care")
    assert registry is not None
    headers = [
        "行政区划代码",
        "行政区划名称",
        "持证养老护理员数（人）",
        "60岁及以上老年人口数（人）",
        "康养联合体数（个）",
    ]
    data = xlsx({"报表": [["2023年第2季度养老服务统计报表"], headers, ["330102", "上城区", 50, 20000, None]]})
    extraction = extract_grid(read_xlsx_grid(data), registry)
    assert extraction.layout == "wide"
    assert period_from_title(extraction.title_text) == "2023-Q2"
    # The blank 康养联合体数 cell makes no record.
    assert [(r.measure_code, r.ref) for r in extraction.records] == [("EC01A", "报表!C3:D3")]
    assert extraction.records[0].values["numerator"] == 50


@pytest.mark.parametrize(
    ("title", "period"),
    [
        ("2023年度报表", "2023"),
        ("2023年第三季度", "2023-Q3"),
        ("2024年6月 统计表", "2024-06"),
        ("统计表", None),
        # Issue #20: "二季度" without 第 was read as the whole year 2023.
        ("2023年二季度养老服务统计报表", "2023-Q2"),
        ("2023年第二季度养老服务统计报表", "2023-Q2"),
        ("2023年1-6月养老服务统计报表", "2023-Q2"),
        ("2023年上半年养老服务统计报表", "2023-Q2"),
        ("2023年1-5月统计表", None),
    ],
)
def test_period_from_title(title: str, period: str | None) -> None:
    assert period_from_title(title) == period


def test_registry_refuses_path_like_names() -> None:
    assert load_registry("../etc") is None
