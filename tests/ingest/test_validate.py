"""Row validation: each rule, each row reason code, and the wording of every message."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.errors import FILE_REASONS, REASONS, ROW_REASONS, FileRejected, Issue, RowError, render
from ingest.layout import RawRecord
from ingest.reference import Reference
from ingest.rules import ValidationContext
from ingest.validate import validate_records, validate_status_record, validate_value_record


def context(reference: Reference, department: str = "social_assistance") -> ValidationContext:
    return ValidationContext("t.csv", department, reference, 2021, 2025)


def record(**values: Any) -> RawRecord:
    return RawRecord(ref="row 2", values=values, raw_cells={k: str(v) for k, v in values.items()})


def ok_value(reference: Reference, **values: Any):
    base = {"region_code": "330102", "measure_code": "PP03A", "period": "2023"}
    return validate_value_record(record(**{**base, **values}), context(reference))


def test_rate_from_numerator_and_denominator(reference: Reference) -> None:
    row = ok_value(reference, numerator="45", denominator="50")
    assert row.value == pytest.approx(90.0)
    assert (row.numerator, row.denominator) == (45.0, 50.0)


def test_rate_value_consistent_with_parts_within_written_precision(reference: Reference) -> None:
    assert ok_value(reference, value="66.7%", numerator=2, denominator=3).value == pytest.approx(66.7)


def test_level_in_yuan_per_month_is_stored_per_year(reference: Reference) -> None:
    row = ok_value(reference, measure_code="PP01", value="1,000", unit="元/月")
    assert row.value == 12000
    assert row.unit_submitted == "元/月"
    assert row.value_text == "1,000"


def test_amount_in_wan_yuan_converts_to_100m_yuan(reference: Reference) -> None:
    row = validate_value_record(
        record(region_code="330102", measure_code="CH02A", period="2023", value="12,300", unit="万元"),
        context(reference, "charity_social_work"),
    )
    assert row.value == pytest.approx(1.23)


def test_count_in_wan_ren(reference: Reference) -> None:
    row = validate_value_record(
        record(region_code="330102", measure_code="CH01A", period="2023", value="0.0012", unit="万家"),
        context(reference, "charity_social_work"),
    )
    assert row.value == pytest.approx(12)


# (values, department, expected code, expected field)
ROW_CASES: list[tuple[dict[str, Any], str, str, str | None]] = [
    ({"region_code": ""}, "social_assistance", "REGION_MISSING", "region_code"),
    ({"region_code": "339999"}, "social_assistance", "REGION_UNKNOWN", "region_code"),
    # Issue #20: codes as they come, regions by name.
    ({"region_code": "330102000000"}, "social_assistance", None, None),
    ({"region_code": "330102001000"}, "social_assistance", "REGION_CODE_LEVEL", "region_code"),
    ({"region_code": "", "region_name": "上城"}, "social_assistance", None, None),
    ({"region_code": "", "region_name": "上城县"}, "social_assistance", "REGION_NAME_UNKNOWN", "region_name"),
    ({"region_code": "", "region_name": "江干区"}, "social_assistance", "REGION_ABOLISHED", "region_name"),
    ({"region_name": "拱墅区"}, "social_assistance", "REGION_NAME_MISMATCH", "region_name"),
    (
        {"measure_code": "PP05", "region_code": "330102", "value": 1},
        "child_welfare",
        "REGION_LEVEL_NOT_ALLOWED",
        "region_code",
    ),
    ({"measure_code": ""}, "social_assistance", "MEASURE_MISSING", "measure_code"),
    ({"measure_code": "XX01"}, "social_assistance", "MEASURE_UNKNOWN", "measure_code"),
    ({"measure_code": "PP02", "value": 1}, "social_assistance", "MEASURE_WRONG_DEPARTMENT", "measure_code"),
    ({"measure_code": "EC02", "value": 1}, "elderly_care", "MEASURE_IS_STATUS", "measure_code"),
    ({"period": ""}, "social_assistance", "PERIOD_MISSING", "period"),
    ({"period": "2023-Q7"}, "social_assistance", "PERIOD_INVALID", "period"),
    ({"period": "2023-6-30"}, "social_assistance", "PERIOD_AMBIGUOUS", "period"),
    ({"period": "2023年第二季度"}, "social_assistance", None, None),
    ({"period": 44927}, "social_assistance", "PERIOD_EXCEL_SERIAL", "period"),
    ({"value": "=B2/C2*100"}, "social_assistance", "FORMULA_NOT_COMPUTED", "value"),
    ({"period": "2019"}, "social_assistance", "PERIOD_OUT_OF_WINDOW", "period"),
    ({"value": "——"}, "social_assistance", "VALUE_MISSING", "value"),
    ({"value": "about 90"}, "social_assistance", "VALUE_NOT_NUMBER", "value"),
    ({"numerator": "x", "denominator": 3}, "social_assistance", "VALUE_NOT_NUMBER", "numerator"),
    ({"numerator": 3}, "social_assistance", "PARTS_INCOMPLETE", "denominator"),
    ({"denominator": 3}, "social_assistance", "PARTS_INCOMPLETE", "numerator"),
    (
        {"measure_code": "PP01", "numerator": 1, "denominator": 2},
        "social_assistance",
        "PARTS_NOT_APPLICABLE",
        "numerator",
    ),
    ({"numerator": 0, "denominator": 0}, "social_assistance", "DENOMINATOR_NOT_POSITIVE", "denominator"),
    ({"numerator": 6, "denominator": 5}, "social_assistance", "NUMERATOR_EXCEEDS_DENOMINATOR", "numerator"),
    ({"numerator": -1, "denominator": 5}, "social_assistance", "NEGATIVE_VALUE", "numerator"),
    ({"value": "100.5%"}, "social_assistance", "RATE_OUT_OF_RANGE", "value"),
    ({"value": "-2"}, "social_assistance", "NEGATIVE_VALUE", "value"),
    # Issue #23 point 3: the plausible range of the measure (seed measure_value_ranges).
    ({"measure_code": "PP01", "value": "1e20"}, "social_assistance", "VALUE_OUT_OF_RANGE", "value"),
    ({"numerator": 1, "denominator": "1e20"}, "social_assistance", "VALUE_OUT_OF_RANGE", "denominator"),
    ({"measure_code": "CH01A", "value": "2.5"}, "charity_social_work", "COUNT_NOT_INTEGER", "value"),
    ({"value": "50", "numerator": 1, "denominator": 3}, "social_assistance", "VALUE_INCONSISTENT", "value"),
    ({"value": "33.3", "numerator": 1, "denominator": 3}, "social_assistance", None, None),
    (
        {"measure_code": "PP01", "value": 900, "unit": "公斤"},
        "social_assistance",
        "UNIT_UNCONVERTIBLE",
        "unit",
    ),
    ({"measure_code": "PP01", "value": "90%"}, "social_assistance", "UNIT_UNCONVERTIBLE", "value"),
    ({"value": 90, "department": "child_welfare"}, "social_assistance", "DEPARTMENT_MISMATCH", "department"),
    ({"value": 90, "department": "社会救助处"}, "social_assistance", None, None),
]


@pytest.mark.parametrize(("values", "department", "code", "field"), ROW_CASES)
def test_value_row_rules(
    reference: Reference, values: dict[str, Any], department: str, code: str | None, field: str | None
) -> None:
    base = {"region_code": "330102", "measure_code": "PP03A", "period": "2023", "value": "90"}
    rec = record(**{**base, **values})
    if code is None:
        assert validate_value_record(rec, context(reference, department)).value >= 0
        return
    with pytest.raises(RowError) as error:
        validate_value_record(rec, context(reference, department))
    assert (error.value.code, error.value.field) == (code, field)


def test_json_record_that_is_not_an_object(reference: Reference) -> None:
    with pytest.raises(RowError) as error:
        validate_value_record(RawRecord("records[0]", {"__not_object__": True}), context(reference))
    assert error.value.code == "RECORD_NOT_OBJECT"


STATUS_CASES: list[tuple[dict[str, Any], str, str | None, str | None]] = [
    (
        {"item_code": "PP-P01", "status": "已出台", "status_date": "2023年5月12日"},
        "social_assistance",
        None,
        None,
    ),
    ({"item_code": "PP-P01", "status": "Issued"}, "social_assistance", None, None),
    ({"item_code": "", "status": "issued"}, "social_assistance", "ITEM_MISSING", "item_code"),
    ({"item_code": "PP-P99", "status": "issued"}, "social_assistance", "ITEM_UNKNOWN", "item_code"),
    ({"item_code": "PP-P01", "status": "issued"}, "elderly_care", "ITEM_WRONG_DEPARTMENT", "item_code"),
    ({"item_code": "PP-P01", "status": ""}, "social_assistance", "STATUS_MISSING", "status"),
    ({"item_code": "PP-P01", "status": "done"}, "social_assistance", "STATUS_UNKNOWN", "status"),
    (
        {"item_code": "PP-P01", "status": "issued", "status_date": "soon"},
        "social_assistance",
        "DATE_INVALID",
        "status_date",
    ),
    ({"item_code": "EC02", "status": "编制完成", "region_code": "330102"}, "elderly_care", None, None),
    (
        {"item_code": "EC02", "status": "in_progress", "region_code": "330102"},
        "elderly_care",
        "STATUS_UNKNOWN",
        "status",
    ),
]


@pytest.mark.parametrize(("values", "department", "code", "field"), STATUS_CASES)
def test_status_row_rules(
    reference: Reference, values: dict[str, Any], department: str, code: str | None, field: str | None
) -> None:
    rec = record(period="2023", **values)
    if code is None:
        row = validate_status_record(rec, context(reference, department))
        assert row.status in {"issued", "plan_made"}
        assert row.region_code == values.get("region_code", reference.province_code)
        return
    with pytest.raises(RowError) as error:
        validate_status_record(rec, context(reference, department))
    assert (error.value.code, error.value.field) == (code, field)


def test_duplicate_keys_refuse_every_copy(reference: Reference) -> None:
    rows = [
        RawRecord(
            f"row {n}", {"region_code": "330102", "measure_code": "PP03A", "period": "2023", "value": v}
        )
        for n, v in ((2, "90"), (3, "91"))
    ]
    rows.append(
        RawRecord("row 4", {"region_code": "330105", "measure_code": "PP03A", "period": "2023", "value": 1})
    )
    submissions, statuses, rejections = validate_records(rows, "long", context(reference))
    assert [row.row_ref for row in submissions] == ["row 4"]
    assert statuses == []
    assert sorted(r.issue.row_ref for r in rejections) == ["row 2", "row 3"]
    assert {r.issue.reason_code for r in rejections} == {"DUPLICATE_KEY"}
    assert "row 2, row 3" in rejections[0].issue.reason_en


def test_every_row_case_is_covered() -> None:
    """Each row reason code has a test case above (or a dedicated test)."""
    covered = {case[2] for case in ROW_CASES + STATUS_CASES} | {"RECORD_NOT_OBJECT", "DUPLICATE_KEY"}
    # REGION_AMBIGUOUS: tests/ingest/test_clerk_regions.py (needs a seed with a clash).
    covered |= {"REGION_AMBIGUOUS"}
    assert set(ROW_REASONS) - covered == set()


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_message_renders_in_both_languages(code: str) -> None:
    params = {
        "value": "X1",
        "measure": "PP01",
        "file": "f",
        "size": 1,
        "limit": 2,
        "extension": ".doc",
        "department": "d",
        "folder": "a",
        "declared": "b",
        "level": "county",
        "level_zh": "县",
        "allowed": "city",
        "first": 2021,
        "last": 2025,
        "kind": "count",
        "kind_zh": "数量",
        "numerator": 2,
        "denominator": 1,
        "computed": 3,
        "unit": "kg",
        "canonical": "个",
        "key": "k",
        "count": 2,
        "rows": "row 2, row 3",
        "item": "PP-P01",
        "owner": "o",
        "detail": "bad",
        "utf8_line": 2,
        "other_line": 3,
        "delimiter": "|",
        "row": 4,
        "columns": 2000,
        "links": "other.xlsx",
        "column": "value",
        "column_zh": "数值",
        "hint": "",
        "hint_en": "",
        "hint_zh": "",
        "county": "330102",
        "county_name": "上城区",
        "county_name_en": "Shangcheng District",
        "candidates": "上城区 330102（县（市、区））",
        "candidates_en": "Shangcheng District 330102 (county)",
        "note": "n",
        "note_en": "n",
        "given_code": "330105",
        "code_region": "拱墅区，县（市、区）",
        "code_region_en": "Gongshu District (county)",
        "unrecognized": "数据值 (D)",
        "path": "../x.csv",
        "formula": "=A1",
        "date": "2023-01-01",
        "what": "数值",
        "what_en": "value",
        "low": 0,
        "high": 100,
        "second": "row 1 col E",
        "sheet": "数据",
        "visible": "Sheet1",
        "did_you_mean": "; did you mean `elderly_care`?",
        "did_you_mean_zh": "；是否应为「elderly_care」？",
        "totals": 1,
        "total_rows": "row 8 合计",
        "footer": 2,
        "footer_rows": "row 10 填报人, row 11",
        "label": "合计",
        "part": "numerator",
        "part_zh": "分子",
        "total": 1400,
        "detail_sum": 1300,
        "details": 3,
    }
    zh, en = render(code, params)
    assert zh and en and "{" not in zh + en
    issue = Issue("报送.csv", "row 7", "value", code, params)
    assert issue.reason_zh.startswith("文件「报送.csv」 row 7 字段「数值」：")
    assert issue.reason_en.startswith("file '报送.csv', row 7, field 'value': ")
    assert issue.to_json()["reason_code"] == code


def test_reason_kinds_are_checked() -> None:
    with pytest.raises(ValueError):
        RowError("FILE_EMPTY")
    with pytest.raises(ValueError):
        FileRejected("REGION_UNKNOWN")
    assert set(FILE_REASONS).isdisjoint(ROW_REASONS)
