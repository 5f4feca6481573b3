"""Every department's own report form (issue #20): the registries built from the measure
definitions, the blank forms ``scorecard templates`` writes, and the generator's form files, which
load exactly the values of the department's usual file."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from form_samples import doc_path, forms_section
from ingest_test_helpers import query

from ingest import forms
from ingest.layout import REGISTRY_DIR, load_registry, normalize_header
from ingest.loader import load_file
from ingest.parse import parse_file
from ingest.reference import Reference
from ingest.templates import write_templates
from samples.generate import (
    DEFAULT_SEED,
    DEPARTMENT_FORMATS,
    FORM_YEAR,
    Model,
    periods_of,
    render_values,
    value_rows,
)
from scorecard.core.settings import Settings

DEPARTMENTS = sorted(DEPARTMENT_FORMATS)


def test_every_department_has_a_form_covering_every_measure_it_submits(reference: Reference) -> None:
    assert sorted(reference.departments) == DEPARTMENTS
    for department in DEPARTMENTS:
        registry = load_registry(department)
        assert registry is not None, department
        parts: dict[str, set[str]] = {}
        for column in registry.columns:
            parts.setdefault(column.measure_code, set()).add(column.part)
        for measure in forms.form_measures(reference, department):
            wanted = {"numerator", "denominator"} if measure.takes_parts else {"value"}
            assert wanted <= parts.pop(measure.code, set()), (department, measure.code)
        assert not parts, (department, "columns of measures it does not own", parts)
        headers = [normalize_header(column.header) for column in registry.columns]
        assert len(headers) == len(set(headers)), department


def test_registries_are_the_ones_built_from_the_seeds(reference: Reference) -> None:
    for department in DEPARTMENTS:
        if department in forms.HAND_KEPT:
            continue
        stored = json.loads((REGISTRY_DIR / f"{department}.json").read_text(encoding="utf-8"))
        assert stored == forms.build_registry(reference, department), (
            f"{department}.json is stale: run `python -m ingest.forms`"
        )


def test_a_density_form_counts_its_population_in_persons(reference: Reference) -> None:
    registry = forms.build_registry(reference, "charity_social_work")
    headers = {(c["measure_code"], c["part"]): c["header"] for c in registry["columns"]}
    assert headers[("SG02", "denominator")] == "常住人口（人，每万人持证社工专业人才数口径）"
    assert headers[("CH02A", "value")] == "慈善信托资金规模（亿元）"
    assert headers[("CH01B", "numerator")] == "慈善组织数（每10万人拥有慈善组织数口径）"


def test_templates_write_each_department_form_and_a_filled_one_loads(
    settings: Settings, tmp_path: Path, reference: Reference
) -> None:
    written = write_templates(tmp_path / "templates", settings)
    form_paths = {path.name: path for path in written if path.name.endswith("_报表.xlsx")}
    assert sorted(form_paths) == [f"{department}_报表.xlsx" for department in DEPARTMENTS]
    for department in DEPARTMENTS:
        workbook = openpyxl.load_workbook(form_paths[f"{department}_报表.xlsx"])
        sheet = workbook["报表"]
        header = [cell.value for cell in sheet[3]]
        registry = load_registry(department)
        assert registry is not None
        assert header == ["行政区划代码", "行政区划名称", "统计期", *(c.header for c in registry.columns)]
        # The first measure of the form, filled in for one county.
        first = registry.columns[0]
        cells: list[object] = ["330102", "上城区", "2023"]
        for column in registry.columns:
            same = column.measure_code == first.measure_code
            # A rate's own column stays blank: it is computed from its parts.
            parts = (
                {"value": None, "numerator": 1, "denominator": 2}
                if len(registry_parts(registry, first)) > 1
                else {"value": 1}
            )
            cells.append(parts.get(column.part) if same else None)
        if reference.measures[first.measure_code].kind == "level":
            cells[3] = 30000
        sheet.append(cells)
        path = settings.inbox / department / f"{department}_filled.xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        workbook.save(path)
        result = load_file(path, settings=settings)
        assert (result.status, result.layout, result.rows_loaded) == ("loaded", "wide", 1), (
            department,
            [issue.reason_en for issue in result.issues],
        )
    loaded = query(settings, "SELECT DISTINCT period FROM raw.submissions")
    assert loaded == [("2023",)]


def registry_parts(registry, first) -> list[str]:
    return [c.part for c in registry.columns if c.measure_code == first.measure_code]


def _values(parsed) -> set[tuple]:
    rows = [
        (r.region_code, r.measure_code, r.period, r.value, r.numerator, r.denominator)
        for r in parsed.submissions
    ]
    if parsed.submission_table is not None:
        table = parsed.submission_table.to_pylist()
        rows += [
            (r["region_code"], r["measure_code"], r["period"], r["value"], r["numerator"], r["denominator"])
            for r in table
        ]
    return set(rows)


@pytest.mark.parametrize("department", DEPARTMENTS)
def test_generated_form_loads_the_values_of_the_usual_file(department: str, reference: Reference) -> None:
    settings = Settings(home=Path("/nonexistent"), as_of=date(2026, 1, 15))
    model = Model(reference, DEFAULT_SEED, settings.first_year, settings.last_year)
    frequency = reference.departments[department].reporting_frequency
    period, t = next(
        (period, t) for period, t in periods_of(frequency, 2021, 2025) if period.startswith(str(FORM_YEAR))
    )
    rows = value_rows(model, department, period, t)
    style = DEPARTMENT_FORMATS[department]
    loaded = {}
    for form in (True, False):
        extension, data = render_values(department, period, rows, reference, style, form=form)
        parsed = parse_file(
            data, f"f.{extension}", department_hint=department, reference=reference, settings=settings
        )
        assert parsed.file_issue is None and not parsed.rejections, department
        loaded[form] = _values(parsed)
        if form:
            assert parsed.layout == "wide"
            # 合计 row, footer: filer and phone, date, note; the totals agree with the rows.
            assert parsed.lines_skipped == 4
            codes = [warning.reason_code for warning in parsed.warnings]
            assert codes == ["LINES_SKIPPED", "FOOTER_PERSONAL_DATA_DROPPED"], codes
    assert len(loaded[True]) == len(rows)
    assert loaded[True] == loaded[False]


def test_submissions_doc_shows_each_department_form_as_loaded() -> None:
    # Rewrite with `python tests/ingest/form_samples.py` after a change to the forms or the generator.
    assert forms_section() in doc_path().read_text(encoding="utf-8")
