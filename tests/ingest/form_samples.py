"""Report forms as clerks keep them (issue #20), built cell by cell for the tests."""

from __future__ import annotations

import io
from typing import Any

import openpyxl

FOOTER_MOBILE = "13812345678"
FOOTER_NAME = "张晓梅"

# Hangzhou's districts as the city's form lists them: code, name, certified nurses, people 60+,
# nursing beds, all beds, care consortia.
CITY_ROWS = [
    ("330102", "上城区", 420, 210000, 1200, 2000, 3),
    ("330105", "拱墅区", 380, 190000, 900, 1800, 2),
    ("330106", "西湖区", 500, 200000, 1500, 2500, 4),
]


def city_elderly_care_form(
    total_nurses: int | None = None, note_in_table: str | None = None, codes: bool = True
) -> bytes:
    """杭州市's elderly-care form: a title with the period, the reporting body, a two-row header with
    merged cells, three districts, a 合计 row (``total_nurses`` overrides its nurse count) and a
    signature footer with the filer's name and mobile number. Without ``codes`` the districts are
    named only (a 序号 column instead of the codes)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "养老服务"
    sheet.append(["杭州市2024年第三季度养老服务统计报表"])
    sheet.append(["填报单位：杭州市民政局（盖章）"])
    sheet.append(
        [
            "行政区划代码" if codes else "序号",
            "地区",
            "养老护理员",
            None,
            "养老机构床位",
            None,
            "康养联合体数（个）",
            "备注",
        ]
    )
    sheet.append([None, None, "持证养老护理员数（人）", "60岁及以上老年人口数（人）", "护理型床位数（张）",
                  "养老机构总床位数（张）", None, None])  # fmt: skip
    for cell_range in ("A3:A4", "B3:B4", "C3:D3", "E3:F3", "G3:G4", "H3:H4"):
        sheet.merge_cells(cell_range)
    for number, (code, name, nurses, elderly, nursing_beds, beds, consortia) in enumerate(CITY_ROWS, 1):
        sheet.append([code if codes else number, name, nurses, elderly, nursing_beds, beds, consortia, None])
    if note_in_table is not None:
        sheet.cell(row=5, column=8, value=note_in_table)
    sums = [sum(row[index] for row in CITY_ROWS) for index in range(2, 7)]
    if total_nurses is not None:
        sums[0] = total_nurses
    sheet.append([None, "合计", *sums, None])
    sheet.append([])
    sheet.append([f"填报人：{FOOTER_NAME}", None, "审核人：王建国", None, f"联系电话：{FOOTER_MOBILE}"])
    sheet.append(["填报日期：2024年10月12日"])
    return _saved(workbook)


def _saved(workbook: Any) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- docs/submissions.md: each department's form as the generator sends it and the loader takes it --

DOC_BEGIN = "<!-- forms:begin (written by `python tests/ingest/form_samples.py`; checked by a test) -->"
DOC_END = "<!-- forms:end -->"
DOC_REGIONS = 2  # regions shown per form


def _shown(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return str(cell).replace("|", "\\|")


def forms_section() -> str:
    """The markdown of every department's generated report form (title, header, the first regions,
    the 合计 row, the footer masked) and what loading it gave (outcome, skipped lines, warnings,
    the first region's values)."""
    from datetime import date
    from pathlib import Path

    from ingest import pii
    from ingest.layout import extract_grid, load_registry
    from ingest.parse import parse_file
    from ingest.readers import read_xlsx_grid
    from ingest.reference import load_reference
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

    settings = Settings(home=Path("/nonexistent"), as_of=date(2026, 1, 15))
    reference = load_reference(settings)
    model = Model(reference, DEFAULT_SEED, settings.first_year, settings.last_year)
    out = [DOC_BEGIN, ""]
    for department in sorted(DEPARTMENT_FORMATS):
        info = reference.departments[department]
        frequency = info.reporting_frequency
        period, t = next((p, t) for p, t in periods_of(frequency, 2021, 2025) if p.startswith(str(FORM_YEAR)))
        rows = value_rows(model, department, period, t)
        _, data = render_values(department, period, rows, reference, DEPARTMENT_FORMATS[department])
        name = f"{period}_{department}_values.xlsx"
        parsed = parse_file(data, name, department_hint=department, reference=reference, settings=settings)
        grid = read_xlsx_grid(data)
        extraction = extract_grid(grid, load_registry(department))
        header_at = extraction.header_row or 0
        by_number = dict(grid.rows)
        out += [f"#### {info.name_zh} {info.name_en} (`{department}`): `{name}`", ""]
        out += ["```text", *(_shown(by_number[n][0]) for n in range(1, header_at - 1)), "```", ""]
        table = [cells for number, cells in grid.rows if number > header_at and cells and cells[0]]
        # The two regions with the most cells filled (counties, for most forms), in the form's order.
        fullest = sorted(table, key=lambda cells: -sum(cell not in (None, "") for cell in cells))[
            :DOC_REGIONS
        ]
        regions = [cells for cells in table if any(cells is chosen for chosen in fullest)]
        total = next(
            cells
            for number, cells in grid.rows
            if number > header_at and len(cells) > 1 and cells[1] == "合计"
        )
        labels = [f"{_shown(cells[0])} {_shown(cells[1])}" for cells in regions]
        out.append("| 表头（合并表头展平）header, flattened | " + " | ".join([*labels, "合计"]) + " |")
        out.append("|---|" + "---|" * (len(labels) + 1))
        for index, header in enumerate(extraction.header_cells[2:], start=2):
            cells = [*regions, total]
            out.append(
                f"| {_shown(header)} | "
                + " | ".join(_shown(c[index] if index < len(c) else None) for c in cells)
                + " |"
            )
        footer = [
            number
            for number, cells in grid.rows
            if number > header_at
            and cells
            and isinstance(cells[0], str)
            and cells[0].startswith(("填报", "注"))
        ]
        out += ["", "表尾 footer（不入库，已丢弃 dropped, never stored）:", "", "```text"]
        for number in range(min(footer), max(footer) + 1):
            cells = by_number.get(number, [])
            out.append(pii.mask("  ".join(_shown(cell) for cell in cells if cell)))
        out += ["```", ""]
        warnings = ", ".join(w.reason_code for w in parsed.warnings) or "-"
        loaded = parsed.submissions
        out.append(
            f"入库 loaded: **{parsed.rows_loaded}** 条记录 records, {len(parsed.rejections)} 拒收 refused, "
            f"{parsed.lines_skipped} 行跳过 lines skipped (合计 + 表尾); 提示 warnings: {warnings}. "
            f"{_shown(regions[0][1])} 的记录 records of {_shown(regions[0][1])}:"
        )
        out += [
            "",
            "| 指标 measure | 统计期 period | 数值 value | 分子 numerator | 分母 denominator | 单元格 cell |",
            "|---|---|---|---|---|---|",
        ]
        shown_code = next(
            code for code, region in reference.regions.items() if region.name_zh == regions[0][1]
        )
        for row in loaded:
            if row.region_code == shown_code:
                value = f"{row.value:.6g}" if row.value is not None else ""
                out.append(
                    f"| {row.measure_code} | {row.period} | {value} | {_shown(row.numerator)} | "
                    f"{_shown(row.denominator)} | `{row.row_ref}` |"
                )
        out.append("")
    out.append(DOC_END)
    return "\n".join(out)


def doc_path() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "docs" / "submissions.md"


if __name__ == "__main__":
    text = doc_path().read_text(encoding="utf-8")
    start, end = text.index(DOC_BEGIN), text.index(DOC_END) + len(DOC_END)
    doc_path().write_text(text[:start] + forms_section() + text[end:], encoding="utf-8")
