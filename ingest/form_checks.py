"""What a form's structure says about a file that loads: skipped lines, totals, a dropped footer.

A report form as clerks keep it has lines that are not region records: total rows (合计, 总计,
小计, 全市, 全省) and a footer (填报人, 联系电话, 注：...). ``ingest.layout`` sets them apart
(:class:`ingest.layout.FormLines`); here they become warnings on the file, never refusals:

- every skipped line is counted and named by row (``rows_loaded + rows_rejected = rows_input``
  counts records only; skipped lines are reported beside them);
- a total row is checked against the sum of its detail rows for the parts that add up: the value of
  a ``sum`` measure, the numerator and the denominator of a ``ratio_of_sums`` measure (the
  measures' ``rollup_rule``); a mismatch is a warning, and the details load;
- personal data in the footer is dropped with the footer and the file still loads.
"""

from __future__ import annotations

from typing import Any

from ingest.errors import MAX_LISTED_ROWS, Issue, listed_rows
from ingest.layout import FormLines, RawRecord, TotalRow
from ingest.reference import Reference
from ingest.values import ValueProblem, clean_code, format_number, normalize_text, parse_number

# The parts of a measure that a total row should equal the sum of, by the measure's rollup rule.
SUMMED_PARTS = {"sum": ("value",), "ratio_of_sums": ("numerator", "denominator")}
PART_ZH = {"value": "数值", "numerator": "分子", "denominator": "分母"}


def form_warnings(form: FormLines, reference: Reference, file_name: str) -> list[Issue]:
    """The warnings of a file's form lines: what was skipped, totals that disagree, a footer with
    personal data dropped."""
    warnings: list[Issue] = []
    totals = [line for line in form.skipped if line.kind == "total"]
    footer = [line for line in form.skipped if line.kind == "footer"]
    if form.skipped:
        warnings.append(
            Issue(
                file_name,
                None,
                None,
                "LINES_SKIPPED",
                {
                    "count": len(form.skipped),
                    "totals": len(totals),
                    "total_rows": _rows(totals),
                    "footer": len(footer),
                    "footer_rows": _rows(footer),
                },
            )
        )
    for total in form.totals:
        warnings.extend(_total_mismatches(total, reference, file_name))
    if form.footer_personal_data:
        warnings.append(
            Issue(file_name, None, None, "FOOTER_PERSONAL_DATA_DROPPED", {"footer_rows": _rows(footer)})
        )
    return warnings


def _rows(lines: list[Any]) -> str:
    if not lines:
        return "-"
    labels = [
        f"row {line.row} {line.label}" if line.label != "footer" else f"row {line.row}" for line in lines
    ]
    return listed_rows(labels[:MAX_LISTED_ROWS], len(labels))


def _measure_code(record: RawRecord) -> str:
    if record.measure_code:
        return record.measure_code
    try:
        return clean_code(record.values.get("measure_code")).upper()
    except ValueProblem:
        return ""


def _key(record: RawRecord) -> tuple[str, str, str]:
    """Which details a total's record sums: the same measure, period and written unit."""
    return (
        _measure_code(record),
        normalize_text(record.values.get("period")),
        normalize_text(record.values.get("unit")) or (record.unit or ""),
    )


def _number(cell: Any) -> tuple[float, int] | None:
    try:
        parsed = parse_number(cell)
    except ValueProblem:
        return None
    if parsed is None:
        return None
    return parsed.value, parsed.decimals


def _total_mismatches(total: TotalRow, reference: Reference, file_name: str) -> list[Issue]:
    issues = []
    by_key: dict[tuple[str, str, str], list[RawRecord]] = {}
    for detail in total.details:
        by_key.setdefault(_key(detail), []).append(detail)
    for record in total.records:
        key = _key(record)
        measure = reference.measures.get(key[0])
        if measure is None:
            continue
        for part in SUMMED_PARTS.get(measure.rollup_rule, ()):
            written = _number(record.values.get(part))
            numbers = [n for d in by_key.get(key, []) if (n := _number(d.values.get(part))) is not None]
            if written is None or not numbers:
                continue
            detail_sum = sum(value for value, _ in numbers)
            decimals = max([written[1], *(places for _, places in numbers)])
            # Half a unit of the last digit written, as for a value beside its parts.
            tolerance = 0.5 * 10.0**-decimals + 1e-9 * max(1.0, abs(detail_sum))
            if abs(written[0] - detail_sum) <= tolerance:
                continue
            issues.append(
                Issue(
                    file_name,
                    record.ref,
                    part,
                    "TOTAL_MISMATCH",
                    {
                        "label": total.label,
                        "measure": f"{measure.code} {measure.name_zh}",
                        "part": part,
                        "part_zh": PART_ZH[part],
                        "total": format_number(written[0]),
                        "detail_sum": format_number(detail_sum, decimals if decimals else None),
                        "details": len(numbers),
                    },
                )
            )
    return issues
