"""Vectorized fast path for value records: decide the PLAIN rows of a file in one pass.

:func:`ingest.validate.validate_value_record` costs tens of microseconds per row, almost all of it
re-parsing cells that repeat (codes, periods, units) or that are plain decimals. This module
decides, for a whole long- or wide-layout file at once, which records the Python validator is
*certain* to accept, and builds their :class:`~ingest.rules.SubmissionRow` exactly as it would.
Every other record is left to the Python validator (``None`` in the result), so every refusal
keeps its reason code, field and message; the duplicate-key pass of ``validate_records`` runs over
fast and slow rows alike.

How it stays exact:

- Low-cardinality cells (department, region, measure, period, unit, note, and the non-numeric
  spellings of numeric cells such as "——") are dictionary-encoded with pyarrow; the validator's
  own helpers (``region_of``, ``period_of``, ``check_level``, ``unit_factor``, ``clean_text``...)
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

Two callers: :func:`plain_value_rows` for records already built (XLSX, JSON, wide forms, unusual
CSV), and :mod:`ingest.columnar`, which feeds :func:`decide_columns` Arrow columns read straight
from a plain long-format CSV, batch by batch, and builds records only for the rows left over.

Switch: ``SCORECARD_INGEST_FASTPATH=0`` (or :data:`FORCE` = False, for tests) disables both.
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
from ingest.rules import (
    MAX_PART,
    MAX_VALUE,
    SubmissionRow,
    ValidationContext,
    check_department,
    check_level,
    period_of,
    region_of,
    rounding_tolerance,
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

_FIELDS: tuple[str, ...] = (
    "department",
    "region_code",
    "measure_code",
    "period",
    "value",
    "numerator",
    "denominator",
)
_FIELDS += ("unit", "note", "region_name")

T = TypeVar("T")

# Rows are built with positional arguments (see ``_plain_value_rows``): fail at import, not
# silently, if SubmissionRow's fields are ever reordered.
_ROW_FIELDS: tuple[str, ...] = (
    "row_ref",
    "department_code",
    "region_code",
    "measure_code",
    "period",
    "value",
)
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
    columnar: bool = False  # True when the rows came straight from the CSV bytes (ingest.columnar)


last_stats = FastPathStats()


class Declined(Exception):
    """The fast path gives up on the whole file (the slow path then decides every row)."""


class _Slow:
    """Marker for a distinct value the validator would refuse or treat specially."""


SLOW = _Slow()


@dataclass
class _Distinct:
    """A column dictionary-encoded: the per-row index, and the verdict for each distinct value."""

    indices: pa.Array  # int32, one per row, never null
    results: list[Any]  # per distinct value: the validator's result, or SLOW

    def ok(self) -> pa.Array | pa.Scalar:
        """Per row: the distinct value's verdict is not SLOW (one scalar when all rows agree, which
        saves a column per check on the usual file)."""
        flags = [result is not SLOW for result in self.results]
        if all(flags) or not any(flags):
            return pa.scalar(all(flags), pa.bool_())
        return pc.take(pa.array(flags, pa.bool_()), self.indices)

    def take(self, per_distinct: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
        """Broadcast one attribute of each distinct value to the rows."""
        return pc.take(pa.array(per_distinct, arrow_type), self.indices)


Memo = dict[str, dict[Any, Any]]


def _distinct(array: pa.Array, decide: Callable[[Any], Any], memo: dict[Any, Any] | None = None) -> _Distinct:
    """Run ``decide`` once per distinct value (None included); SLOW when it raises RowError.
    ``memo`` keeps the verdicts across the batches of one file (the same codes recur in each)."""
    encoded = pc.dictionary_encode(array, null_encoding="encode")
    results: list[Any] = []
    for value in encoded.dictionary.to_pylist():
        if memo is not None and value in memo:
            results.append(memo[value])
            continue
        try:
            result = decide(value)
        except (RowError, ValueProblem):
            result = SLOW
        if memo is not None:
            memo[value] = result
        results.append(result)
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
        raise Declined(f"cells not encodable: {type(error).__name__}") from None


class _PairVerdicts:
    """``decide(left result, right result)`` per distinct pair, run once per pair and kept across
    the batches of a file; looked up per row with Arrow (a file has tens of thousands of pairs,
    region x measure, and each batch holds most of them again)."""

    def __init__(self, decide: Callable[[Any, Any], bool]) -> None:
        self.decide = decide
        self.ids: tuple[dict[Any, int], dict[Any, int]] = ({}, {})
        self.values: tuple[list[Any], list[Any]] = ([], [])
        self.codes = pa.array([], pa.int64())
        self.verdicts = pa.array([], pa.bool_())

    def _row_ids(self, side: int, distinct: _Distinct) -> pa.Array:
        ids, values = self.ids[side], self.values[side]
        per_distinct = []
        for result in distinct.results:
            number = ids.get(result)
            if number is None:
                number = ids[result] = len(values)
                values.append(result)
            per_distinct.append(number)
        return distinct.take(per_distinct, pa.int64())

    def _verdict(self, code: int) -> bool:
        a, b = self.values[0][code >> 31], self.values[1][code & 0x7FFFFFFF]
        try:
            return a is not SLOW and b is not SLOW and bool(self.decide(a, b))
        except (RowError, ValueProblem):
            return False

    def per_row(self, left: _Distinct, right: _Distinct) -> pa.Array:
        codes = pc.add(pc.shift_left(self._row_ids(0, left), 31), self._row_ids(1, right))
        position = pc.index_in(codes, value_set=self.codes)
        unknown = pc.is_null(position)
        if pc.any(unknown).as_py():
            new = pc.unique(pc.filter(codes, unknown))
            verdicts = pa.array([self._verdict(code) for code in new.to_pylist()], pa.bool_())
            self.codes = pa.concat_arrays([self.codes, new])
            self.verdicts = pa.concat_arrays([self.verdicts, verdicts])
            position = pc.index_in(codes, value_set=self.codes)
        return pc.take(self.verdicts, position)


def _pairs(
    left: _Distinct,
    right: _Distinct,
    decide: Callable[[Any, Any], bool],
    memo: dict[Any, Any] | None = None,
) -> pa.Array:
    """Per row: ``decide(left result, right result)`` run once per distinct pair present (and,
    with ``memo``, once per file)."""
    if memo is None:
        return _PairVerdicts(decide).per_row(left, right)
    verdicts = memo.get("pairs")
    if verdicts is None:
        verdicts = memo["pairs"] = _PairVerdicts(decide)
    return verdicts.per_row(left, right)


@dataclass
class _Numbers:
    """A numeric column: which rows hold a plain number, its value, and whether the row is fine
    for the fast path (a plain number or a cell the validator reads as missing)."""

    cells: pa.Array  # the cells as written
    present: pa.Array  # bool, never null
    value: pa.Array  # float64, null where not present
    ok: pa.Array  # bool, never null
    missing_text: _Distinct  # raw_text of the non-numeric cells ("——" stays "——", blank -> None)

    def decimals(self) -> pa.Array:
        """int32: digits after the point (``ParsedNumber.decimals``); 0 where not a plain number."""
        point = pc.find_substring(self.cells, ".")
        length = pc.utf8_length(self.cells)
        places = pc.if_else(pc.greater_equal(point, 0), pc.subtract(pc.subtract(length, point), 1), 0)
        # Only plain numbers index the tolerance table (others could have any length).
        return pc.fill_null(pc.if_else(self.present, places, 0), 0).cast(pa.int32())


def _plain_numbers(array: pa.Array) -> pa.Array:
    """Per cell: matches PLAIN_NUMBER (never null). Whole numbers are found by a plain digit test;
    the regex runs on the other cells only."""
    digits = pc.fill_null(
        pc.and_kleene(pc.ascii_is_decimal(array), pc.less_equal(pc.binary_length(array), _MAX_DECIMALS)),
        False,
    )
    rest = pc.invert(digits)
    if not pc.any(rest).as_py():
        return digits
    matched = pc.fill_null(pc.match_substring_regex(pc.filter(array, rest), PLAIN_NUMBER), False)
    return pc.replace_with_mask(digits, rest, matched)


def _numbers(array: pa.Array, memo: dict[Any, Any] | None = None) -> _Numbers:
    plain = _plain_numbers(array)
    others = pc.if_else(plain, pa.scalar(None, pa.string()), array)
    # A non-numeric cell is fine only when the validator reads it as "missing" (blank, "——", "-").
    missing = _distinct(others, lambda cell: _raw_text(cell) if is_missing(cell) else SLOW, memo)
    numbers = pc.cast(pc.if_else(plain, array, pa.scalar(None, pa.string())), pa.float64())
    return _Numbers(array, plain, numbers, pc.or_kleene(plain, missing.ok()), missing)


# Joins a region's code and name cells into one value (see ``_regions``); a cell holding it makes
# the fast path decline the file rather than split it wrongly.
_REGION_JOIN = "\x1f"


def _regions(
    codes: pa.Array,
    names: pa.Array,
    context: ValidationContext,
    memo: dict[Any, Any],
    names_memo: dict[Any, Any],
) -> _Distinct:
    """The validator's ``region_of`` once per distinct code, or per distinct (code, name) pair when the
    file names its regions (a column of names, with or without codes; issue #20)."""
    if names.null_count == len(names):
        return _distinct(codes, lambda cell: region_of({"region_code": cell}, context.reference), memo)
    if codes.null_count == len(codes):  # names only: no join (a memo of its own: names are no codes)
        return _distinct(
            names,
            lambda cell: region_of({"region_name": cell}, context.reference),
            names_memo,
        )
    for column in (codes, names):
        if pc.any(pc.fill_null(pc.match_substring(column, _REGION_JOIN), False)).as_py():
            raise Declined("a region cell holds the join character")
    # None and "" are alike to the validator (both missing): joined as "".
    joined = pc.binary_join_element_wise(pc.fill_null(codes, ""), pc.fill_null(names, ""), _REGION_JOIN)

    def decide(cell: str) -> str:
        code, name = cell.split(_REGION_JOIN)
        return region_of({"region_code": code, "region_name": name}, context.reference)

    return _distinct(joined, decide, memo)


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


def _all(*conditions: pa.Array | pa.Scalar) -> pa.Array:
    """Per row: every condition holds (a condition may be one scalar for all rows; at least one is
    an array)."""
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
    except Declined as decline:
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
        raise Declined("records mix registry and cell measure codes")
    by_record = from_record[0]
    odd = ["__not_object__" in value for value in values]
    # map(dict.get, ...) runs the per-record lookups in C: this gathering is the main Python cost.
    cells = {name: list(map(dict.get, values, repeat(name))) for name in _FIELDS}
    if by_record:
        cells["measure_code"] = [record.measure_code for record in records]
    arrays = {name: _string_column(column, odd) for name, column in cells.items()}
    record_units = _string_column([record.unit for record in records], odd)
    mask, plain = decide_columns(
        arrays, record_units, context, by_record=by_record, odd=pa.array(odd, pa.bool_())
    )
    if len(mask) != count:  # pragma: no cover - a broken invariant, not an input problem
        raise Declined("row count changed")
    mask_list = mask.to_pylist()
    refs = [record.ref for record in records]
    with paused_gc():
        # Positional arguments, in SubmissionRow's field order (row_ref ... note): the fastest way
        # to build tens of thousands of frozen dataclasses.
        built = list(
            map(
                SubmissionRow,
                compress(refs, mask_list),
                repeat(context.department_code),
                *(plain.column(name).to_pylist() for name in PLAIN_COLUMNS),
            )
        )
    if len(built) == count:
        return list(built)  # every row plain: the usual case
    rows: list[SubmissionRow | None] = [None] * count
    for position, row in zip(compress(range(count), mask_list), built, strict=True):
        rows[position] = row
    return rows


# The columns :func:`decide_columns` returns: SubmissionRow's fields after row_ref and department.
PLAIN_COLUMNS = _ROW_FIELDS[2:]
# With ``key_ids``: the row's key (region, measure, period) as one number, for the duplicate-key
# check; each part is numbered in ``key_ids`` (shared by the batches of a file) and gets 21 bits.
KEY_COLUMN = "key"
# Period first: a file listed period by period then has its keys in ascending order (ids are given
# in order of first appearance), which the duplicate check's sort handles fastest.
KEY_PARTS = ("period", "measure_code", "region_code")
KEY_BITS = 21
KeyIds = dict[str, dict[str, int]]


def key_number(key_ids: KeyIds, part: str, value: str) -> int:
    """The number of one part of a key (new values get the next number)."""
    numbers = key_ids.setdefault(part, {})
    number = numbers.setdefault(value, len(numbers))
    if number >> KEY_BITS:
        raise Declined(f"more than {1 << KEY_BITS} distinct values of {part}")
    return number


def decide_columns(
    arrays: dict[str, pa.Array],
    record_units: pa.Array,
    context: ValidationContext,
    *,
    by_record: bool = False,
    odd: pa.Array | None = None,
    memo: Memo | None = None,
    key_ids: KeyIds | None = None,
) -> tuple[pa.Array, pa.Table]:
    """Decide a batch of value rows column-wise.

    ``arrays`` holds one string array per field of ``_FIELDS`` (null where a row has no such cell),
    ``record_units`` the registry's unit per row (wide) or nulls, ``odd`` the rows that must go to the
    slow path whatever their cells. Returns the mask of the rows the validator is certain to accept
    and, for exactly those rows in order, the table of :data:`PLAIN_COLUMNS` it would produce.
    ``memo`` (one dict per call site, kept by the caller) carries per-value verdicts across the
    batches of one file. With ``key_ids`` the table also has :data:`KEY_COLUMN`, the row's key
    as one number (see :func:`key_number`), for a duplicate-key check on integers.
    """
    memo = memo if memo is not None else {}

    def memo_for(name: str) -> dict[Any, Any]:
        return memo.setdefault(name, {})

    # Codes, department and period: the validator's own helpers, once per distinct cell.
    department = _distinct(
        arrays["department"],
        lambda cell: check_department({"department": cell}, context),
        memo_for("department"),
    )
    region = _regions(
        arrays["region_code"], arrays["region_name"], context, memo_for("region"), memo_for("region_names")
    )
    measure = _distinct(
        arrays["measure_code"], _measure_decider(context, by_record), memo_for(f"measure{by_record}")
    )
    period = _distinct(
        arrays["period"], lambda cell: period_of({"period": cell}, context), memo_for("period")
    )
    regions = context.reference.regions

    def allowed_level(code: str, m: Any) -> bool:
        check_level(code, m, context.reference)  # raises RowError when the level is not allowed
        return code in regions

    level_ok = _pairs(region, measure, allowed_level, memo_for("level"))

    # Numbers.
    value = _numbers(arrays["value"], memo_for("missing"))
    numerator = _numbers(arrays["numerator"], memo_for("missing"))
    denominator = _numbers(arrays["denominator"], memo_for("missing"))

    # Unit: the cell unless it means "missing", else the registry's unit for the column.
    unit_cell_missing = _distinct(arrays["unit"], is_missing, memo_for("unit_missing"))
    unit_text = pc.if_else(
        unit_cell_missing.take(unit_cell_missing.results, pa.bool_()), record_units, arrays["unit"]
    )
    unit = _distinct(
        unit_text, lambda text: normalize_text(text) if not is_missing(text) else None, memo_for("unit")
    )

    def unit_is_canonical(m: Measure, label: str | None) -> bool:
        # Only a factor of exactly 1 is taken here; conversions (元/月, 万元...) go to the slow path.
        factor = unit_factor(
            label, m.unit, canonical_aliases=(m.unit_zh,), per_year_standard=m.kind == "level"
        )
        return factor == 1.0

    unit_ok = pc.or_kleene(
        pc.invert(value.present), _pairs(measure, unit, unit_is_canonical, memo_for("unit_pair"))
    )
    note = _distinct(arrays["note"], clean_text, memo_for("note"))

    # Kind rules, per row from the measure's attributes.
    measures = [m if m is not SLOW else None for m in measure.results]
    takes_parts = measure.take([bool(m and m.takes_parts) for m in measures], pa.bool_())
    is_rate = measure.take([bool(m and m.kind == "rate") for m in measures], pa.bool_())
    integral = measure.take(
        [bool(m and m.kind in {"count", "regions_meeting"}) for m in measures], pa.bool_()
    )
    scale = measure.take([(m.value_scale or 1.0) if m else 1.0 for m in measures], pa.float64())
    # The plausible range (rules.out_of_range): the same bounds, the same comparisons.
    low = measure.take(
        [(m.min_value if m and m.min_value is not None else 0.0) for m in measures], pa.float64()
    )
    high = measure.take(
        [(m.max_value if m and m.max_value is not None else MAX_VALUE) for m in measures], pa.float64()
    )

    has_parts = pc.or_kleene(numerator.present, denominator.present)
    num, den = numerator.value, denominator.value
    parts_ok = _all(
        takes_parts,
        numerator.present,
        denominator.present,
        pc.greater(den, 0.0),
        pc.greater_equal(num, 0.0),
        pc.or_kleene(pc.invert(is_rate), pc.less_equal(num, den)),
        pc.less_equal(num, MAX_PART),
        pc.less_equal(den, MAX_PART),
    )
    computed = pc.multiply(pc.divide(num, den), scale)
    converted = pc.if_else(value.present, value.value, computed)
    both = pc.and_kleene(value.present, has_parts)
    consistent_or_single: pa.Array | pa.Scalar = pa.scalar(True)
    if pc.any(both).as_py():  # a value given with its parts must agree with them
        # The validator's tolerance, half a unit of the last digit written (factor 1 here), per
        # number of decimals, computed by the validator's own function so the floats are identical.
        tolerance_table = pa.array(
            [
                rounding_tolerance(ParsedNumber(0.0, decimals=digits), 1.0, 0.0)
                for digits in range(_MAX_DECIMALS + 1)
            ],
            pa.float64(),
        )
        tolerance = pc.add(
            pc.take(tolerance_table, value.decimals()), pc.multiply(pa.scalar(1e-9), pc.abs(computed))
        )
        consistent = pc.less_equal(pc.abs(pc.subtract(value.value, computed)), tolerance)
        consistent_or_single = pc.or_kleene(pc.invert(both), consistent)
    conditions = [
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
        consistent_or_single,
        pc.or_kleene(value.present, has_parts),
        pc.is_finite(converted),
        pc.greater_equal(converted, 0.0),
        pc.or_kleene(pc.invert(is_rate), pc.less_equal(converted, _RATE_CEILING)),
        pc.greater_equal(converted, low),
        pc.less_equal(converted, high),
        pc.or_kleene(
            pc.invert(integral),
            pc.less_equal(
                pc.abs(pc.subtract(converted, pc.round(converted, 0, round_mode="half_to_even"))), 1e-6
            ),
        ),
    ]
    if odd is not None:
        conditions.insert(0, pc.invert(odd))
    mask = _all(*conditions)

    def plain_results(distinct: _Distinct) -> list[Any]:
        return [None if result is SLOW else result for result in distinct.results]

    def strings(distinct: _Distinct, per_distinct: list[Any]) -> pa.Array:
        # Take from the small per-value array with the chosen rows' indices only.
        return pc.take(pa.array(per_distinct, pa.string()), pc.filter(distinct.indices, mask))

    def chosen(array: pa.Array) -> pa.Array:
        return pc.filter(array, mask)

    # A plain number is its own raw text; a "missing" cell keeps what the clerk wrote ("——").
    value_text = pc.if_else(
        value.present,
        arrays["value"],
        value.missing_text.take(plain_results(value.missing_text), pa.string()),
    )
    region_codes = plain_results(region)
    measure_codes = [None if m is None else m.code for m in measures]
    periods = plain_results(period)
    columns = [
        strings(region, region_codes),
        strings(measure, measure_codes),
        strings(period, periods),
        chosen(converted),
        chosen(num),  # None where not given, like the validator
        chosen(den),
        strings(unit, plain_results(unit)),
        chosen(value_text),
        strings(note, plain_results(note)),
    ]
    names = list(PLAIN_COLUMNS)
    if key_ids is not None:
        key: Any = None
        parts = {"region_code": (region, region_codes), "measure_code": (measure, measure_codes)}
        parts["period"] = (period, periods)
        for part in KEY_PARTS:
            distinct, values = parts[part]
            # A refused value (None) is never taken: only the chosen rows' indices are.
            per_distinct = [0 if v is None else key_number(key_ids, part, v) for v in values]
            numbers = pc.take(pa.array(per_distinct, pa.int64()), pc.filter(distinct.indices, mask))
            key = numbers if key is None else pc.bit_wise_or(pc.shift_left(key, KEY_BITS), numbers)
        columns.append(key)
        names.append(KEY_COLUMN)
    return mask, pa.table(columns, names=names)
