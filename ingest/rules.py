"""What a valid row is, one definition for both validation paths: the rows and the context, the
checks a value record must pass (period window, department, region, level, rounding tolerance) and
the plausible bounds. ``ingest.validate`` (record by record) and ``ingest.fastpath`` (whole columns)
both import these; neither imports the other's internals.
有效行的定义与校验规则：逐行校验与列式快速路径共用。
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from ingest.errors import Issue, RowError
from ingest.reference import Measure, Reference, region_name_key
from ingest.values import (
    ParsedNumber,
    ValueProblem,
    check_period_window,
    clean_code,
    is_missing,
    normalize_text,
    parse_number,
    parse_period,
)

LEVEL_ZH = {"province": "省", "city": "设区市", "county": "县（市、区）"}


@dataclass(frozen=True)
class SubmissionRow:
    """A valid value, in the measure's canonical unit, ready for ``raw.submissions``."""

    row_ref: str
    department_code: str
    region_code: str
    measure_code: str
    period: str
    value: float
    numerator: float | None
    denominator: float | None
    unit_submitted: str | None
    value_text: str | None
    note: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.region_code, self.measure_code, self.period)


@dataclass(frozen=True)
class StatusRow:
    """A valid status report, ready for ``raw.status_reports``."""

    row_ref: str
    department_code: str
    item_code: str
    region_code: str
    period: str
    status: str
    status_date: date | None
    evidence: str | None
    note: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.region_code, self.item_code, self.period)


@dataclass(frozen=True)
class Rejection:
    """A refused record: the issue (reason, field) and the raw record as JSON text."""

    issue: Issue
    raw_record: str


@dataclass
class ValidationContext:
    file_name: str
    department_code: str
    reference: Reference
    first_year: int
    last_year: int
    default_period: str | None = None


def number_of(values: dict[str, Any], name: str) -> ParsedNumber | None:
    try:
        return parse_number(values.get(name))
    except ValueProblem as problem:
        raise RowError(problem.code, name, **problem.params) from None


def period_of(values: dict[str, Any], context: ValidationContext) -> str:
    raw = values.get("period")
    try:
        period = context.default_period if is_missing(raw) and context.default_period else parse_period(raw)
        check_period_window(period, context.first_year, context.last_year)
    except ValueProblem as problem:
        raise RowError(problem.code, "period", **problem.params) from None
    return period


def check_department(values: dict[str, Any], context: ValidationContext) -> None:
    declared = values.get("department")
    if is_missing(declared):
        return
    if context.reference.department_code(normalize_text(declared)) != context.department_code:
        raise RowError(
            "DEPARTMENT_MISMATCH",
            "department",
            value=normalize_text(declared),
            department=context.department_code,
        )


_STATISTICAL_CODE = re.compile(r"(\d{6})(\d{6})")
_NUMBER_CODE = re.compile(r"(\d+)\.0+")


def _region_code_cell(raw: Any, reference: Reference) -> str:
    """The six-digit code of a code cell as it comes: 330106, 330106.0 (Excel), "330 106", or the
    12-digit statistical code 330106000000 (统计用区划代码). A 12-digit code of a township or a
    village is of the wrong level: refused, naming the county it lies in."""
    code = clean_code(raw)
    plain = _NUMBER_CODE.fullmatch(code)
    if plain:
        code = plain.group(1)
    statistical = _STATISTICAL_CODE.fullmatch(code)
    if statistical:
        if statistical.group(2) != "000000":
            county = reference.regions.get(statistical.group(1))
            raise RowError(
                "REGION_CODE_LEVEL",
                "region_code",
                value=code,
                county=statistical.group(1),
                county_name=county.name_zh if county else "",
                county_name_en=county.name_en if county else "",
            )
        code = statistical.group(1)
    return code


def _region_label(code: str, reference: Reference, *, english: bool = False) -> str:
    region = reference.regions[code]
    if english:
        return f"{region.name_en} {code} ({region.level})"
    return f"{region.name_zh} {code}（{LEVEL_ZH.get(region.level, region.level)}）"


def _region_list(codes: tuple[str, ...], reference: Reference) -> dict[str, str]:
    return {
        "candidates": "、".join(_region_label(code, reference) for code in codes) or "（无）",
        "candidates_en": "; ".join(_region_label(code, reference, english=True) for code in codes)
        or "(none)",
    }


def _region_named(name: str, reference: Reference, field_name: str) -> str:
    """The code of a region given by name only: one region, or a refusal listing the candidates."""
    codes = reference.region_codes_named(name)
    if len(codes) == 1:
        return codes[0]
    if len(codes) > 1:
        raise RowError("REGION_AMBIGUOUS", field_name, value=name, **_region_list(codes, reference))
    abolished = reference.abolished_regions.get(region_name_key(name))
    if abolished is not None:
        raise RowError(
            "REGION_ABOLISHED",
            field_name,
            value=name,
            note=abolished.note_zh,
            note_en=abolished.note_en,
            **_region_list(abolished.successors, reference),
        )
    raise RowError(
        "REGION_NAME_UNKNOWN",
        field_name,
        value=name,
        **_region_list(reference.region_suggestions(name), reference),
    )


def region_of(values: dict[str, Any], reference: Reference, *, default: str | None = None) -> str:
    """The region of a record: its code, its name (issue #20: 杭州市, 西湖区, 西湖, Xihu...), or both,
    which must then name the same region (``REGION_NAME_MISMATCH``)."""
    raw_name = values.get("region_name")
    name = "" if is_missing(raw_name) else normalize_text(raw_name)
    code = _region_code_cell(values.get("region_code"), reference)
    if code and not any(char.isdigit() for char in code):
        # A name in the code column (an English form's "Region": Hangzhou, Xihu District).
        return _region_named(normalize_text(values.get("region_code")), reference, "region_code")
    if not code:
        if name:
            return _region_named(name, reference, "region_name")
        if default:
            return default
        raise RowError("REGION_MISSING", "region_code")
    if code not in reference.regions:
        raise RowError("REGION_UNKNOWN", "region_code", value=code)
    if name:
        named = reference.region_codes_named(name)
        # A name that names nothing known is the clerk's label ("市本级"); one that names another
        # region (or one of another level: 杭州市 beside 330106) is a contradiction.
        if named and code not in named:
            coded = reference.regions[code]
            raise RowError(
                "REGION_NAME_MISMATCH",
                "region_name",
                value=name,
                given_code=code,
                code_region=f"{coded.name_zh}，{LEVEL_ZH.get(coded.level, coded.level)}",
                code_region_en=f"{coded.name_en} ({coded.level})",
                **_region_list(named, reference),
            )
    return code


def check_level(region_code: str, measure: Measure, reference: Reference) -> None:
    level = reference.regions[region_code].level
    if level not in measure.region_levels:
        raise RowError(
            "REGION_LEVEL_NOT_ALLOWED",
            "region_code",
            measure=measure.code,
            level=level,
            level_zh=LEVEL_ZH.get(level, level),
            allowed="|".join(measure.region_levels),
        )


def rounding_tolerance(number: ParsedNumber, factor: float, reference_value: float) -> float:
    # Half a unit of the last digit written: "99.5" must match 99.47 but not 99.3.
    return 0.5 * 10.0 ** (-number.decimals) * abs(factor) + 1e-9 * abs(reference_value)


# Beyond any measure's range, and far inside DECIMAL(38,18) (below 1e20) and double precision: a
# value of a measure without a seeded range, and every numerator and denominator, stays below it.
MAX_VALUE = 1e12
MAX_PART = 1e12


def out_of_range(measure: Any, value: float) -> bool:
    """True when ``value`` (canonical unit) lies outside the measure's plausible range."""
    low = measure.min_value if measure.min_value is not None else 0.0
    high = measure.max_value if measure.max_value is not None else MAX_VALUE
    return not low <= value <= high
