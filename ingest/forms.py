"""Each department's own report form (wide layout), built from the measure definitions.

A form has one row per region and, for every measure the department submits as values, the
columns its reports use: the value of a count, amount or standard, headed by the measure's name
and unit ("慈善信托资金规模（亿元）"); the numerator and the denominator of a rate, ratio or
density, headed by their names in ``measures.csv`` (``numerator_zh``, ``denominator_zh``), and an
optional column for the rate itself ("…率（%）"; blank, it is computed). A density's denominator is
a population counted in persons ("常住人口（人）"), as ``value_scale`` expects. Two columns of one
form never share a header: a numerator or denominator that another measure's column already uses
is qualified by its measure ("常住人口（人，每万人持证社工专业人才数口径）").

``ingest/registry/<department>.json`` holds the forms; ``python -m ingest.forms`` writes them from
the seeds (``elderly_care.json`` is the division's own, kept by hand; the tests check that it
covers the same measures and parts). ``scorecard templates`` writes a blank form per department.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from ingest.layout import REGISTRY_DIR, bare_header, normalize_header
from ingest.reference import Measure, Reference, load_reference

# Forms kept by their division (not rebuilt from the seeds).
HAND_KEPT = frozenset({"elderly_care"})
_SPACE_BY_CJK = re.compile(r"\s+(?=[^\x00-\x7f])|(?<=[^\x00-\x7f])\s+")
_TRAILING = re.compile(r"（[^（）]*）$")


def tidy(text: str) -> str:
    """Seed wording as a header: no spaces beside Chinese characters ("60 岁" -> "60岁")."""
    return _SPACE_BY_CJK.sub("", text.strip())


def value_unit(measure: Measure) -> str:
    """The unit a form writes beside a value: the measure's Chinese unit ("个" for a count of
    regions)."""
    if measure.kind == "regions_meeting":
        return "个"
    return measure.unit_zh or measure.unit


def form_title(reference: Reference, department: str) -> str:
    return reference.departments[department].name_zh.removesuffix("处") + "统计报表"


def form_measures(reference: Reference, department: str) -> list[Measure]:
    """The measures a department submits as values, in code order."""
    return sorted(
        (
            m
            for m in reference.measures.values()
            if m.department_code == department and m.submitted_via == "values"
        ),
        key=lambda m: m.code,
    )


def _columns(measure: Measure) -> list[dict[str, Any]]:
    if not measure.takes_parts:
        unit = value_unit(measure)
        return [
            {
                "header": f"{tidy(measure.name_zh)}（{unit}）",
                "measure_code": measure.code,
                "part": "value",
                "unit": unit,
            }
        ]
    numerator = tidy(measure.numerator_zh or f"{measure.name_zh}分子")
    denominator = tidy(measure.denominator_zh or f"{measure.name_zh}分母")
    if measure.kind == "density" and (measure.value_scale or 1) > 1:
        # "60 岁及以上老年人口（万人）" names the scale of the rate; the form counts persons.
        denominator = _TRAILING.sub("", denominator) + "（人）"
    unit = value_unit(measure)
    return [
        {"header": numerator, "measure_code": measure.code, "part": "numerator"},
        {"header": denominator, "measure_code": measure.code, "part": "denominator"},
        {
            "header": f"{tidy(measure.name_zh)}（{unit}）",
            "measure_code": measure.code,
            "part": "value",
            "unit": unit,
        },
    ]


def _qualified(header: str, measure: Measure) -> str:
    """A header made unique by naming its measure: "常住人口（人）" -> "常住人口（人，每万人…口径）"."""
    found = _TRAILING.search(header)
    if found:
        return f"{header[: found.start()]}（{found.group()[1:-1]}，{tidy(measure.name_zh)}口径）"
    return f"{header}（{tidy(measure.name_zh)}口径）"


def build_registry(reference: Reference, department: str) -> dict[str, Any]:
    """The report form of a department as the registry's JSON object."""
    measures = form_measures(reference, department)
    columns = [column for measure in measures for column in _columns(measure)]
    by_code = {measure.code: measure for measure in measures}
    # A part whose header (or the header without its unit) another column also uses names its measure.
    seen: dict[str, int] = {}
    for column in columns:
        for key in {normalize_header(column["header"]), bare_header(column["header"])}:
            seen[key] = seen.get(key, 0) + 1
    for column in columns:
        keys = {normalize_header(column["header"]), bare_header(column["header"])}
        if column["part"] != "value" and any(seen[key] > 1 for key in keys):
            column["header"] = _qualified(column["header"], by_code[column["measure_code"]])
    return {
        "department_code": department,
        "form_title_zh": form_title(reference, department),
        "form_title_en": f"{reference.departments[department].name_en} statistical report",
        "description": (
            "Built from dbt_project/seeds/measures.csv by `python -m ingest.forms`: one row per region, "
            "one column per measure part; the period is the 统计期 column or the period in the title."
        ),
        "columns": columns,
    }


def write_registries(reference: Reference, folder: Path = REGISTRY_DIR) -> list[Path]:
    written = []
    for department in sorted(reference.departments):
        if department in HAND_KEPT:
            continue
        path = folder / f"{department}.json"
        text = json.dumps(build_registry(reference, department), ensure_ascii=False, indent=2) + "\n"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - the maintainers' command
    for path in write_registries(load_reference()):
        sys.stdout.write(f"wrote {path}\n")
