"""The vectorized fast path (ingest/fastpath.py) changes nothing but the speed.

Equivalence is the contract: every file gives the same loaded rows, quarantine rows (reason codes,
fields, messages, raw records), row refs and ledger counts with the fast path on as with it off
(the Python validator alone). Plus a guard that the fast path really decides the plain rows.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import fastpath, loader
from ingest.layout import load_registry
from ingest.reference import load_reference
from scorecard.config import Settings

SETTINGS = Settings(home=Path("/nonexistent"), as_of=date(2026, 1, 15))
REFERENCE = load_reference(SETTINGS)
LONG_HEADER = ["region_code", "measure_code", "period", "value", "numerator", "denominator", "unit", "note"]


@pytest.fixture(autouse=True)
def _restore_switch() -> Iterator[None]:
    yield
    fastpath.FORCE = None


def parse(data: bytes, name: str, department: str | None, *, fast: bool) -> loader.ParsedFile:
    fastpath.FORCE = fast
    try:
        return loader.parse_file(
            data, name, department_hint=department, reference=REFERENCE, settings=SETTINGS
        )
    finally:
        fastpath.FORCE = None


def outcome(parsed: loader.ParsedFile) -> dict[str, Any]:
    """Everything the loader writes for a parsed file, as comparable values."""
    staged = loader.StagedRows.of(parsed)
    return {
        "layout": parsed.layout,
        "department": parsed.department_code,
        "file_issue": parsed.file_issue,
        "submissions": parsed.submissions,
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


def assert_equivalent(data: bytes, name: str, department: str | None) -> tuple[loader.ParsedFile, int]:
    """Parse both ways, assert the same outcome; returns the fast parse and its plain-row count."""
    slow = parse(data, name, department, fast=False)
    fast = parse(data, name, department, fast=True)
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
BAD_PERIODS = ["2019", "2030", "2023-13", "2023-Q5", "", "——", "45000", " 2023", "2023 "]
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


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(rows=long_files(), with_department=st.sampled_from([None, DEPARTMENT, "elderly_care", "儿童福利", ""]))
def test_long_csv_same_outcome_both_ways(rows: list[list[str]], with_department: str | None) -> None:
    header = list(LONG_HEADER)
    if with_department is not None:
        header.append("department")
        rows = [[*row, with_department] for row in rows]
    assert_equivalent(csv_bytes(header, rows), "values.csv", DEPARTMENT)


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
    assert len(parsed.submissions) == len(rows) and not parsed.rejections
    assert fastpath.last_stats.declined is None
    assert plain == len(rows)


def test_fast_path_leaves_unusual_rows_to_the_validator() -> None:
    rows = clean_rows()
    rows[0][3], rows[0][4], rows[0][5] = "1,234", "", ""  # a separator: slow path, still valid
    rows[1][2] = "2019"  # out of the window: refused
    parsed, plain = assert_equivalent(csv_bytes(LONG_HEADER, rows), "mixed.csv", DEPARTMENT)
    assert plain == len(rows) - 2
    assert [r.issue.reason_code for r in parsed.rejections] == ["PERIOD_OUT_OF_WINDOW"]


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


def test_generated_set_loads_identically_both_ways(generated_set: Path, tmp_path: Path) -> None:
    slow = _load_set(generated_set, tmp_path / "slow", fast=False)
    fast = _load_set(generated_set, tmp_path / "fast", fast=True)
    assert slow["raw.submissions"], "the sample set loads values"
    for table in RAW_TABLES:
        assert fast[table] == slow[table], table
