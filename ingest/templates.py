"""``scorecard templates --out DIR``: blank submission templates per department.

For each department, ``<department>.xlsx`` (a 数据 sheet with bilingual headers, and a 说明 sheet
listing the department's measures, units and rules) and ``<department>.csv`` (UTF-8 with BOM, so
Excel opens it correctly, headers only) in the long layout, asking for numerator and denominator
for rates, ratios and densities (only those roll up correctly); and ``<department>_报表.xlsx``, the
department's own report form (``ingest/registry``, built by ``ingest/forms.py``).
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from ingest.reference import Measure, Reference, load_reference
from scorecard.core.settings import Settings, get_settings

VALUE_HEADERS = [
    "行政区划代码 region_code",
    "行政区划名称 region_name",
    "指标代码 measure_code",
    "统计期 period",
    "数值 value",
    "分子 numerator",
    "分母 denominator",
    "单位 unit",
    "备注 note",
]
STATUS_HEADERS = [
    "事项编码 item_code",
    "行政区划代码 region_code",
    "统计期 period",
    "状态 status",
    "日期 status_date",
    "佐证 evidence",
    "备注 note",
]
RULES = [
    ("每行：一个地区 × 一个指标 × 一个统计期。", "One row per region x measure x period."),
    (
        "统计期：YYYY、YYYY-Qn 或 YYYY-MM，须在规划期内。",
        "Period: YYYY, YYYY-Qn or YYYY-MM, inside the programme window.",
    ),
    (
        "比率、比值、密度类指标请填写分子和分母（数值可留空，由系统计算）。",
        "Rates, ratios and densities: fill numerator and denominator (value may stay blank; it is computed).",
    ),
    ("数量、金额、标准类指标只填数值。", "Counts, amounts and standards: fill value only."),
    (
        "单位留空即为指标的标准单位；元/月 会换算为 元/年，万元、亿元、万人 会自动换算。",
        "A blank unit means the measure's unit; 元/月 converts to 元/年, and 万元, 亿元, 万人 convert.",
    ),
    ("空白、“——”、“-” 表示无数据。", "Blank, '——' or '-' mean missing."),
    (
        "进度事项（工作、政策、EC02）请填写状态报表（第二个 CSV 或 状态 工作表）。",
        "Work items, policy items and EC02: fill the status sheet (状态).",
    ),
]


def _parts_hint(measure: Measure) -> str:
    if measure.takes_parts:
        return "分子/分母 numerator/denominator"
    return "数值 value"


def measure_rows(reference: Reference, department: str) -> list[list[str]]:
    """The department's measures, for the instructions sheet."""
    rows = []
    for measure in sorted(reference.measures.values(), key=lambda m: m.code):
        if measure.department_code != department:
            continue
        rows.append(
            [
                measure.code,
                measure.name_zh,
                measure.name_en,
                measure.unit_zh or measure.unit,
                measure.kind,
                "|".join(measure.region_levels),
                "状态报表 status sheet" if measure.submitted_via == "status" else _parts_hint(measure),
            ]
        )
    return rows


def item_rows(reference: Reference, department: str) -> list[list[str]]:
    """The department's trackable items and their allowed statuses."""
    rows = []
    for item in sorted(reference.items.values(), key=lambda i: i.code):
        if item.owner_department != department:
            continue
        choices = " / ".join(f"{option.code} {option.name_zh}" for option in reference.status_choices(item))
        rows.append([item.code, item.kind, item.text_zh, choices])
    return rows


def template_xlsx(reference: Reference, department: str) -> bytes:
    import openpyxl
    from openpyxl.styles import Font

    info = reference.departments[department]
    workbook = openpyxl.Workbook()
    data = workbook.worksheets[0]  # a new workbook's one sheet (the active one)
    data.title = "数据"
    data.append(VALUE_HEADERS)
    for cell in data[1]:
        cell.font = Font(bold=True)
    data.freeze_panes = "A2"
    status = workbook.create_sheet("状态")
    status.append(STATUS_HEADERS)
    notes = workbook.create_sheet("说明")
    notes.append([f"{info.name_zh} {info.name_en}：共同富裕指标报送模板 submission template"])
    notes.append([f"报送频率 frequency: {info.reporting_frequency}；部门代码 department code: {department}"])
    notes.append([])
    for zh, en in RULES:
        notes.append([zh, en])
    notes.append([])
    notes.append(["指标代码", "指标名称", "name", "单位 unit", "类型 kind", "地区层级 levels", "填写 fill"])
    for row in measure_rows(reference, department):
        notes.append(row)
    notes.append([])
    notes.append(["事项编码 item", "类型 kind", "内容", "可选状态 statuses"])
    for row in item_rows(reference, department):
        notes.append(row)
    notes.append([])
    notes.append(["示例 example", "330102", "上城区", "PP03A", "2023", "", "4870", "5000", "", ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def template_csv(headers: list[str]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerow(headers)
    return buffer.getvalue().encode("utf-8-sig")


FORM_KEY_HEADERS = ["行政区划代码", "行政区划名称", "统计期"]
FORM_RULES = [
    ("每行一个地区；统计期填 2023、2023-Q2 等，或删去该列并在标题中写明（如「2023年第2季度」）。",
     "One row per region; the period as 2023, 2023-Q2..., or drop the column and name it in the title."),
    ("比率类指标填分子和分母；比率列可留空（由系统计算），填写时须与分子分母一致。",
     "Rates: fill numerator and denominator; the rate column may stay blank (computed) or must agree."),
    ("可保留合计行（合计、小计、全市）与表尾（填报人、审核人、联系电话、注：）：合计行会与明细核对，表尾不入库。",
     "Total rows (合计, 小计, 全市) and a footer (填报人, 联系电话, 注：) may stay: totals are checked "
     "against the rows, the footer is never stored."),
    ("表头上方可写「单位：万元」，适用于未注明单位的列；列名括号内的单位优先。",
     "A 单位：万元 line above the table applies to columns whose header states no unit."),
]  # fmt: skip


def template_form(reference: Reference, department: str) -> bytes | None:
    """The department's own report form (``ingest/registry``), blank: a title, the header and the
    instructions; None for a department without one."""
    import openpyxl
    from openpyxl.styles import Alignment, Font

    from ingest.layout import load_registry

    registry = load_registry(department)
    if registry is None:
        return None
    workbook = openpyxl.Workbook()
    form = workbook.worksheets[0]  # a new workbook's one sheet (the active one)
    form.title = "报表"
    form.append([registry.form_title_zh])
    form.append(["填报单位："])
    form.append([*FORM_KEY_HEADERS, *(column.header for column in registry.columns)])
    for cell in form[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    form.freeze_panes = "D4"
    notes = workbook.create_sheet("说明")
    notes.append([f"{registry.form_title_zh}：{reference.departments[department].name_zh} 报表填报说明"])
    for zh, en in FORM_RULES:
        notes.append([zh, en])
    notes.append([])
    notes.append(["列名 column", "指标代码 measure", "填写 part", "单位 unit"])
    for column in registry.columns:
        notes.append([column.header, column.measure_code, column.part, column.unit or ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_templates(out: Path, settings: Settings | None = None) -> list[Path]:
    """Write ``<department>.xlsx``, ``<department>.csv`` and ``<department>_status.csv`` (the long
    layout) and ``<department>_报表.xlsx`` (the department's own report form)."""
    reference = load_reference(settings or get_settings())
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for department in sorted(reference.departments):
        form = template_form(reference, department)
        for name, data in (
            (f"{department}.xlsx", template_xlsx(reference, department)),
            (f"{department}.csv", template_csv(VALUE_HEADERS)),
            (f"{department}_status.csv", template_csv(STATUS_HEADERS)),
            *([(f"{department}_报表.xlsx", form)] if form is not None else []),
        ):
            path = out / name
            path.write_bytes(data)
            written.append(path)
    return written


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("templates"), help="folder to write into (default: templates/)"
    )


def run(args: argparse.Namespace) -> int:
    written = write_templates(args.out)
    print(f"wrote {len(written)} templates into {args.out}")
    return 0
