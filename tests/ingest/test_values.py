"""Value, period, date, code and unit parsing: every rule, and properties with hypothesis."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.errors import render
from ingest.values import (
    ValueProblem,
    check_period_window,
    clean_code,
    is_missing,
    parse_date,
    parse_number,
    parse_period,
    period_end,
    unit_factor,
)

FULL_WIDTH = str.maketrans("0123456789.,%-", "０１２３４５６７８９．，％－")


@pytest.mark.parametrize(
    ("raw", "value", "percent"),
    [
        ("1,200", 1200.0, False),
        ("1,234,567.5", 1234567.5, False),
        ("99.5%", 99.5, True),
        ("  42  ", 42.0, False),
        ("\u3000 7 \u3000", 7.0, False),  # ideographic spaces
        ("１２００", 1200.0, False),  # full-width digits
        ("１，２００．５", 1200.5, False),
        ("９９．５％", 99.5, True),
        ("-3", -3.0, False),
        ("+3", 3.0, False),
        (".5", 0.5, False),
        ("1e3", 1000.0, False),
        (12, 12.0, False),
        (12.25, 12.25, False),
    ],
)
def test_parse_number_accepts_what_people_type(raw: object, value: float, percent: bool) -> None:
    parsed = parse_number(raw)
    assert parsed is not None
    assert parsed.value == pytest.approx(value)
    assert parsed.percent is percent


@pytest.mark.parametrize("raw", [None, "", "   ", "-", "--", "—", "——", "－", "N/A", "null", float("nan")])
def test_missing_markers_mean_missing(raw: object) -> None:
    assert is_missing(raw)
    assert parse_number(raw) is None


@pytest.mark.parametrize(
    "raw", ["abc", "1,2", "12,34", "1.2.3", "1 2", "%", "12%%", "inf", True, float("inf")]
)
def test_parse_number_refuses_garbage(raw: object) -> None:
    with pytest.raises(ValueProblem) as error:
        parse_number(raw)
    assert error.value.code == "VALUE_NOT_NUMBER"


def test_decimals_are_recorded_for_tolerance() -> None:
    assert parse_number("99.50").decimals == 2
    assert parse_number("1,200").decimals == 0
    assert parse_number(0.25).decimals == 2


finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_thousands_separators_round_trip(number: int) -> None:
    assert parse_number(f"{number:,}").value == number


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=99))
def test_full_width_and_percent_round_trip(whole: int, cents: int) -> None:
    text = f"{whole:,}.{cents:02d}%"
    parsed = parse_number(text.translate(FULL_WIDTH))
    assert parsed.percent
    assert parsed.value == pytest.approx(whole + cents / 100)


@given(finite, st.sampled_from(["", " ", "\u3000", "\t"]))
def test_repr_with_spaces_round_trips(number: float, pad: str) -> None:
    assert parse_number(f"{pad}{number!r}{pad}").value == number


@given(st.text(max_size=12))
def test_parse_number_never_crashes_otherwise(text: str) -> None:
    try:
        parsed = parse_number(text)
    except ValueProblem as problem:
        # text starting with "=" is a formula (never evaluated); anything else unparseable is not a number
        expected = "FORMULA_NOT_COMPUTED" if text.lstrip().startswith("=") else "VALUE_NOT_NUMBER"
        assert problem.code == expected
    else:
        assert parsed is None or math.isfinite(parsed.value)


@pytest.mark.parametrize(
    ("raw", "period"),
    [
        ("2023", "2023"),
        (2023, "2023"),
        (2023.0, "2023"),
        ("2023年", "2023"),
        ("2023年度", "2023"),
        ("２０２３", "2023"),
        ("2023-Q2", "2023-Q2"),
        ("2023q2", "2023-Q2"),
        ("2023 Q2", "2023-Q2"),
        ("2023年第2季度", "2023-Q2"),
        ("2023-06", "2023-06"),
        ("2023-6", "2023-06"),
        ("2023/06", "2023-06"),
        ("2023.06", "2023-06"),
        ("2023年6月", "2023-06"),
        (datetime(2023, 6, 30), "2023-06"),
        # Issue #20: as clerks write them.
        ("2023年第二季度", "2023-Q2"),
        ("2023年二季度", "2023-Q2"),
        ("2023年2季度", "2023-Q2"),
        ("2024年第三季度", "2024-Q3"),
        ("2023年四季度", "2023-Q4"),
        ("2023年1-6月", "2023-Q2"),
        ("2023年1月-6月", "2023-Q2"),
        ("2023年1～6月", "2023-Q2"),
        ("2023年上半年", "2023-Q2"),
        ("2023年前三季度", "2023-Q3"),
        ("2023年4-6月", "2023-Q2"),
        ("2023年1-3月", "2023-Q1"),
        ("2023年1-12月", "2023"),
        ("2023年全年", "2023"),
        ("2023年6月末", "2023-06"),
        ("2023/6", "2023-06"),
        (2023.06, "2023-06"),
        (2023.12, "2023-12"),
        (date(2023, 6, 1), "2023-06"),
    ],
)
def test_parse_period_spellings(raw: object, period: str) -> None:
    assert parse_period(raw) == period


@pytest.mark.parametrize(
    "raw", ["2023-Q5", "2023-13", "23", "last year", "2023-Q", "20231", "2023年五季度", "2023年0-6月", 2023.1]
)
def test_parse_period_invalid(raw: object) -> None:
    # 2023.1 as a number: typed as 2023.1 (January) or as 2023.10 (October)? Refused.
    with pytest.raises(ValueProblem) as error:
        parse_period(raw)
    assert error.value.code == "PERIOD_INVALID"


@pytest.mark.parametrize(
    "raw", ["2023-6-30", "2023/06/30", "2023年6月30日", "2023年1-5月", "2023年2-6月", "2023年下半年"]
)
def test_parse_period_ambiguous(raw: str) -> None:
    """A day (June 30th: the month, the second quarter or the half-year?) and a span that is no
    quarter are refused with the reason, never guessed."""
    with pytest.raises(ValueProblem) as error:
        parse_period(raw)
    assert error.value.code == "PERIOD_AMBIGUOUS"
    zh, en = render("PERIOD_AMBIGUOUS", error.value.params)
    assert raw.replace(" ", "") in zh and raw.replace(" ", "") in en
    assert "2023年第二季度" in zh and "2023-Q2" in en


def test_parse_period_missing() -> None:
    with pytest.raises(ValueProblem) as error:
        parse_period("——")
    assert error.value.code == "PERIOD_MISSING"


@given(st.integers(1900, 2100), st.sampled_from(["", "-Q1", "-Q4", "-01", "-12"]))
def test_period_window(year: int, suffix: str) -> None:
    period = parse_period(f"{year}{suffix}")
    if 2021 <= year <= 2025:
        check_period_window(period, 2021, 2025)
    else:
        with pytest.raises(ValueProblem) as error:
            check_period_window(period, 2021, 2025)
        assert error.value.code == "PERIOD_OUT_OF_WINDOW"


def test_period_end() -> None:
    assert period_end("2023") == date(2023, 12, 31)
    assert period_end("2023-Q1") == date(2023, 3, 31)
    assert period_end("2024-02") == date(2024, 2, 29)
    assert period_end("2023-12") == date(2023, 12, 31)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-05-12", date(2023, 5, 12)),
        ("2023/5/12", date(2023, 5, 12)),
        ("2023年5月12日", date(2023, 5, 12)),
        ("20230512", date(2023, 5, 12)),
        (datetime(2023, 5, 12, 10, 0), date(2023, 5, 12)),
        ("", None),
    ],
)
def test_parse_date(raw: object, expected: date | None) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw", ["2023-02-30", "May 12", "12/05/2023"])
def test_parse_date_invalid(raw: str) -> None:
    with pytest.raises(ValueProblem) as error:
        parse_date(raw)
    assert error.value.code == "DATE_INVALID"


@pytest.mark.parametrize(
    ("raw", "code"),
    [(330102, "330102"), (330102.0, "330102"), (" ３３０１０２ ", "330102"), ("pp01", "PP01")],
)
def test_clean_code(raw: object, code: str) -> None:
    assert clean_code(raw) == code


@pytest.mark.parametrize(
    ("submitted", "canonical", "factor", "level"),
    [
        (None, "yuan_per_year", 1, True),
        ("", "count", 1, False),
        ("元/月", "yuan_per_year", 12, True),
        ("元/人·月", "yuan_per_year", 12, True),
        ("元/(人·月)", "yuan_per_year", 12, True),
        ("元/人·年", "yuan_per_year", 1, True),
        ("元", "yuan_per_year", 1, True),
        ("万元", "100m_yuan", 1e-4, False),
        ("亿元", "100m_yuan", 1, False),
        ("元", "100m_yuan", 1e-8, False),
        ("万人", "count", 10_000, False),
        ("个", "count", 1, False),
        ("家", "count", 1, False),
        ("人", "count", 1, False),
        ("张", "count", 1, False),
        ("个", "regions", 1, False),
        ("%", "percent", 1, False),
        ("％", "percent", 1, False),
        ("百分比", "percent", 1, False),
    ],
)
def test_unit_conversion(submitted: str | None, canonical: str, factor: float, level: bool) -> None:
    assert unit_factor(submitted, canonical, per_year_standard=level) == pytest.approx(factor)


def test_unit_alias_of_the_measure_is_accepted() -> None:
    assert unit_factor("每万老年人", "per_10k_elderly", canonical_aliases=("每万老年人",)) == 1


@pytest.mark.parametrize(
    ("submitted", "canonical"),
    [
        ("公斤", "count"),
        ("元/月", "100m_yuan"),
        ("%", "count"),
        ("个", "percent"),
        ("人/万人", "per_10k_elderly"),
    ],
)
def test_unconvertible_units(submitted: str, canonical: str) -> None:
    with pytest.raises(ValueProblem) as error:
        unit_factor(submitted, canonical)
    assert error.value.code == "UNIT_UNCONVERTIBLE"
    assert error.value.params["unit"] == submitted
