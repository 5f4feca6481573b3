"""Parsing of the values people type into spreadsheets: numbers, periods, dates, units and codes.

Pure functions, no I/O: each either returns the parsed value or raises :class:`ValueProblem` with a
reason code from :mod:`ingest.errors` (the caller adds the file, row and field).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

# Written in cells to mean "no value": blank, dashes of every width, and the usual abbreviations.
MISSING_MARKERS = frozenset({"", "-", "--", "---", "—", "——", "–", "––", "/", "n/a", "na", "null", "none"})

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff\u2060"), None)


class ValueProblem(Exception):
    """A cell that cannot be parsed: ``code`` is a row reason code, ``params`` fill its message."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(f"{code}: {params}")


def normalize_text(raw: Any) -> str:
    """Cell content as clean text: NFKC (full-width digits and punctuation become ASCII), no
    invisible characters, no surrounding spaces (including the ideographic space)."""
    if raw is None:
        return ""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw)
    if text.isascii():  # the common case: NFKC and the invisible characters cannot apply
        return text.strip()
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE).strip()


_FULL_WIDTH_DIGITS = frozenset("０１２３４５６７８９")


def has_exotic_digits(text: str) -> bool:
    """True when a character other than an ASCII or a full-width digit becomes a digit under NFKC:
    superscripts ("12¹" would read 121), circled numbers ("⑫" would read 12), other scripts'
    digits. Such a cell is refused, never read as the number NFKC makes of it (issue #23 point 6)."""
    if text.isascii():
        return False
    return any(
        not char.isascii()
        and char not in _FULL_WIDTH_DIGITS
        and any(c.isdigit() for c in unicodedata.normalize("NFKC", char))
        for char in text
    )


def is_missing(raw: Any) -> bool:
    """True for a blank cell or one of the markers that mean "no value" ("——", "-", ...)."""
    if raw is None:
        return True
    if isinstance(raw, int):
        return False
    if isinstance(raw, float):
        return math.isnan(raw)
    # NFKC turns the full-width "－" into "-"; the em dash survives it and is listed as such.
    return normalize_text(raw).lower() in MISSING_MARKERS


@dataclass(frozen=True)
class ParsedNumber:
    """A parsed numeric cell: ``percent`` records a trailing % sign; ``decimals`` the precision
    written, used as the tolerance when a value is checked against numerator/denominator."""

    value: float
    percent: bool = False
    decimals: int = 0


_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def _decimals_of(text: str) -> int:
    mantissa = re.split("[eE]", text)[0]
    return len(mantissa.split(".", 1)[1]) if "." in mantissa else 0


def parse_number(raw: Any) -> ParsedNumber | None:
    """Parse a numeric cell; None when the cell means "missing".

    Accepts numbers from spreadsheets as they are, and text with surrounding spaces, full-width
    digits, thousands separators in groups of three ("1,200", "１，２００"), a trailing percent
    sign ("99.5%") and a leading sign. Anything else raises ``ValueProblem("VALUE_NOT_NUMBER")``;
    a lone "1,2" is refused rather than guessed (decimal comma or a typo?).
    """
    if is_missing(raw):
        return None
    if isinstance(raw, bool):
        raise ValueProblem("VALUE_NOT_NUMBER", value=str(raw))
    if isinstance(raw, str) and raw.lstrip().startswith("="):
        raise ValueProblem("FORMULA_NOT_COMPUTED", formula=normalize_text(raw)[:80])
    if isinstance(raw, int):
        return ParsedNumber(float(raw))
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueProblem("VALUE_NOT_NUMBER", value=str(raw))
        return ParsedNumber(raw, decimals=_decimals_of(repr(raw)) if not raw.is_integer() else 0)
    # Inner spaces are not removed: "1 2" is a typo, not twelve.
    if has_exotic_digits(str(raw)):
        raise ValueProblem("VALUE_NOT_NUMBER", value=str(raw).strip())
    text = normalize_text(raw)
    percent = text.endswith("%")
    body = text[:-1].rstrip() if percent else text
    if _GROUPED_NUMBER.fullmatch(body):
        body = body.replace(",", "")
    if not _PLAIN_NUMBER.fullmatch(body):
        raise ValueProblem("VALUE_NOT_NUMBER", value=normalize_text(raw))
    value = float(body)
    if not math.isfinite(value):
        raise ValueProblem("VALUE_NOT_NUMBER", value=normalize_text(raw))
    return ParsedNumber(value, percent=percent, decimals=_decimals_of(body))


# --- periods -------------------------------------------------------------------------------------

_CHINESE_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4}
_QUARTER = r"(?:[Qq]([1-4])|第?([1-4一二三四])季度?|第([1-4]))"
_PERIOD_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\d{4})(?:年|年度|年全年)?"), "year"),
    # "2023Q2", "2023-q2", "2023年第2季度", "2023年第二季度", "2023年二季度", "2023年2季度".
    (re.compile(r"(\d{4})(?:年)?[-/.]?" + _QUARTER), "quarter"),
    (re.compile(r"(\d{4})[-/.](\d{1,2})"), "month"),
    (re.compile(r"(\d{4})年(\d{1,2})月(?:份|末|底)?"), "month"),
    # A span of months ("2023年1-6月", "2023年1月-6月", "2023年1至6月"): see ``_span_period``.
    (re.compile(r"(\d{4})年?(\d{1,2})月?[-~至到—–](\d{1,2})月(?:份|末|底)?"), "span"),
    (re.compile(r"(\d{4})年?(上半年|下半年|前三季度)"), "half"),
    # A day ("2023-6-30", "2023年6月30日") says when, not which period: refused as ambiguous.
    (re.compile(r"(\d{4})(?:[-/.](\d{1,2})[-/.]|年(\d{1,2})月)(\d{1,2})日?"), "day"),
)
_NAMED_SPANS = {"上半年": (1, 6), "下半年": (7, 12), "前三季度": (1, 9)}


def _span_period(year: int, first: int, last: int, text: str) -> str:
    """The period of a span of months: the whole year is the year; a span that is one quarter or
    runs from January to a quarter's end is that quarter (values are as of a period's end, so
    "1-6月" and "上半年" are the second quarter: docs/submissions.md); any other span is refused."""
    if not 1 <= first <= last <= 12:
        raise ValueProblem("PERIOD_INVALID", value=text)
    if (first, last) == (1, 12):
        return f"{year:04d}"
    if last % 3 == 0 and first in {1, last - 2}:
        return f"{year:04d}-Q{last // 3}"
    raise ValueProblem("PERIOD_AMBIGUOUS", value=text, hint_zh=_SPAN_HINT_ZH, hint_en=_SPAN_HINT_EN)


_SPAN_HINT_ZH = "跨月区间只接受整季度、1月至季末或全年（如 1-3月、4-6月、1-6月、1-12月）"
_SPAN_HINT_EN = (
    "a span of months must be a quarter, January to a quarter's end, or the whole year (1-3, 4-6, 1-6, 1-12)"
)
_DAY_HINT_ZH = "日期不是统计期，无法判断是月、季度还是年度"
_DAY_HINT_EN = "a day is not a period: it could mean the month, the quarter or the year"
_DECIMAL_MONTH = re.compile(r"(\d{4})\.(\d{1,2})")


def _number_period(raw: float) -> str:
    """A period typed as a number: 2023.06 is June; 2023.1 is refused, since 2023.10 is stored
    as 2023.1 too (January or October?)."""
    match = _DECIMAL_MONTH.fullmatch(repr(raw))
    if match and match.group(2) != "1" and 1 <= int(match.group(2)) <= 12:
        return f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"
    raise ValueProblem("PERIOD_INVALID", value=repr(raw))


def parse_period(raw: Any) -> str:
    """Canonical period text: ``YYYY``, ``YYYY-Qn`` or ``YYYY-MM``.

    Accepts the usual spellings: "2023", "2023年", "2023年度", "2023Q2", "2023-q2",
    "2023年第2季度", "2023年第二季度", "2023年二季度", "2023-6", "2023/06", "2023.06" (also as a
    number), "2023年6月", spans of months ("2023年1-6月", "上半年": the quarter they end), full-width
    digits, and a spreadsheet date (taken as its month). Raises ``PERIOD_MISSING``,
    ``PERIOD_INVALID`` or ``PERIOD_AMBIGUOUS`` (a day written as text, a span that is no quarter).
    """
    if isinstance(raw, datetime | date):
        return f"{raw.year:04d}-{raw.month:02d}"
    if is_missing(raw):
        raise ValueProblem("PERIOD_MISSING")
    serial = excel_serial_date(raw)
    if serial is not None:
        raise ValueProblem("PERIOD_EXCEL_SERIAL", value=normalize_text(raw), date=serial.isoformat())
    if isinstance(raw, float) and not raw.is_integer():
        return _number_period(raw)
    if isinstance(raw, str) and has_exotic_digits(raw):
        raise ValueProblem("PERIOD_INVALID", value=raw.strip())
    text = normalize_text(raw).replace(" ", "")
    for pattern, kind in _PERIOD_PATTERNS:
        match = pattern.fullmatch(text)
        if not match:
            continue
        year = int(match.group(1))
        if kind == "year":
            return f"{year:04d}"
        if kind == "quarter":
            quarter = next(group for group in match.groups()[1:] if group)
            return f"{year:04d}-Q{_CHINESE_NUMERALS.get(quarter, quarter)}"
        if kind == "span":
            return _span_period(year, int(match.group(2)), int(match.group(3)), text)
        if kind == "half":
            return _span_period(year, *_NAMED_SPANS[match.group(2)], text)
        if kind == "day":
            raise ValueProblem("PERIOD_AMBIGUOUS", value=text, hint_zh=_DAY_HINT_ZH, hint_en=_DAY_HINT_EN)
        month = int(match.group(2))
        if 1 <= month <= 12:
            return f"{year:04d}-{month:02d}"
    raise ValueProblem("PERIOD_INVALID", value=normalize_text(raw))


# Excel's day 0 is 1899-12-30 (serials count from there, including the fictitious 1900-02-29).
_EXCEL_EPOCH = date(1899, 12, 30)
_SERIAL = re.compile(r"(\d{5})(?:\.\d+)?")


def excel_serial_date(raw: Any) -> date | None:
    """The date an Excel date serial stands for, when a cell looks like one (a five-digit number
    between 1990 and 2099: 32874-73415), else None. A period cell that Excel turned into a date and
    then lost its date format shows up as such a number."""
    if isinstance(raw, bool):
        return None
    text = normalize_text(raw).replace(" ", "")
    match = _SERIAL.fullmatch(text)
    if not match or not 32874 <= int(match.group(1)) <= 73415:
        return None
    return date.fromordinal(_EXCEL_EPOCH.toordinal() + int(match.group(1)))


def period_year(period: str) -> int:
    """The year of a canonical period."""
    return int(period[:4])


def check_period_window(period: str, first_year: int, last_year: int) -> None:
    """Raise ``PERIOD_OUT_OF_WINDOW`` unless the period's year is inside the programme window."""
    if not first_year <= period_year(period) <= last_year:
        raise ValueProblem("PERIOD_OUT_OF_WINDOW", value=period, first=first_year, last=last_year)


def period_end(period: str) -> date:
    """The last day of a canonical period (a value is as of the period's end)."""
    year = period_year(period)
    if len(period) == 4:
        return date(year, 12, 31)
    month = int(period[6]) * 3 if period[5] == "Q" else int(period[5:7])
    next_month = date(year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(next_month.toordinal() - 1)


# --- dates and codes -----------------------------------------------------------------------------

_DATE_PATTERNS = (
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)


def parse_date(raw: Any) -> date | None:
    """A date cell: spreadsheet dates, "2023-05-12", "2023/5/12", "2023年5月12日", "20230512".

    None when missing; ``DATE_INVALID`` otherwise.
    """
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if is_missing(raw):
        return None
    text = normalize_text(raw).replace(" ", "")
    text = text.split("T", 1)[0]
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            try:
                return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            except ValueError:
                break
    raise ValueProblem("DATE_INVALID", value=normalize_text(raw))


def clean_code(raw: Any) -> str:
    """A code cell as text: spreadsheets turn "330102" into 330102 or 330102.0; undo that.

    Returns "" for a missing cell. Letters are upper-cased (measure codes are "PP01").
    """
    if is_missing(raw):
        return ""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, str) and has_exotic_digits(raw):
        # Left as written (not normalised): "33010②" is no region code, not 330102.
        return raw.strip().replace(" ", "").upper()
    return normalize_text(raw).replace(" ", "").upper()


def clean_text(raw: Any) -> str | None:
    """Free text (notes, evidence): normalised, None when blank."""
    if raw is None:
        return None
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    text = normalize_text(raw)
    return text or None


def raw_text(raw: Any) -> str | None:
    """The cell exactly as submitted, as text, for lineage (``value_text``, quarantine records)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, datetime | date):
        return raw.isoformat()
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


# --- units ---------------------------------------------------------------------------------------

_MONEY_PREFIX = {
    "": 1.0,
    "百": 100.0,
    "千": 1_000.0,
    "万": 10_000.0,
    "十万": 100_000.0,
    "百万": 1_000_000.0,
    "千万": 10_000_000.0,
    "亿": 100_000_000.0,
}
_COUNT_WORDS = frozenset("个家人张座处所件次名位户床条项间")
_PER_YEAR = {"年": 1.0, "月": 12.0, "季": 4.0, "季度": 4.0}
_PERCENT_WORDS = frozenset({"%", "百分比", "百分率", "percent", "pct"})


@dataclass(frozen=True)
class UnitDimension:
    """What a unit measures: ``family`` (money, money_per_time, percent, count or a literal unit)
    and ``factor`` to the family's base (yuan per year, yuan, percent, one item)."""

    family: str
    factor: float


def _normalize_unit(unit: str) -> str:
    text = normalize_text(unit).lower()
    # "元/人·年", "元/(人·月)", "元／人／月": the person is implicit in a per-person standard.
    for noise in (" ", "(", ")", "（", "）", "·", "•", "・", "*"):
        text = text.replace(noise, "")
    return text.replace("/人/", "/").replace("/人", "/").replace("//", "/").rstrip("/")


# Unit codes of measures.csv (the canonical units) and their family.
UNIT_CODES: dict[str, UnitDimension] = {
    "yuan_per_year": UnitDimension("money_per_time", 1.0),
    "yuan_per_month": UnitDimension("money_per_time", 12.0),
    "yuan": UnitDimension("money", 1.0),
    "10k_yuan": UnitDimension("money", 10_000.0),
    "100m_yuan": UnitDimension("money", 100_000_000.0),
    "percent": UnitDimension("percent", 1.0),
    "count": UnitDimension("count", 1.0),
    "regions": UnitDimension("count", 1.0),
    "persons": UnitDimension("count", 1.0),
}


def unit_dimension(unit: str) -> UnitDimension:
    """Classify a unit text or unit code. Units outside the known families are their own family
    (factor 1), so "每万老年人" converts only to itself."""
    text = _normalize_unit(unit)
    if text in UNIT_CODES:
        return UNIT_CODES[text]
    if text in _PERCENT_WORDS:
        return UnitDimension("percent", 1.0)
    money = re.fullmatch(r"(百|千|万|十万|百万|千万|亿)?元(?:/(年|月|季度|季))?", text)
    if money:
        factor = _MONEY_PREFIX[money.group(1) or ""]
        if money.group(2):
            return UnitDimension("money_per_time", factor * _PER_YEAR[money.group(2)])
        return UnitDimension("money", factor)
    count = re.fullmatch(r"(万)?(?:[个家人张座处所件次名位户床条项间]|人次)", text)
    if count:
        return UnitDimension("count", 10_000.0 if count.group(1) else 1.0)
    return UnitDimension(text, 1.0)


def unit_factor(
    submitted: str | None,
    canonical: str,
    *,
    canonical_aliases: tuple[str, ...] = (),
    per_year_standard: bool = False,
) -> float:
    """The factor that converts a value in ``submitted`` into ``canonical``.

    A blank submitted unit means the canonical one; so does any of ``canonical_aliases`` (the
    Chinese unit of the measure, e.g. "每万老年人"). ``per_year_standard`` marks yuan standards,
    where a plain "元" means yuan per year and "元/月" converts x12. Raises
    ``UNIT_UNCONVERTIBLE`` when the families differ.
    """
    if submitted is None or is_missing(submitted):
        return 1.0
    wanted = {_normalize_unit(name) for name in (canonical, *canonical_aliases) if name}
    if _normalize_unit(submitted) in wanted:
        return 1.0
    have, want = unit_dimension(submitted), unit_dimension(canonical)
    if per_year_standard:
        # A yuan standard is per year: "元" and "元/年" are the same unit there.
        if have.family == "money":
            have = UnitDimension("money_per_time", have.factor)
        if want.family == "money":
            want = UnitDimension("money_per_time", want.factor)
    if have.family != want.family:
        raise ValueProblem("UNIT_UNCONVERTIBLE", unit=normalize_text(submitted), canonical=canonical)
    return have.factor / want.factor


def format_number(value: float, decimals: int | None = None) -> str:
    """Short human text for a number in messages (no float noise)."""
    if decimals is not None:
        return f"{value:.{decimals}f}"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"
