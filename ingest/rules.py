"""What a valid row is, one definition for both validation paths: the rows and the context, the
checks a value record must pass (period window, department, region, level, rounding tolerance) and
the plausible bounds. ``ingest.validate`` (record by record) and ``ingest.fastpath`` (whole columns)
both import these; neither imports the other's internals.
有效行的定义与校验规则：逐行校验与列式快速路径共用。
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ingest.errors import Issue, RowError
from ingest.reference import Measure, Reference
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


def region_of(values: dict[str, Any], reference: Reference, *, default: str | None = None) -> str:
    code = clean_code(values.get("region_code"))
    if not code:
        if default:
            return default
        raise RowError("REGION_MISSING", "region_code")
    if code not in reference.regions:
        raise RowError("REGION_UNKNOWN", "region_code", value=code)
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
