"""The vectorized fast path (ingest/fastpath.py) changes nothing but the speed.

Equivalence is the contract: every file gives the same loaded rows, quarantine rows (reason codes,
fields, messages, raw records), row refs and ledger counts with the fast path on as with it off
(the Python validator alone). Plus a guard that the fast path really decides the plain rows.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest import columnar, commit, fastpath, loader, pii
from ingest import parse as parsing
from ingest.layout import load_registry
from ingest.reference import Reference, Region, load_reference
from scorecard.core.settings import Settings
from tests.hypothesis_profiles import examples

SETTINGS = Settings(home=Path("/nonexistent"), as_of=date(2026, 1, 15))
REFERENCE = load_reference(SETTINGS)
LONG_HEADER = ["region_code", "measure_code", "period", "value", "numerator", "denominator", "unit", "note"]


@pytest.fixture(autouse=True)
def _restore_switch() -> Iterator[None]:
    yield
    fastpath.FORCE = None


def parse(
    data: bytes, name: str, department: str | None, *, fast: bool, reference: Reference = REFERENCE
) -> parsing.ParsedFile:
    fastpath.FORCE = fast
    fastpath.last_stats = fastpath.FastPathStats()  # so a stale figure cannot pass for this file's
    try:
        return parsing.parse_file(
            data, name, department_hint=department, reference=reference, settings=SETTINGS
        )
    finally:
        fastpath.FORCE = None


def outcome(parsed: parsing.ParsedFile) -> dict[str, Any]:
    """Everything the loader writes for a parsed file, as comparable values."""
    staged = commit.StagedRows.of(parsed)
    return {
        "layout": parsed.layout,
        "department": parsed.department_code,
        "file_issue": parsed.file_issue,
        # The columnar path keeps its rows in an Arrow table: compared through "tables" below.
        "rows_loaded": parsed.rows_loaded,
        "status_rows": parsed.status_rows,
        "rejections": [
            (r.issue, r.issue.reason_en, r.issue.reason_zh, r.raw_record) for r in parsed.rejections
        ],
        "ledger": (
            staged.status,
            staged.rows_input,
            staged.rows_loaded,
            staged.rows_rejected,
            staged.periods,
        ),
        "tables": {name: table.to_pylist() for name, table in staged.tables.items()},
    }


def assert_equivalent(
    data: bytes, name: str, department: str | None, reference: Reference = REFERENCE
) -> tuple[parsing.ParsedFile, int]:
    """Parse both ways, assert the same outcome; returns the fast parse and its plain-row count."""
    slow = parse(data, name, department, fast=False, reference=reference)
    fast = parse(data, name, department, fast=True, reference=reference)
    plain = fastpath.last_stats.plain
    assert outcome(fast) == outcome(slow)
    return fast, plain


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


# --- cells: valid ones and each kind of invalid one --------------------------------------------------

DEPARTMENT = "child_welfare"
OWN = sorted(code for code, m in REFERENCE.measures.items() if m.department_code == DEPARTMENT)
OTHER = ["EC01B", "EC03A", "CH02A", "EC02"]  # another department's, and a status measure
COUNTIES = [code for code, r in REFERENCE.regions.items() if r.level == "county"][:4]
CITIES = [code for code, r in REFERENCE.regions.items() if r.level == "city"][:2]

BAD_REGIONS = [f" {COUNTIES[0]} ", "３３０１０２", "999999", "", "——", "abc", f"{COUNTIES[1]}.0"]
regions = st.sampled_from([*COUNTIES, *CITIES, REFERENCE.province_code, *BAD_REGIONS])
measures = st.sampled_from(OWN + OWN + OTHER + [OWN[0].lower(), f" {OWN[1]}", "ZZ99", "", "——"])
GOOD_PERIODS = ["2023", "2023", "2024-06", "2022-Q3", "2023-12", "2023年6月", "2023年", "２０２３", "2023/6"]
GOOD_PERIODS += ["2023年第二季度", "2024年三季度", "2023年1-6月", "2023年上半年", "2023.06"]
BAD_PERIODS = ["2019", "2030", "2023-13", "2023-Q5", "", "——", "45000", " 2023", "2023 "]
BAD_PERIODS += ["2023-6-30", "2023年1-5月", "2023年第五季度"]
periods = st.sampled_from([*GOOD_PERIODS, *BAD_PERIODS])
plain_numbers = st.one_of(
    st.integers(0, 10**7).map(str),
    st.decimals(0, 10**6, places=3, allow_nan=False, allow_infinity=False).map(str),
    st.floats(0, 1e6, allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.6f}"),
    st.sampled_from(["0", "100", "100.0", "100.0000000001", "99.999", "101", "0.30000000000000004", "007"]),
)
ODD_NUMBERS = ["-5", "+5", "-0", "1,200", "１２", "12%", "99.5%", " 12", "12 ", "1e3", ".5", "5.", "abc"]
ODD_NUMBERS += ["=A1", "1 2", "1,2", "NaN", "inf", "123456789012345678901", "0.1234567890123456789"]
ODD_NUMBERS += ["-", "/", "n/a", "null"]
odd_numbers = st.sampled_from(ODD_NUMBERS)
numbers = st.one_of(plain_numbers, plain_numbers, st.just(""), st.just("——"), odd_numbers)
units = st.sampled_from(
    [
        "",
        "",
        "",
        "——",
        "元",
        "元/月",
        "元/年",
        "万元",
        "亿元",
        "%",
        "个",
        "人",
        "元/人·年",
        "次",
        "每万老年人",
    ]
)
notes = st.sampled_from(["", "", "ok", " padded ", "备注：估计", "１２", "——", "n/a", "\u200bzero-width"])


@st.composite
def value_rows(draw: st.DrawFn) -> list[str]:
    """A long-layout row: value only, parts only, both (often consistent), or anything."""
    row = [draw(regions), draw(measures), draw(periods), "", "", "", draw(units), draw(notes)]
    shape = draw(st.sampled_from(["value", "parts", "both", "consistent", "any"]))
    if shape in {"value", "both", "any"}:
        row[3] = draw(numbers)
    if shape in {"parts", "both", "any"}:
        row[4], row[5] = draw(numbers), draw(numbers)
    if shape == "consistent":
        numerator, denominator = draw(st.integers(0, 5000)), draw(st.integers(0, 5000))
        digits = draw(st.integers(0, 4))
        scale = draw(st.sampled_from([100.0, 1.0, 10000.0]))
        value = numerator / denominator * scale if denominator else 0.0
        row[3] = f"{value:.{digits}f}"
        row[4], row[5] = str(numerator), str(denominator)
    return row


@st.composite
def long_files(draw: st.DrawFn) -> list[list[str]]:
    rows = draw(st.lists(value_rows(), min_size=1, max_size=30))
    if draw(st.booleans()):  # an exact duplicate row: both copies are refused
        rows.append(list(draw(st.sampled_from(rows))))
    return rows


FAST = settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_column_wise(parsed: parsing.ParsedFile, data: bytes) -> bool:
    """Whether the columnar path reads the file: one that loads, needs no CSV quoting ("1,200"
    does) and has no form lines (a total row, a footer, which it declines; an odd cell can make
    one). Refused as a whole (personal data...) or any of those: the general path."""
    return parsed.file_issue is None and b'"' not in data and parsed.lines_skipped == 0


@FAST
@given(rows=long_files(), with_department=st.sampled_from([None, DEPARTMENT, "elderly_care", "儿童福利", ""]))
def test_long_csv_same_outcome_both_ways(rows: list[list[str]], with_department: str | None) -> None:
    header = list(LONG_HEADER)
    if with_department is not None:
        header.append("department")
        rows = [[*row, with_department] for row in rows]
    data = csv_bytes(header, rows)
    parsed, _ = assert_equivalent(data, "values.csv", DEPARTMENT)
    assert fastpath.last_stats.columnar == _read_column_wise(parsed, data)


@FAST
@given(rows=long_files())
def test_long_json_same_outcome_both_ways(rows: list[list[str]]) -> None:
    # JSON cells may be numbers: those rows take the slow path, the rest the fast one.
    import json

    records = []
    for row in rows:
        record: dict[str, Any] = dict(zip(LONG_HEADER, row, strict=True))
        if record["value"].isdigit():
            record["value"] = int(record["value"])
        records.append(record)
    data = json.dumps({"department": DEPARTMENT, "records": records}, ensure_ascii=False).encode()
    assert_equivalent(data, "values.json", DEPARTMENT)


WIDE = load_registry("elderly_care")
assert WIDE is not None


@FAST
@given(
    cells=st.lists(
        st.tuples(
            regions, periods, st.lists(numbers, min_size=len(WIDE.columns), max_size=len(WIDE.columns))
        ),
        min_size=1,
        max_size=12,
    )
)
def test_wide_csv_same_outcome_both_ways(cells: list[tuple[str, str, list[str]]]) -> None:
    header = ["region_code", "period", *(column.header for column in WIDE.columns)]
    rows = [[region, period, *numbers] for region, period, numbers in cells]
    assert_equivalent(csv_bytes(header, rows), "elderly_care_form.csv", "elderly_care")


NAMES = [
    "西湖区",
    "西湖",
    "杭州市",
    "嵊州",
    "Xihu",
    "杭州市西湖区",
    "江干区",
    "西胡区",
    "上城区",
    "",
    "——",
    " 西湖 ",
]


@FAST
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(
                ["", "", "330106", "330106000000", "330102", "330100", "330106.0", "330106001000"]
            ),
            st.sampled_from(NAMES),
            st.sampled_from(GOOD_PERIODS[:6]),
            plain_numbers,
        ),
        min_size=1,
        max_size=20,
    )
)
def test_named_regions_same_outcome_both_ways(rows: list[tuple[str, str, str, str]]) -> None:
    """Issue #20: a region by code, by name or by both (agreeing or not), read column-wise (one
    verdict per distinct code and name pair) and by the validator alike."""
    measure = next(code for code in OWN if "county" in REFERENCE.measures[code].region_levels)
    header = ["region_code", "地区", "measure_code", "period", "value"]
    cells = [[code, name, measure, period, value] for code, name, period, value in rows]
    assert_equivalent(csv_bytes(header, cells), "names.csv", DEPARTMENT)
    names_only = [[name, measure, period, value] for _, name, period, value in rows]
    assert_equivalent(csv_bytes(header[1:], names_only), "names_only.csv", DEPARTMENT)


def test_edge_cases_same_outcome_both_ways() -> None:
    """Hand-picked cells next to the fast path's boundaries."""
    county, city = COUNTIES[0], CITIES[0]
    rate = next(code for code in OWN if REFERENCE.measures[code].kind == "rate")
    rows = [
        [county, rate, "2023", "100", "", "", "", ""],
        [county, rate, "2024", "100.000000001", "", "", "", ""],  # at the ceiling, 100 + 1e-9
        [county, rate, "2025", "100.00000001", "", "", "", ""],  # over: RATE_OUT_OF_RANGE
        [county, rate, "2022", "", "5", "5", "", ""],
        [county, rate, "2021", "", "6", "5", "", ""],  # NUMERATOR_EXCEEDS_DENOMINATOR
        [city, rate, "2023", "33.3", "1", "3", "", ""],  # within half a unit of the last digit
        [city, rate, "2024", "33.4", "1", "3", "", ""],  # VALUE_INCONSISTENT
        [city, rate, "2025", "33.33333", "1", "3", "%", ""],
        [city, rate, "2022", "", "1", "0", "", ""],  # DENOMINATOR_NOT_POSITIVE
        [city, rate, "2021", "", "0", "3", "", "——"],
        [county, "PP01", "2023", "1200", "", "", "元/月", ""],  # converted x12: slow path
        [county, "PP01", "2024", "1200", "", "", "元/人·年", "note"],
        [county, "PP05", "2023", "3", "", "", "", ""],  # county not allowed for PP05
        [city, "PP05", "2023", "3.5", "", "", "", ""],  # COUNT_NOT_INTEGER
        [city, "PP05", "2024", "3.0000001", "", "", "", ""],  # within 1e-6 of an integer
        [city, "PP05", "2025", "3", "", "", "个（地区）", ""],
    ]
    assert_equivalent(csv_bytes(LONG_HEADER, rows), "edges.csv", DEPARTMENT)


# --- the columnar path: plain long CSV straight from its bytes (ingest/columnar.py) ------------------


def _resident_id(first17: str) -> str:
    return first17 + pii.id_check_character(first17)


# Cells that hold a personal identifier (the file is refused), and long numbers that do not.
IDENTIFIERS = [
    _resident_id("11010519491231002"),  # ...X
    _resident_id("11010519491231002").lower(),
    _resident_id("33010219800101123"),
    "13800138000",
    "138 0013 8000",
    "138-0013-8000",
    "1380013 8000",
    "138 00138000",
    "+86 138-0013-8000",
    "电话：13912345678",
    "１３８００１３８０００",  # full-width digits
    "⑬8001380００",  # circled 13: NFKC makes eleven digits of nine characters
]
NOT_IDENTIFIERS = [
    "330102001",  # a township code
    "330102001001",
    "12800138000",  # 12x is not a mobile prefix
    "138001380001",  # twelve digits
    "2023138001380",
    "0571-87654321",
    "110105194912310021",  # a wrong check character
    "11010519491231002",  # 17 digits
    "12345678901234567890",
    "99999999999",
    "1234567.891",
    "123 4567 8901",
    "⑪⑫",
    "٣٣٠١٠٢٠٠١",  # Arabic-Indic digits
]
TOWNSHIPS = ["330102001", "330102002", "330102003"]
TITLES = [
    ["2023年儿童福利统计表"],
    ["填报单位：民政局", "", ""],
    ["说明", "", "", "", "", "", "", "", "", "", ""],
]


def township_reference() -> Reference:
    """The reference with three townships, allowed for every measure of the department."""
    regions = dict(REFERENCE.regions)
    county = COUNTIES[0]
    for code in TOWNSHIPS:
        regions[code] = Region(code, "街道", "township", "township", county, CITIES[0], None)
    measures = {
        code: dataclasses.replace(m, region_levels=(*m.region_levels, "township"))
        if m.department_code == DEPARTMENT
        else m
        for code, m in REFERENCE.measures.items()
    }
    return dataclasses.replace(REFERENCE, regions=regions, measures=measures)


TOWNSHIP_REFERENCE = township_reference()
odd_cells = st.sampled_from([*IDENTIFIERS, *NOT_IDENTIFIERS, *TOWNSHIPS, "a;b", "a\tb", "——", "n/a"])


@st.composite
def framed_long_csv(draw: st.DrawFn) -> bytes:
    """A long CSV as clerks write them: title rows, a BOM, CRLF, blank lines, extra and department
    columns, township codes, identifiers and long numbers in any cell, no final line break..."""
    rows = draw(long_files())
    for row in rows:
        if draw(st.integers(0, 3)) == 0:
            row[draw(st.integers(0, len(row) - 1))] = draw(odd_cells)
        if draw(st.integers(0, 2)) == 0:
            row[0] = draw(st.sampled_from(TOWNSHIPS))
    header = list(LONG_HEADER)
    extra = draw(st.sampled_from([None, "备用", "remark2"]))
    if extra is not None:
        header.append(extra)
        rows = [[*row, draw(st.sampled_from(["", "x", *NOT_IDENTIFIERS, *IDENTIFIERS[:2]]))] for row in rows]
    if draw(st.booleans()):
        header.append("部门")
        rows = [[*row, draw(st.sampled_from(["", DEPARTMENT, "儿童福利", "elderly_care"]))] for row in rows]
    lines = [row for row in draw(st.lists(st.sampled_from(TITLES), max_size=2))]
    lines.append(header)
    for row in rows:
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from([[], [""] * len(header)])))  # a blank line or row
        lines.append(row)
    out = io.StringIO()
    csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(lines)
    text = out.getvalue()
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8")


@FAST
@given(data=framed_long_csv(), reference=st.sampled_from([REFERENCE, TOWNSHIP_REFERENCE]))
# found by Hypothesis in a full run: a footer line (a phone number where the region goes)
@example(
    data="region_code,measure_code,period,value,numerator,denominator,unit,note\n\n"
    "330102001,PP02,2023,0,,,,\n\n330102001,PP02,2023,0,,,,\n330102001,PP02,2023,0,,,,\n"
    "电话：13912345678,,2023,0,,,,\n".encode(),
    reference=TOWNSHIP_REFERENCE,
)
def test_columnar_csv_same_outcome_both_ways(data: bytes, reference: Reference) -> None:
    parsed, _ = assert_equivalent(data, "values.csv", DEPARTMENT, reference)
    assert fastpath.last_stats.columnar == _read_column_wise(parsed, data)


def _rows(*rows: list[str], header: list[str] = LONG_HEADER) -> list[list[str]]:
    return [header, *rows]


def _csv(lines: list[list[str]], delimiter: str = ",", terminator: str = "\n") -> str:
    return "".join(delimiter.join(cells) + terminator for cells in lines)


_COUNTY, _RATE = COUNTIES[0], next(code for code in OWN if REFERENCE.measures[code].kind == "rate")
_OK = [_COUNTY, _RATE, "2023", "12.5", "", "", "", ""]
_OK2 = [COUNTIES[1], _RATE, "2023", "13", "", "", "", ""]
HAND_PICKED = {
    # Each loads or is refused the same way whichever path reads it.
    "plain": _csv(_rows(_OK, _OK2)).encode(),
    "duplicate across fast and slow rows": _csv(
        _rows(
            _OK,
            [_COUNTY, _RATE, "2023年", "12.5", "", "", "", ""],
            [_COUNTY, _RATE, "2023", "12.5", "", "", "%", ""],
        )
    ).encode(),
    "twice the same duplicate": _csv(_rows(_OK, _OK2, _OK, _OK2, _OK)).encode(),
    "every row refused": _csv(_rows([_COUNTY, "ZZ99", "2023", "1", "", "", "", ""])).encode(),
    "a short row": _csv(_rows(_OK, _OK2[:5])).encode(),
    "a long row": _csv(_rows(_OK, [*_OK2, "extra"])).encode(),
    "a short last row without line break": _csv(_rows(_OK, _OK2))[:-3].encode(),
    "carriage returns only": _csv(_rows(_OK, _OK2), terminator="\r").encode(),
    "a stray carriage return": _csv(_rows(_OK, _OK2)).replace("12.5", "12.5\r", 1).encode(),
    "tab delimited": _csv(_rows(_OK, _OK2), "\t").encode(),
    "semicolon delimited": _csv(_rows(_OK, _OK2), ";").encode(),
    "semicolons in a note": _csv(_rows([*_OK[:7], "a;b;c"], _OK2)).encode(),
    "a quoted cell": _csv(_rows([*_OK[:7], '"a, b"'], _OK2)).encode(),
    "GB18030": _csv(_rows([*_OK[:7], "备注"], _OK2)).encode("gb18030"),
    "UTF-16": _csv(_rows([*_OK[:7], "备注"], _OK2)).encode("utf-16"),
    "a NUL byte": _csv(_rows([*_OK[:7], "a\x00b"], _OK2)).encode(),
    "header only": _csv(_rows()).encode(),
    "header without line break": _csv(_rows()).rstrip("\n").encode(),
    "blank rows only": _csv(_rows([""] * 8, ["——"] * 8, ["n/a", "", "", "", "", "", "", "/"])).encode(),
    "blank lines before the header": ("\n\n" + _csv(_rows(_OK, _OK2))).encode(),
    "no value column": _csv(_rows(_OK[:3], _OK2[:3], header=LONG_HEADER[:3])).encode(),
    "an unknown column": _csv(_rows([*_OK, "1"], [*_OK2, "2"], header=[*LONG_HEADER, "谁知道"])).encode(),
    "a field over the csv module's limit": _csv(_rows([*_OK[:7], "x" * 140_000], _OK2)).encode(),
    "a line over the limit, short fields": _csv(
        _rows(*[_OK] * 2, header=[*LONG_HEADER, *["n"] * 20_000])
    ).encode(),
    "an identifier in the title": _csv([["户主 13800138000"], *_rows(_OK, _OK2)]).encode(),
    "an identifier in a header cell": _csv(_rows(_OK, header=[*LONG_HEADER[:7], "13800138000"])).encode(),
}


@pytest.mark.parametrize("column", [0, 3, 6, 7, 8])
@pytest.mark.parametrize("cell", IDENTIFIERS + NOT_IDENTIFIERS)
def test_personal_data_in_any_column_same_outcome_both_ways(cell: str, column: int) -> None:
    row = [*_OK, ""]
    row[column] = cell
    data = _csv(_rows([*_OK2, ""], row, header=[*LONG_HEADER, "备用"])).encode()
    parsed, _ = assert_equivalent(data, "values.csv", DEPARTMENT)
    refused = parsed.file_issue is not None and parsed.file_issue.reason_code == "FILE_CONTAINS_PERSONAL_DATA"
    assert refused == (cell in IDENTIFIERS)
    assert fastpath.last_stats.columnar == (not refused)


@pytest.mark.parametrize("case", sorted(HAND_PICKED))
def test_hand_picked_files_same_outcome_both_ways(case: str) -> None:
    assert_equivalent(HAND_PICKED[case], "values.csv", DEPARTMENT)


@pytest.mark.parametrize(
    ("department", "cell"),
    [
        (None, DEPARTMENT),
        (None, "儿童福利"),
        (None, "no_such_department"),
        (None, ""),
        ("nowhere", DEPARTMENT),
    ],
)
def test_department_from_the_file_same_outcome_both_ways(department: str | None, cell: str) -> None:
    header = [*LONG_HEADER, "department"]
    data = _csv(_rows([*_OK, ""], [*_OK2, cell], header=header)).encode()
    parsed, _ = assert_equivalent(data, "values.csv", department)
    assert fastpath.last_stats.columnar == (parsed.file_issue is None)


def test_columnar_batches_agree_with_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verdicts, duplicates and row numbers carried across batches (tiny ones here)."""
    rows = clean_rows()
    rows[3][3], rows[3][4], rows[3][5] = "+3", "", ""  # slow (a sign), accepted
    rows[7][2] = "2019"  # refused
    rows.append(list(rows[10]))  # a duplicate far from its twin
    data = csv_bytes(LONG_HEADER, rows)
    whole = parse(data, "batches.csv", DEPARTMENT, fast=True)
    monkeypatch.setattr(columnar, "BATCH_ROWS", 7)
    batched, _ = assert_equivalent(data, "batches.csv", DEPARTMENT)
    assert fastpath.last_stats.columnar
    assert outcome(batched) == outcome(whole)
    codes = sorted(r.issue.reason_code for r in batched.rejections)
    assert codes == ["DUPLICATE_KEY", "DUPLICATE_KEY", "PERIOD_OUT_OF_WINDOW"]


# --- the fast path is really taken ----------------------------------------------------------------


def clean_rows() -> list[list[str]]:
    rows = []
    for code in OWN:
        measure = REFERENCE.measures[code]
        if measure.submitted_via == "status":
            continue
        for region in [*COUNTIES, *CITIES]:
            if REFERENCE.regions[region].level not in measure.region_levels:
                continue
            for year in (2021, 2022, 2023):
                if measure.takes_parts:
                    rows.append([region, code, str(year), "", "37", "400", "", ""])
                elif measure.kind in {"count", "regions_meeting"}:
                    rows.append([region, code, f"{year}-06", "3", "", "", "", "fine"])
                else:
                    rows.append([region, code, f"{year}-Q2", "1234.5", "", "", "", ""])
    return rows


def test_fast_path_decides_every_row_of_a_clean_file() -> None:
    rows = clean_rows()
    assert len(rows) > 50
    parsed, plain = assert_equivalent(csv_bytes(LONG_HEADER, rows), "clean.csv", DEPARTMENT)
    assert parsed.rows_loaded == len(rows) and not parsed.rejections
    assert fastpath.last_stats.declined is None
    assert plain == len(rows)


def test_fast_path_leaves_unusual_rows_to_the_validator() -> None:
    rows = clean_rows()
    rows[0][3], rows[0][4], rows[0][5] = "1,234", "", ""  # a separator: slow path, still valid
    rows[1][2] = "2019"  # out of the window: refused
    parsed, plain = assert_equivalent(csv_bytes(LONG_HEADER, rows), "mixed.csv", DEPARTMENT)
    assert plain == len(rows) - 2
    assert [r.issue.reason_code for r in parsed.rejections] == ["PERIOD_OUT_OF_WINDOW"]


def test_switch_off_forces_the_per_row_path(monkeypatch: pytest.MonkeyPatch) -> None:
    data = csv_bytes(LONG_HEADER, clean_rows())
    monkeypatch.setenv(fastpath.ENV_SWITCH, "0")
    fastpath.last_stats = fastpath.FastPathStats()
    off = parsing.parse_file(
        data, "off.csv", department_hint=DEPARTMENT, reference=REFERENCE, settings=SETTINGS
    )
    assert off.submission_table is None and off.submissions  # RawRecords and the validator
    assert fastpath.last_stats == fastpath.FastPathStats()  # the fast path never ran
    monkeypatch.setenv(fastpath.ENV_SWITCH, "1")
    on = parsing.parse_file(
        data, "off.csv", department_hint=DEPARTMENT, reference=REFERENCE, settings=SETTINGS
    )
    assert on.submission_table is not None and fastpath.last_stats.columnar
    assert outcome(on) == outcome(off)


def test_switch_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.ENV_SWITCH, "0")
    assert not fastpath.enabled()
    monkeypatch.setenv(fastpath.ENV_SWITCH, "1")
    assert fastpath.enabled()
    monkeypatch.delenv(fastpath.ENV_SWITCH)
    assert fastpath.enabled()


# --- the generated sample set, into two warehouses ---------------------------------------------------

RAW_TABLES = {
    "raw.submissions": "loaded_at",
    "raw.status_reports": "loaded_at",
    "raw.quarantine": "quarantined_at",
    "raw.file_ledger": "received_at",
}


def _load_set(generated_set: Path, home: Path, *, fast: bool) -> dict[str, list[tuple]]:
    settings_ = Settings(home=home, as_of=date(2026, 1, 15))
    settings_.ensure_dirs()
    shutil.copytree(generated_set, settings_.inbox, dirs_exist_ok=True)
    fastpath.FORCE = fast
    try:
        loader.load_paths(settings=settings_)
    finally:
        fastpath.FORCE = None
    tables = {}
    with duckdb.connect(str(settings_.warehouse_path), read_only=True) as con:
        for table, stamp in RAW_TABLES.items():
            columns = [
                row[0]
                for row in con.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'raw' AND table_name = ? ORDER BY ordinal_position",
                    [table.split(".")[1]],
                ).fetchall()
                if row[0] not in {stamp, "stored_path"}
            ]
            relation = con.table(table).select(*columns)
            tables[table] = sorted(relation.fetchall(), key=repr)
    return tables


# End to end: the whole sample set and its faults through the loader into two warehouses (~10 s of
# CPU); make test runs it, make check leaves it to the properties above, file by file.
@pytest.mark.slow
def test_generated_set_loads_identically_both_ways(generated_set: Path, tmp_path: Path) -> None:
    slow = _load_set(generated_set, tmp_path / "slow", fast=False)
    fast = _load_set(generated_set, tmp_path / "fast", fast=True)
    assert slow["raw.submissions"], "the sample set loads values"
    for table in RAW_TABLES:
        assert fast[table] == slow[table], table
