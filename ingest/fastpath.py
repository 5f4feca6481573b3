"""Vectorized fast path for value records: decide the PLAIN rows of a file in one pass.

:func:`ingest.validate.validate_value_record` costs tens of microseconds per row, almost all of it
re-parsing cells that repeat (codes, periods, units) or that are plain decimals. This module
decides, for a whole long- or wide-layout file at once, which records the Python validator is
*certain* to accept, and builds their :class:`~ingest.validate.SubmissionRow` exactly as it would.
Every other record is left to the Python validator (``None`` in the result), so every refusal
keeps its reason code, field and message; the duplicate-key pass of ``validate_records`` runs over
fast and slow rows alike.

How it stays exact:

- Low-cardinality cells (department, region, measure, period, unit, note, and the non-numeric
  spellings of numeric cells such as "——") are dictionary-encoded with pyarrow; the validator's
  own helpers (``_region``, ``_period``, ``_check_level``, ``unit_factor``, ``clean_text``...)
  run once per *distinct* value and the verdict is broadcast back. No rule is re-implemented for
  them, so they cannot drift from the slow path.
- Numeric cells are plain only when they are ASCII ``\\d+`` or ``\\d+.\\d+`` (at most 18 digits on
  each side): no sign, %, separators, exponent, spaces or full-width digits. Arrow's string to
  float64 cast is correctly rounded, like Python's ``float()``, so the values are bit-identical.
- The kind rules (parts, rate range, integral counts, value vs numerator/denominator tolerance) are
  the same IEEE float64 operations as the validator, in the same order, vectorized. Where a
  comparison could differ on a non-finite value the fast path is stricter, never looser.
- Any cell that is not ``str`` or ``None`` (XLSX numbers, JSON values) sends its row to the slow
  path; anything unexpected in the arrays themselves makes the fast path decline the whole file.

Switch: ``SCORECARD_INGEST_FASTPATH=0`` (or :data:`FORCE` = False, for tests) disables it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from itertools import compress, repeat
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from ingest.errors import RowError
from ingest.layout import RawRecord
from ingest.readers import paused_gc
from ingest.reference import Measure
from ingest.validate import (
    SubmissionRow,
    ValidationContext,
    _check_department,
    _check_level,
    _period,
    _region,
    _tolerance,
)
from ingest.values import (
    ParsedNumber,
    ValueProblem,
    clean_code,
    clean_text,
    is_missing,
    normalize_text,
    unit_factor,
)
from ingest.values import raw_text as _raw_text

ENV_SWITCH = "SCORECARD_INGEST_FASTPATH"
# Tests set this to force the fast path on or off; None defers to the environment (default on).
FORCE: bool | None = None

# A numeric cell the fast path takes as is. Deliberately narrower than ``parse_number``: a sign,
# "%", "1,200", "1e3", " 12", "５" all go to the slow path, which knows their exact rules.
PLAIN_NUMBER = r"^[0-9]{1,18}(\.[0-9]{1,18})?$"
_MAX_DECIMALS = 18
# Python evaluates ``100 + 1e-9`` to this float; the same constant keeps the comparison identical.
_RATE_CEILING = 100 + 1e-9

_FIELDS = ("department", "region_code", "measure_code", "period", "value", "numerator", "denominator")
_FIELDS += ("unit", "note")

T = TypeVar("T")

# Rows are built with positional arguments (see ``_plain_value_rows``): fail at import, not
# silently, if SubmissionRow's fields are ever reordered.
_ROW_FIELDS = ("row_ref", "department_code", "region_code", "measure_code", "period", "value")
_ROW_FIELDS += ("numerator", "denominator", "unit_submitted", "value_text", "note")
if tuple(field.name for field in fields(SubmissionRow)) != _ROW_FIELDS:  # pragma: no cover
    raise ImportError("ingest.fastpath: SubmissionRow's fields changed; update _plain_value_rows")


def enabled() -> bool:
    """True unless switched off by :data:`FORCE` or ``SCORECARD_INGEST_FASTPATH=0``."""
    if FORCE is not None:
        return FORCE
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in {"0", "false", "no", "off"}


@dataclass
class FastPathStats:
    """What the last call decided (read by the tests, so a regression to "everything slow" shows)."""

    records: int = 0
    plain: int = 0
    declined: str | None = None  # why the whole file went to the slow path, if it did


last_stats = FastPathStats()


class _Decline(Exception):
    """The fast path gives up on the whole file (the slow path then decides every row)."""


class _Slow:
    """Marker for a distinct value the validator would refuse or treat specially."""


SLOW = _Slow()


@dataclass
class _Distinct:
    """A column dictionary-encoded: the per-row index, and the verdict for each distinct value."""

    indices: pa.Array  # int32, one per row, never null
    results: list[Any]  # per distinct value: the validator's result, or SLOW

    def ok(self) -> pa.Array:
        """Per row: the distinct value's verdict is not SLOW."""
        flags = pa.array([result is not SLOW for result in self.results], pa.bool_())
        return pc.take(flags, self.indices)

    def take(self, per_distinct: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
        """Broadcast one attribute of each distinct value to the rows."""
        return pc.take(pa.array(per_distinct, arrow_type), self.indices)


def _distinct(array: pa.Array, decide: Callable[[Any], Any]) -> _Distinct:
    """Run ``decide`` once per distinct value (None included); SLOW when it raises RowError."""
    encoded = pc.dictionary_encode(array, null_encoding="encode")
    results: list[Any] = []
    for value in encoded.dictionary.to_pylist():
        try:
            results.append(decide(value))
        except (RowError, ValueProblem):
            results.append(SLOW)
    return _Distinct(encoded.indices.cast(pa.int32()), results)


def _string_column(cells: list[Any], odd: list[bool]) -> pa.Array:
    """Cells as an Arrow string array; a cell of another type becomes null and marks its row odd
    (slow path): an XLSX number or a JSON value has rules of its own in ``parse_number`` etc."""
    if not set(map(type, cells)) <= {str, type(None)}:
        for position, cell in enumerate(cells):
            if cell is not None and type(cell) is not str:
                odd[position] = True
        cells = [cell if type(cell) is str else None for cell in cells]
    try:
        return pa.array(cells, pa.string())
    except (pa.ArrowException, UnicodeError) as error:  # e.g. a lone surrogate from JSON
        raise _Decline(f"cells not encodable: {type(error).__name__}") from None


def _combine(left: _Distinct, right: _Distinct) -> pa.Array:
    """One int64 code per row for the pair (left value, right value)."""
    width = max(len(right.results), 1)
    return pc.add(pc.multiply(left.indices.cast(pa.int64()), width), right.indices.cast(pa.int64()))


def _pairs(left: _Distinct, right: _Distinct, decide: Callable[[Any, Any], bool]) -> pa.Array:
    """Per row: ``decide(left result, right result)`` run once per distinct pair present."""
    codes = _combine(left, right)
    width = max(len(right.results), 1)
    present = pc.unique(codes)
    verdicts = []
    for code in present.to_pylist():
        first, second = divmod(code, width)
        a, b = left.results[first], right.results[second]
        try:
            verdicts.append(a is not SLOW and b is not SLOW and bool(decide(a, b)))
        except (RowError, ValueProblem):
            verdicts.append(False)
    return pc.take(pa.array(verdicts, pa.bool_()), pc.index_in(codes, value_set=present))


@dataclass
class _Numbers:
    """A numeric column: which rows hold a plain number, its value, and whether the row is fine
    for the fast path (a plain number or a cell the validator reads as missing)."""

    present: pa.Array  # bool, never null
    value: pa.Array  # float64, null where not present
    ok: pa.Array  # bool, never null
    missing_text: _Distinct  # raw_text of the non-numeric cells ("——" stays "——", blank -> None)
    decimals: pa.Array  # int32: digits after the point (``ParsedNumber.decimals``)


def _numbers(array: pa.Array) -> _Numbers:
    plain = pc.fill_null(pc.match_substring_regex(array, PLAIN_NUMBER), False)
    others = pc.if_else(plain, pa.scalar(None, pa.string()), array)
    # A non-numeric cell is fine only when the validator reads it as "missing" (blank, "——", "-").
    missing = _distinct(others, lambda cell: _raw_text(cell) if is_missing(cell) else SLOW)
    numbers = pc.cast(pc.if_else(plain, array, pa.scalar(None, pa.string())), pa.float64())
    point = pc.find_substring(array, ".")
    length = pc.utf8_length(array)
    decimals = pc.if_else(pc.greater_equal(point, 0), pc.subtract(pc.subtract(length, point), 1), 0)
    # Only plain numbers index the tolerance table (others could have any length).
    decimals = pc.fill_null(pc.if_else(plain, decimals, 0), 0).cast(pa.int32())
    return _Numbers(plain, numbers, pc.or_kleene(plain, missing.ok()), missing, decimals)


def _measure_decider(context: ValidationContext, from_record: bool) -> Callable[[Any], Measure]:
    reference = context.reference

    def decide(cell: Any) -> Measure:
        # The validator's own order: missing, unknown, status, other department (all refusals).
        code = cell if from_record else clean_code(cell)
        if not code:
            raise RowError("MEASURE_MISSING")
        measure = reference.measures.get(code)
        if measure is None or measure.code != code or measure.submitted_via == "status":
            raise RowError("MEASURE_UNKNOWN")
        if measure.department_code and measure.department_code != context.department_code:
            raise RowError("MEASURE_WRONG_DEPARTMENT")
        return measure

    return decide


def _all(*conditions: pa.Array) -> pa.Array:
    result = conditions[0]
    for condition in conditions[1:]:
        result = pc.and_kleene(result, condition)
    return pc.fill_null(result, False)


def plain_value_rows(records: Sequence[RawRecord], context: ValidationContext) -> list[SubmissionRow | None]:
    """For each record of a long or wide file: the row the validator would produce, when the record
    is plain, else None (the caller runs :func:`ingest.validate.validate_value_record` on it)."""
    global last_stats
    last_stats = FastPathStats(records=len(records))
    if not records:
        return []
    try:
        rows = _plain_value_rows(records, context)
    except _Decline as decline:
        last_stats.declined = str(decline)
        return [None] * len(records)
    last_stats.plain = sum(row is not None for row in rows)
    return rows


def _plain_value_rows(records: Sequence[RawRecord], context: ValidationContext) -> list[SubmissionRow | None]:
    count = len(records)
    values = [record.values for record in records]
    # A record's measure comes from the registry (wide) or from its cell (long), never a mix in the
    # files our extractors build; a mix is left to the slow path rather than handled twice.
    from_record = [bool(record.measure_code) for record in records]
    if any(from_record) and not all(from_record):
        raise _Decline("records mix registry and cell measure codes")
    by_record = from_record[0]
    odd = ["__not_object__" in value for value in values]
    # map(dict.get, ...) runs the per-record lookups in C: this gathering is the main Python cost.
    cells = {name: list(map(dict.get, values, repeat(name))) for name in _FIELDS}
    if by_record:
        cells["measure_code"] = [record.measure_code for record in records]
    arrays = {name: _string_column(column, odd) for name, column in cells.items()}
    record_units = _string_column([record.unit for record in records], odd)

    # Codes, department and period: the validator's own helpers, once per distinct cell.
    department = _distinct(
        arrays["department"], lambda cell: _check_department({"department": cell}, context)
    )
    region = _distinct(arrays["region_code"], lambda cell: _region({"region_code": cell}, context.reference))
    measure = _distinct(arrays["measure_code"], _measure_decider(context, by_record))
    period = _distinct(arrays["period"], lambda cell: _period({"period": cell}, context))
    regions = context.reference.regions
    level_ok = _pairs(
        region, measure, lambda code, m: _check_level(code, m, context.reference) is None and code in regions
    )

    # Numbers.
    value = _numbers(arrays["value"])
    numerator = _numbers(arrays["numerator"])
    denominator = _numbers(arrays["denominator"])

    # Unit: the cell unless it means "missing", else the registry's unit for the column.
    unit_cell_missing = _distinct(arrays["unit"], is_missing)
    unit_text = pc.if_else(
        unit_cell_missing.take(unit_cell_missing.results, pa.bool_()), record_units, arrays["unit"]
    )
    unit = _distinct(unit_text, lambda text: normalize_text(text) if not is_missing(text) else None)

    def unit_is_canonical(m: Measure, label: str | None) -> bool:
        # Only a factor of exactly 1 is taken here; conversions (元/月, 万元...) go to the slow path.
        factor = unit_factor(
            label, m.unit, canonical_aliases=(m.unit_zh,), per_year_standard=m.kind == "level"
        )
        return factor == 1.0

    unit_ok = pc.or_kleene(pc.invert(value.present), _pairs(measure, unit, unit_is_canonical))
    note = _distinct(arrays["note"], clean_text)

    # Kind rules, per row from the measure's attributes.
    measures = [m if m is not SLOW else None for m in measure.results]
    takes_parts = measure.take([bool(m and m.takes_parts) for m in measures], pa.bool_())
    is_rate = measure.take([bool(m and m.kind == "rate") for m in measures], pa.bool_())
    integral = measure.take(
        [bool(m and m.kind in {"count", "regions_meeting"}) for m in measures], pa.bool_()
    )
    scale = measure.take([(m.value_scale or 1.0) if m else 1.0 for m in measures], pa.float64())

    has_parts = pc.or_kleene(numerator.present, denominator.present)
    num, den = numerator.value, denominator.value
    parts_ok = _all(
        takes_parts,
        numerator.present,
        denominator.present,
        pc.greater(den, 0.0),
        pc.greater_equal(num, 0.0),
        pc.or_kleene(pc.invert(is_rate), pc.less_equal(num, den)),
    )
    computed = pc.multiply(pc.divide(num, den), scale)
    # The validator's tolerance, half a unit of the last digit written (factor 1 here), per
    # number of decimals, computed by the validator's own function so the floats are identical.
    tolerance_table = pa.array(
        [_tolerance(ParsedNumber(0.0, decimals=digits), 1.0, 0.0) for digits in range(_MAX_DECIMALS + 1)],
        pa.float64(),
    )
    tolerance = pc.add(
        pc.take(tolerance_table, value.decimals), pc.multiply(pa.scalar(1e-9), pc.abs(computed))
    )
    consistent = pc.less_equal(pc.abs(pc.subtract(value.value, computed)), tolerance)
    converted = pc.if_else(value.present, value.value, computed)
    both = pc.and_kleene(value.present, has_parts)
    checks = _all(
        pc.invert(pa.array(odd, pa.bool_())),
        department.ok(),
        region.ok(),
        measure.ok(),
        level_ok,
        period.ok(),
        value.ok,
        numerator.ok,
        denominator.ok,
        unit.ok(),
        unit_ok,
        note.ok(),
        pc.or_kleene(pc.invert(has_parts), parts_ok),
        pc.or_kleene(pc.invert(both), consistent),
        pc.or_kleene(value.present, has_parts),
        pc.is_finite(converted),
        pc.greater_equal(converted, 0.0),
        pc.or_kleene(pc.invert(is_rate), pc.less_equal(converted, _RATE_CEILING)),
        pc.or_kleene(
            pc.invert(integral),
            pc.less_equal(
                pc.abs(pc.subtract(converted, pc.round(converted, 0, round_mode="half_to_even"))), 1e-6
            ),
        ),
    )
    if len(checks) != count:  # pragma: no cover - a broken invariant, not an input problem
        raise _Decline("row count changed")
    department_code = context.department_code
    mask = checks
    mask_list = mask.to_pylist()
    refs = [record.ref for record in records]

    def chosen(array: pa.Array) -> list[Any]:
        return pc.filter(array, mask).to_pylist()

    def strings(distinct: _Distinct, per_distinct: list[Any]) -> list[Any]:
        return chosen(distinct.take(per_distinct, pa.string()))

    def plain_results(distinct: _Distinct) -> list[Any]:
        return [None if result is SLOW else result for result in distinct.results]

    # A plain number is its own raw text; a "missing" cell keeps what the clerk wrote ("——").
    value_text = pc.if_else(
        value.present,
        arrays["value"],
        value.missing_text.take(plain_results(value.missing_text), pa.string()),
    )
    with paused_gc():
        # Positional arguments, in SubmissionRow's field order (row_ref ... note): the fastest way
        # to build tens of thousands of frozen dataclasses.
        built = list(
            map(
                SubmissionRow,
                compress(refs, mask_list),
                repeat(department_code),
                strings(region, plain_results(region)),
                strings(measure, [None if m is None else m.code for m in measures]),
                strings(period, plain_results(period)),
                chosen(converted),
                chosen(num),  # None where not given, like the validator
                chosen(den),
                strings(unit, plain_results(unit)),
                chosen(value_text),
                strings(note, plain_results(note)),
            )
        )
    if len(built) == count:
        return list(built)  # every row plain: the usual case
    rows: list[SubmissionRow | None] = [None] * count
    for position, row in zip(compress(range(count), mask_list), built, strict=True):
        rows[position] = row
    return rows
