"""The personal-data scan's shortcuts find exactly what pii's rules find, no less.

pii.find_in_text skips text its pre-filter rejects, pii.might_contain skips whole rows, and the
columnar reader (ingest/columnar.py) checks only the cells an Arrow regex or a non-ASCII test
picks out. Each shortcut must be a superset of the full rules: compared here against the rules
run on every cell, on text built from the characters that matter (digits of every width, circled
numbers that NFKC turns into digits, separators, the "X" of an ID number).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import columnar, parse, pii
from ingest.reference import load_reference
from scorecard.core.settings import Settings
from tests.hypothesis_profiles import examples

SETTINGS = Settings(home=Path("/nonexistent"), as_of=date(2026, 1, 15))
REFERENCE = load_reference(SETTINGS)
ID_NUMBER = "11010519491231002X"  # GB 11643-1999's own example
ALPHABET = "0123456789013813899 -+Xx,a中" + "１３８０" + "⑬⑪⓪" + "٣"
PIECES = [ID_NUMBER, ID_NUMBER.lower(), "13800138000", "138 0013 8000", "+86 138-0013-8000", "0086"]
PIECES += ["330102001", "12800138000", "110105194912310021", "１３８００１３８０００", "⑬8001380００"]

texts = st.lists(st.one_of(st.text(ALPHABET, max_size=12), st.sampled_from(PIECES)), max_size=4).map("".join)
CHECKS = settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def without_prefilter(text: str) -> list[pii.Match]:
    with mock.patch.object(pii, "_PREFILTER", re.compile("")):
        return pii.find_in_text(text)


@CHECKS
@given(text=texts)
def test_prefilter_drops_nothing_the_rules_find(text: str) -> None:
    normalized = pii._normalized(text)
    assert pii.find_in_text(normalized) == without_prefilter(normalized)


@CHECKS
@given(cells=st.lists(texts, max_size=6))
def test_a_row_skipped_holds_no_identifier(cells: list[str]) -> None:
    if any(pii.contains_personal_data(cell) for cell in cells):
        assert pii.might_contain(cells)


@CHECKS
@given(rows=st.lists(st.lists(texts, min_size=2, max_size=2), min_size=1, max_size=8), title=texts)
def test_columnar_scan_matches_the_rules_cell_by_cell(rows: list[list[str]], title: str) -> None:
    header = ["region_code", "measure_code", "period", "value", "note", "备注2"]
    cells = [["330102", "WS01", "2023", *row, "x"] for row in rows]
    out = io.StringIO()
    title = title.replace(",", "")  # one cell
    csv.writer(out, lineterminator="\n").writerows([[title], header, *cells])
    data = out.getvalue().encode()
    plain = columnar.read_plain_csv(data, None)
    if plain is None:
        assert b'"' in data  # only quoting sends these files elsewhere
        return
    every_cell = [cell for line in [[title], header, *cells] for cell in line]
    expected = any(pii.contains_personal_data(cell) for cell in every_cell)
    assert columnar.holds_personal_data(plain) == expected


def test_refusal_names_the_first_cell_and_counts_them_all() -> None:
    """The reference and field are built for the first hit only; still the same texts."""
    data = (
        "region_code,measure_code,period,value,note\n"
        "330102,WS01,2023,12,fine\n"
        "330102,WS02,2023,13,户主 13800138000\n"
        "330102,WSE01,2023,14," + ID_NUMBER + "\n"
    ).encode()
    parsed = parse.parse_file(
        data, "values.csv", department_hint="child_welfare", reference=REFERENCE, settings=SETTINGS
    )
    issue = parsed.file_issue
    assert issue is not None and issue.reason_code == "FILE_CONTAINS_PERSONAL_DATA"
    assert (issue.row_ref, issue.field) == ("row 3 col E", "note")
    assert issue.params == {
        "kind": "mobile number and resident ID number",
        "kind_zh": "手机号码、居民身份证号码",
        "count": 2,
    }
    assert len(parsed.rejections) == 3
