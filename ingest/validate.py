"""Row validation: raw records to raw-layer rows, or to quarantine with a reason.

Each record yields exactly one outcome (a submission row, a status row or a rejection), which is
what keeps ``rows_loaded + rows_rejected == rows_input`` for every file. A record reports its
first problem only: fixing it and resubmitting shows the next, if any.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from ingest.errors import FIELD_NAMES_ZH, MAX_LISTED_ROWS, Issue, RowError, listed_rows
from ingest.layout import RawRecord
from ingest.readers import paused_gc
from ingest.reference import Item, Reference
from ingest.rules import (
    MAX_PART,
    MAX_VALUE,
    Rejection,
    StatusRow,
    SubmissionRow,
    ValidationContext,
    check_department,
    check_level,
    number_of,
    out_of_range,
    period_of,
    region_of,
    rounding_tolerance,
)
from ingest.values import (
    ValueProblem,
    clean_code,
    clean_text,
    format_number,
    is_missing,
    normalize_text,
    parse_date,
    raw_text,
    unit_dimension,
    unit_factor,
)

KIND_ZH = {
    "count": "数量",
    "amount": "金额",
    "level": "标准",
    "regions_meeting": "达标地区数",
    "rate": "比率",
    "ratio": "比值",
    "density": "密度",
    "milestone": "进度",
}


def raw_json(record: RawRecord) -> str:
    return json.dumps(record.raw, ensure_ascii=False, default=str)


def validate_value_record(record: RawRecord, context: ValidationContext) -> SubmissionRow:
    """Validate one long or wide record; raises :class:`RowError` on the first problem."""
    reference = context.reference
    values = record.values
    if values.get("__not_object__"):
        raise RowError("RECORD_NOT_OBJECT")
    check_department(values, context)
    region_code = region_of(values, reference)
    measure_code = record.measure_code or clean_code(values.get("measure_code"))
    if not measure_code:
        raise RowError("MEASURE_MISSING", "measure_code")
    measure = reference.measures.get(measure_code)
    if measure is None:
        raise RowError("MEASURE_UNKNOWN", "measure_code", value=measure_code)
    if measure.submitted_via == "status":
        raise RowError("MEASURE_IS_STATUS", "measure_code", measure=measure_code)
    if measure.department_code and measure.department_code != context.department_code:
        raise RowError(
            "MEASURE_WRONG_DEPARTMENT",
            "measure_code",
            measure=measure_code,
            owner=measure.department_code,
            department=context.department_code,
        )
    check_level(region_code, measure, reference)
    period = period_of(values, context)

    value = number_of(values, "value")
    numerator = number_of(values, "numerator")
    denominator = number_of(values, "denominator")
    unit_text = values.get("unit") if not is_missing(values.get("unit")) else record.unit
    unit_label = normalize_text(unit_text) if not is_missing(unit_text) else None
    factor = 1.0
    if value is not None:
        try:
            factor = unit_factor(
                unit_label,
                measure.unit,
                canonical_aliases=(measure.unit_zh,),
                per_year_standard=measure.kind == "level",
            )
        except ValueProblem as problem:
            raise RowError(
                "UNIT_UNCONVERTIBLE",
                "unit",
                measure=measure_code,
                unit=problem.params["unit"],
                canonical=measure.unit_zh or measure.unit,
            ) from None
        if value.percent and (
            unit_dimension(measure.unit).family != "percent"
            or (unit_label and unit_dimension(unit_label).family != "percent")
        ):
            raise RowError(
                "UNIT_UNCONVERTIBLE",
                "value",
                unit=f"{unit_label or ''}%",
                measure=measure_code,
                canonical=measure.unit_zh or measure.unit,
            )
    converted = value.value * factor if value is not None else None

    if numerator is not None or denominator is not None:
        if not measure.takes_parts:
            raise RowError(
                "PARTS_NOT_APPLICABLE",
                "numerator",
                measure=measure_code,
                kind=measure.kind,
                kind_zh=KIND_ZH.get(measure.kind, measure.kind),
            )
        if numerator is None:
            raise RowError("PARTS_INCOMPLETE", "numerator")
        if denominator is None:
            raise RowError("PARTS_INCOMPLETE", "denominator")
        if denominator.value <= 0:
            raise RowError("DENOMINATOR_NOT_POSITIVE", "denominator", value=format_number(denominator.value))
        if numerator.value < 0:
            raise RowError("NEGATIVE_VALUE", "numerator", value=format_number(numerator.value))
        for name, part in (("numerator", numerator), ("denominator", denominator)):
            if not part.value <= MAX_PART:
                raise RowError(
                    "VALUE_OUT_OF_RANGE",
                    name,
                    what=FIELD_NAMES_ZH[name],
                    what_en=name,
                    value=format_number(part.value),
                    measure=measure_code,
                    low=0,
                    high=format_number(MAX_PART),
                    unit="",
                )
        if measure.kind == "rate" and numerator.value > denominator.value:
            raise RowError(
                "NUMERATOR_EXCEEDS_DENOMINATOR",
                "numerator",
                numerator=format_number(numerator.value),
                denominator=format_number(denominator.value),
            )
        computed = numerator.value / denominator.value * (measure.value_scale or 1.0)
        if value is not None and converted is not None:
            if abs(converted - computed) > rounding_tolerance(value, factor, computed):
                raise RowError(
                    "VALUE_INCONSISTENT",
                    "value",
                    value=format_number(converted),
                    computed=format_number(computed),
                )
        else:
            converted = computed

    if converted is None:
        raise RowError("VALUE_MISSING", "value")
    if converted < 0:
        raise RowError("NEGATIVE_VALUE", "value", value=format_number(converted))
    if measure.kind == "rate" and converted > 100 + 1e-9:
        raise RowError("RATE_OUT_OF_RANGE", "value", value=format_number(converted))
    if out_of_range(measure, converted):
        raise RowError(
            "VALUE_OUT_OF_RANGE",
            "value",
            what="数值",
            what_en="value",
            value=format_number(converted),
            measure=measure_code,
            low=format_number(measure.min_value if measure.min_value is not None else 0.0),
            high=format_number(measure.max_value if measure.max_value is not None else MAX_VALUE),
            unit=measure.unit_zh or measure.unit,
        )
    if measure.kind in {"count", "regions_meeting"} and abs(converted - round(converted)) > 1e-6:
        raise RowError("COUNT_NOT_INTEGER", "value", value=format_number(converted))

    return SubmissionRow(
        row_ref=record.ref,
        department_code=context.department_code,
        region_code=region_code,
        measure_code=measure_code,
        period=period,
        value=converted,
        numerator=numerator.value if numerator is not None else None,
        denominator=denominator.value if denominator is not None else None,
        unit_submitted=unit_label,
        value_text=raw_text(values.get("value")),
        note=clean_text(values.get("note")),
    )


def _status_code(raw: Any, item: Item, reference: Reference) -> str:
    if is_missing(raw):
        raise RowError("STATUS_MISSING", "status")
    text = normalize_text(raw)
    choices = reference.status_choices(item)
    for option in choices:
        names = {option.code.lower(), normalize_text(option.name_zh), option.name_en.lower()}
        if text.lower() in names or text.lower().replace(" ", "_") == option.code.lower():
            return option.code
    allowed = ", ".join(f"{option.code} {option.name_zh}" for option in choices)
    raise RowError("STATUS_UNKNOWN", "status", value=text, item=item.code, allowed=allowed)


def validate_status_record(record: RawRecord, context: ValidationContext) -> StatusRow:
    """Validate one status report record; raises :class:`RowError` on the first problem."""
    reference = context.reference
    values = record.values
    if values.get("__not_object__"):
        raise RowError("RECORD_NOT_OBJECT")
    check_department(values, context)
    item_code = clean_code(values.get("item_code"))
    if not item_code:
        raise RowError("ITEM_MISSING", "item_code")
    item = reference.items.get(item_code)
    if item is None:
        raise RowError("ITEM_UNKNOWN", "item_code", value=item_code)
    if item.owner_department in reference.departments and item.owner_department != context.department_code:
        raise RowError(
            "ITEM_WRONG_DEPARTMENT",
            "item_code",
            item=item_code,
            owner=item.owner_department,
            department=context.department_code,
        )
    # Work and policy items belong to the province; a milestone may be reported per region.
    region_code = region_of(values, reference, default=reference.province_code)
    if item.kind == "milestone" and item.code in reference.measures:
        check_level(region_code, reference.measures[item.code], reference)
    period = period_of(values, context)
    status = _status_code(values.get("status"), item, reference)
    try:
        status_date = parse_date(values.get("status_date"))
    except ValueProblem as problem:
        raise RowError(problem.code, "status_date", **problem.params) from None
    return StatusRow(
        row_ref=record.ref,
        department_code=context.department_code,
        item_code=item_code,
        region_code=region_code,
        period=period,
        status=status,
        status_date=status_date,
        evidence=clean_text(values.get("evidence")),
        note=clean_text(values.get("note")),
    )


def validate_records(
    records: list[RawRecord], layout: str, context: ValidationContext
) -> tuple[list[SubmissionRow], list[StatusRow], list[Rejection]]:
    """Validate every record; rows sharing a key within the file are all refused (which one is
    right is the clerk's call, not ours)."""
    # Tens of thousands of small objects are built below: see ``paused_gc`` for why.
    with paused_gc():
        return _validate_records(records, layout, context)


def _validate_records(
    records: list[RawRecord], layout: str, context: ValidationContext
) -> tuple[list[SubmissionRow], list[StatusRow], list[Rejection]]:
    accepted: list[tuple[RawRecord, SubmissionRow | StatusRow]] = []
    rejections: list[Rejection] = []
    validate = validate_status_record if layout == "status" else validate_value_record
    # The vectorized fast path decides the plain value rows in one pass; every other row (and
    # every row, when it is switched off) goes through the validator below, unchanged, so refusals
    # keep their exact reasons and rows their order. Imported on first use, with pyarrow.
    decided: list[SubmissionRow | None] | None = None
    if layout != "status" and records:
        from ingest import fastpath

        if fastpath.enabled():
            decided = fastpath.plain_value_rows(records, context)
    for position, record in enumerate(records):
        if decided is not None:
            row = decided[position]
            if row is not None:
                accepted.append((record, row))
                continue
        try:
            accepted.append((record, validate(record, context)))
        except RowError as error:
            issue = Issue(context.file_name, record.ref, error.field, error.code, error.params)
            rejections.append(Rejection(issue, raw_json(record)))

    keys = [row.key for _, row in accepted]
    if len(set(keys)) == len(keys):
        # No key twice (the usual case): every accepted row stays, in order.
        submissions = [row for _, row in accepted if isinstance(row, SubmissionRow)]
        statuses = [row for _, row in accepted if isinstance(row, StatusRow)]
        return submissions, statuses, rejections

    by_key: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        by_key[key].append(position)
    duplicated: set[int] = set()
    for key, positions in by_key.items():
        if len(positions) < 2:
            continue
        refs = listed_rows([accepted[p][1].row_ref for p in positions[:MAX_LISTED_ROWS]], len(positions))
        for position in positions:
            duplicated.add(position)
            record = accepted[position][0]
            params = {"key": " / ".join(key), "count": len(positions), "rows": refs}
            issue = Issue(context.file_name, record.ref, None, "DUPLICATE_KEY", params)
            rejections.append(Rejection(issue, raw_json(record)))
    submissions = [
        row
        for position, (_, row) in enumerate(accepted)
        if position not in duplicated and isinstance(row, SubmissionRow)
    ]
    statuses = [
        row
        for position, (_, row) in enumerate(accepted)
        if position not in duplicated and isinstance(row, StatusRow)
    ]
    return submissions, statuses, rejections
