"""``scorecard generate``: realistic department submissions for 2021-2025, seeded and reproducible.

The set follows smooth trajectories toward the provincial targets: the province roughly meets
them, while about one county in seven falls short (that is data, not a fault). Periods follow each
department's reporting frequency (quarterly departments: the Q4 value is the year value). Files come
in the formats departments really use: GB18030 CSV with Chinese headers and 元/月, XLSX with
title rows, one department's own wide report form, JSON, tab-separated UTF-8, full-width digits,
"1,200" and "87.5%". Status reports cover work items, policy items and the milestone ``EC02``.

``--faults`` adds a separate set of faulty files and ``faults_manifest.json`` listing each fault
with the reason code the loader must give it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ingest.reference import Measure, Reference, Region, load_reference
from scorecard.core.settings import Settings, get_settings

DEFAULT_SEED = 20211
SHORTFALL_SHARE = 0.15  # regions that fall short of a target
POPULATION_GROWTH = {"resident": 1.005, "elderly": 1.03}
CHINESE_HEADERS = [
    "行政区划代码",
    "行政区划名称",
    "指标代码",
    "统计期",
    "数值",
    "分子",
    "分母",
    "单位",
    "备注",
]
ENGLISH_HEADERS = [
    "region_code",
    "region_name",
    "measure_code",
    "period",
    "value",
    "numerator",
    "denominator",
    "unit",
    "note",
]
BILINGUAL_HEADERS = [f"{zh} {en}" for zh, en in zip(CHINESE_HEADERS, ENGLISH_HEADERS, strict=True)]
STATUS_HEADERS = ["事项编码", "行政区划代码", "统计期", "状态", "日期", "佐证", "备注"]
# County-level "regions meeting a condition" measures that count the things of another measure.
DERIVED_FROM = {"EC03C": "EC03A", "SGE03": "SG05"}
# Shares of counties meeting a condition (measures.csv numerator_en "counties ..."): a county's own
# value is yes or no, reported as 1 or 0 over 1, so the province's ratio of sums is the share.
SHARE_OF_COUNTIES = {"PP04", "WS01", "WS03"}
# Counts of counties meeting a condition (a pilot completed): a county's own value is 1 or 0.
COUNT_OF_COUNTIES = {"WS06", "WS07"}
# Measures without a provincial target: (start, end) of a plausible provincial trajectory.
DEFAULT_TRAJECTORY = {"rate": (72.0, 92.0), "count": (300.0, 520.0), "regions_meeting": (40.0, 90.0)}
FULL_WIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")

# Submission format of each department's values (the status reports are CSV for everyone).
DEPARTMENT_FORMATS = {
    "social_assistance": "csv_gb18030_monthly",
    "child_welfare": "xlsx_title",
    "social_welfare": "json_object",
    "elderly_care": "xlsx_wide",
    "charity_social_work": "csv_bom_formatted",
    "community_governance": "tsv_english",
    "social_affairs": "xlsx_data_sheet",
    "place_names": "json_list",
    "resettlement": "csv_gb18030_fullwidth",
}
MISSING_SUBMISSION = ("place_names", "2025")  # with --faults: this department's latest period is not sent
# The year whose values every department sends in its own report form (ingest/registry): a two-row
# header with merged cells, a 合计 row and a signature footer (filer, reviewer, phone: dropped by
# the loader, never stored). The values are the ones the department's usual file carries, to the
# digit: only the layout differs (tests/ingest/test_generated_forms.py loads both and compares).
FORM_YEAR = 2024
# Departments whose form names its regions without codes (a 序号 column; the loader resolves names).
FORM_BY_NAME = frozenset({"social_welfare", "place_names"})
FORM_FILERS = ("陈晓燕", "周建华", "吴丽娟", "郑志强", "王海燕", "冯国庆", "沈雅琴", "韩卫东", "杨秀英")


def _unit_random(*parts: Any) -> float:
    """A uniform number in [0, 1) determined by the parts (stable across runs and platforms)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class Model:
    """The latent truth the files are drawn from: trajectories, per-region performance, noise."""

    reference: Reference
    seed: int
    first_year: int
    last_year: int
    # Computed once per measure (or list of regions) instead of once per record: pure functions of
    # the reference, the seed and the years, so the files are the same, byte for byte.
    _knots: dict[str, dict[int, float]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _ranks: dict[tuple[str, tuple[str, ...]], dict[str, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _totals: dict[tuple[str, ...], float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def r(self, *parts: Any) -> float:
        return _unit_random(self.seed, *parts)

    def rank(self, measure: Measure, region: Region, regions: list[Region]) -> int:
        """The region's place in the measure's stable ranking of ``regions`` (0 first)."""
        key = (measure.code, tuple(other.code for other in regions))
        ranks = self._ranks.get(key)
        if ranks is None:
            ranked = sorted(regions, key=lambda other: self.r("rank", measure.code, other.code))
            ranks = self._ranks[key] = {other.code: index for index, other in enumerate(ranked)}
        return ranks[region.code]

    # -- provincial trajectories ------------------------------------------------------------------

    def knots(self, measure: Measure) -> dict[int, float]:
        """Provincial value at each year end, from the targets (interpolated, extended flat)."""
        if measure.code not in self._knots:
            self._knots[measure.code] = self._knots_of(measure)
        return self._knots[measure.code]

    def _knots_of(self, measure: Measure) -> dict[int, float]:
        years = range(self.first_year - 1, self.last_year + 1)
        targets = {
            year: value for (code, year), value in self.reference.targets.items() if code == measure.code
        }
        if not targets:
            start, end = DEFAULT_TRAJECTORY.get(measure.kind, (70.0, 90.0))
            targets = {self.first_year: start, self.last_year: end}
        elif len(targets) == 1:
            ((year, value),) = targets.items()
            lower = measure.direction == "lower_is_better"
            start = value * (1.25 if lower else 0.8)
            if measure.kind == "regions_meeting":
                start = max(1.0, round(value * 0.6))
            targets = {self.first_year: start, year: value}
        known = sorted(targets)
        out = {}
        for year in years:
            if year <= known[0]:
                first, second = known[0], known[1] if len(known) > 1 else known[0]
                slope = (targets[second] - targets[first]) / (second - first) if second != first else 0.0
                out[year] = max(0.0, targets[first] - slope * (known[0] - year))
            elif year >= known[-1]:
                growth = 1.02 if measure.is_cumulative else 1.0
                out[year] = targets[known[-1]] * growth ** (year - known[-1])
            else:
                before = max(k for k in known if k <= year)
                after = min(k for k in known if k >= year)
                share = 0 if after == before else (year - before) / (after - before)
                out[year] = targets[before] + share * (targets[after] - targets[before])
        return out

    def province_at(self, measure: Measure, t: float) -> float:
        knots = self.knots(measure)
        year = math.floor(t)
        if year >= self.last_year:
            return knots[self.last_year]
        low = knots.get(year, knots[min(knots)])
        high = knots.get(year + 1, low)
        return low + (t - year) * (high - low)

    # -- regions ----------------------------------------------------------------------------------

    def performance(self, measure: Measure, region: Region) -> float:
        """How a region does against the target: mostly at or above it, some short of it."""
        if self.r("short", measure.code, region.code) < SHORTFALL_SHARE:
            factor = 0.86 + 0.1 * self.r("shortfall", measure.code, region.code)
        else:
            factor = 1.0 + 0.08 * self.r("ahead", measure.code, region.code)
        return 1.0 / factor if measure.direction == "lower_is_better" else factor

    def noise(self, measure: Measure, region: Region, t: float, spread: float = 0.01) -> float:
        """Smooth multiplicative noise: interpolated between yearly draws, so quarters are smooth."""
        year = math.floor(t)
        a = self.r("noise", measure.code, region.code, year) - 0.5
        b = self.r("noise", measure.code, region.code, year + 1) - 0.5
        return 1.0 + spread * 2 * (a + (t - year) * (b - a))

    def population(self, region: Region, base: str, t: float) -> float:
        resident, elderly = self.reference.population.get((region.code, 2020), (None, None))
        value = elderly if base == "elderly" else resident
        if value is None:
            value = 400_000.0 if base != "elderly" else 80_000.0
        return value * POPULATION_GROWTH.get(base, 1.0) ** (t - 2020)

    def share(self, measure: Measure, region: Region, regions: list[Region]) -> float:
        """How the generated sample spreads a provincial count over regions (not a target)."""
        key = tuple(other.code for other in regions)
        if key not in self._totals:
            self._totals[key] = sum(self.population(other, "resident", 2020) for other in regions)
        total = self._totals[key]
        return self.population(region, "resident", 2020) / total

    def denominator(self, measure: Measure, region: Region, t: float) -> int:
        """A plausible base for a rate: townships for township coverage, else people or units."""
        if "乡镇" in measure.name_zh and region.township_count:
            return region.township_count
        divisor = 400 + 600 * self.r("den", measure.code)
        return max(30, round(self.population(region, "resident", t) / divisor))

    def record(self, measure: Measure, region: Region, regions: list[Region], t: float) -> dict[str, float]:
        """The values (value, numerator, denominator as applicable) of one region at time t."""
        kind = measure.kind
        province = self.province_at(measure, t)
        performance = self.performance(measure, region)
        if kind == "rate" and measure.code in SHARE_OF_COUNTIES:
            # The first share x counties of a stable ranking meet the condition; once met, it stays.
            # enough counties to reach the share (25 % of 90 is 23 counties, not 22)
            meets = self.rank(measure, region, regions) < math.ceil(
                min(1.0, province / 100) * len(regions) - 1e-9
            )
            return {"numerator": 1 if meets else 0, "denominator": 1}
        if kind == "rate":
            rate = min(100.0, province * performance * self.noise(measure, region, t, 0.005))
            denominator = self.denominator(measure, region, t)
            return {
                "numerator": min(denominator, round(denominator * rate / 100)),
                "denominator": denominator,
            }
        if kind == "density":
            base = self.population(region, measure.population_base or "resident", t)
            density = province * performance * self.noise(measure, region, t)
            return {
                "numerator": round(density * base / (measure.value_scale or 1)),
                "denominator": round(base),
            }
        if kind == "ratio" and measure.value_scale == 100:
            income = 30_000 * (1 + 0.5 * self.r("income", region.code)) * 1.06 ** (t - 2020)
            ratio = province * performance * self.noise(measure, region, t, 0.005)
            return {"numerator": round(income * ratio / 100), "denominator": round(income)}
        if kind == "ratio":
            beds = self.population(region, "elderly", t) / 25
            per_worker = province * performance * self.noise(measure, region, t)
            workers = max(1, round(beds / per_worker))
            return {"numerator": round(beds), "denominator": workers}
        if kind == "level":
            return {"value": round(province * performance * self.noise(measure, region, t, 0.004), -1)}
        if kind == "regions_meeting":
            return {"value": self.meeting_value(measure, region, regions, t)}
        if kind == "count" and measure.code in COUNT_OF_COUNTIES:
            return {"value": 1.0 if self.rank(measure, region, regions) < round(province) else 0.0}
        # count and amount: the province's figure apportioned by population, dithered to integers
        expected = province * self.share(measure, region, regions) * performance
        if kind == "amount":
            return {"value": round(expected * self.noise(measure, region, t), 2)}
        dither = self.r("dither", measure.code, region.code)
        return {"value": float(math.floor(expected + dither))}

    def meeting_value(self, measure: Measure, region: Region, regions: list[Region], t: float) -> float:
        """Count of things in a region for a "regions meeting a condition" measure: the region
        meets the condition once its rank is within the provincial number for the year."""
        source = DERIVED_FROM.get(measure.code)
        if source and source in self.reference.measures:
            return self.record(self.reference.measures[source], region, regions, t)["value"]
        needed = self.province_at(measure, math.ceil(t - 1e-9))
        if self.rank(measure, region, regions) >= round(needed):
            return 0.0
        return float(
            1 + math.floor(3 * self.r("extra", measure.code, region.code) * (t - self.first_year + 1) / 5)
        )


# --- what to generate ----------------------------------------------------------------------------


def reporting_regions(measure: Measure, reference: Reference) -> list[Region]:
    """The finest level a measure allows (its condition level for a regions-meeting measure)."""
    levels = measure.region_levels
    if measure.kind == "regions_meeting" and measure.condition_level:
        level = measure.condition_level
    else:
        level = next(
            (candidate for candidate in ("county", "city", "province") if candidate in levels), levels[0]
        )
    return sorted(
        (region for region in reference.regions.values() if region.level == level), key=lambda r: r.code
    )


def periods_of(frequency: str, first_year: int, last_year: int) -> list[tuple[str, float]]:
    """(period, time) pairs: a time is the period's end in fractional years (2023-Q2 -> 2022.5)."""
    out = []
    for year in range(first_year, last_year + 1):
        if frequency == "quarterly":
            out.extend((f"{year}-Q{quarter}", year - 1 + quarter / 4) for quarter in range(1, 5))
        else:
            out.append((str(year), float(year)))
    return out


@dataclass
class Row:
    """One long-layout row before formatting."""

    region: Region
    measure: Measure
    period: str
    values: dict[str, float]


def value_rows(model: Model, department: str, period: str, t: float) -> list[Row]:
    reference = model.reference
    rows = []
    for measure in sorted(reference.measures.values(), key=lambda m: m.code):
        if measure.department_code != department or measure.submitted_via != "values":
            continue
        regions = reporting_regions(measure, reference)
        rows.extend(
            Row(region, measure, period, model.record(measure, region, regions, t)) for region in regions
        )
    return rows


def status_rows(model: Model, department: str, year: int) -> list[dict[str, str]]:
    """Work items, policy items and milestones of a department, as of the end of ``year``."""
    reference = model.reference
    out = []
    for item in sorted(reference.items.values(), key=lambda i: i.code):
        if item.owner_department != department:
            continue
        if item.kind == "milestone":
            measure = reference.measures[item.code]
            levels = reference.status_choices(item)
            # The cities report their own plans too (EC02 names the 11 cities and the large counties).
            cities = sorted(
                (r for r in reference.regions.values() if r.level == "city"), key=lambda r: r.code
            )
            for region in [*cities, *reporting_regions(measure, reference)]:
                target = reference.milestone_targets.get((item.code, year), levels[-1].code)
                rank = next((i for i, level in enumerate(levels) if level.code == target), len(levels) - 1)
                behind = model.r("behind", item.code, region.code) < SHORTFALL_SHARE
                level = levels[max(0, rank - 1) if behind else rank]
                out.append(
                    {
                        "item_code": item.code,
                        "region_code": region.code,
                        "period": str(year),
                        "status": level.name_zh,
                        "status_date": f"{year}-12-{10 + int(model.r('d', region.code, year) * 15)}",
                        "evidence": f"规划批复 {region.code}-{year}",
                        "note": "",
                    }
                )
            continue
        options = reference.status_choices(item)
        due = item.due_year or model.last_year
        start = model.first_year + int(model.r("start", item.code) * 2)
        done_year = min(due, start + 1 + int(model.r("done", item.code) * (due - start)))
        if year < start:
            option = options[0]
        elif year < done_year:
            option = options[min(1, len(options) - 1)]
        else:
            option = next((o for o in options if o.is_complete), options[-1])
        on = date(
            min(year, done_year) if option.is_complete else year, 3 + int(model.r("m", item.code) * 9), 15
        )
        evidence = ""
        if option.is_complete:
            number = 10 + int(model.r("doc", item.code) * 80)
            evidence = (
                f"浙民发〔{done_year}〕{number}号"
                if item.kind == "policy"
                else f"https://mzt.zj.gov.cn/{item.code}"
            )
        out.append(
            {
                "item_code": item.code,
                "region_code": reference.province_code,
                "period": str(year),
                "status": option.name_zh,
                "status_date": on.isoformat(),
                "evidence": evidence,
                "note": "",
            }
        )
    return out


# --- formatting ----------------------------------------------------------------------------------


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def long_cells(row: Row, style: str) -> list[Any]:
    """The long-layout cells of a row in a department's style (units, separators, digits)."""
    values = row.values
    value = values.get("value")
    unit = row.measure.unit_zh
    if style == "csv_gb18030_monthly" and row.measure.kind == "level":
        value, unit = round(value / 12), "元/月"  # this division publishes monthly standards
    if style == "csv_bom_formatted" and row.measure.kind == "amount":
        value, unit = round(value * 10_000), "万元"
    value_text: Any = _num(value)
    numerator, denominator = _num(values.get("numerator")), _num(values.get("denominator"))
    if style == "csv_bom_formatted":
        if value is not None and value >= 1000:
            value_text = f"{value:,.0f}"
        if "numerator" in values and row.measure.kind == "rate":
            rate = values["numerator"] / values["denominator"] * 100
            value_text = f"{rate:.1f}%"
    if style == "csv_gb18030_fullwidth":
        value_text, numerator, denominator = (
            str(text).translate(FULL_WIDTH) for text in (value_text, numerator, denominator)
        )
    if style in {"xlsx_title", "xlsx_data_sheet"}:
        value_text = value if value is not None else None
        numerator = values.get("numerator")
        denominator = values.get("denominator")
    return [
        row.region.code,
        row.region.name_zh,
        row.measure.code,
        row.period,
        value_text,
        numerator,
        denominator,
        unit,
        "",
    ]


def _csv_bytes(
    header: list[str], rows: list[list[Any]], *, encoding: str, delimiter: str = ",", title: str | None = None
) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if title:
        writer.writerow([title])
    writer.writerow(header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in rows)
    return buffer.getvalue().encode(encoding)


def _xlsx_bytes(sheets: list[tuple[str, list[list[Any]]]]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    for name, rows in sheets:
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _json_record(row: Row, chinese: bool) -> dict[str, Any]:
    keys = CHINESE_HEADERS if chinese else ENGLISH_HEADERS
    values = [
        row.region.code,
        row.region.name_zh,
        row.measure.code,
        row.period,
        row.values.get("value"),
        row.values.get("numerator"),
        row.values.get("denominator"),
        row.measure.unit_zh,
        None,
    ]
    return {key: value for key, value in zip(keys, values, strict=True) if value is not None}


def render_values(
    department: str,
    period: str,
    rows: list[Row],
    reference: Reference,
    style: str,
    *,
    form: bool | None = None,
) -> tuple[str, bytes]:
    """(file extension, bytes) of a department's values file in its style; in its own report form
    for the periods of ``FORM_YEAR`` (or as ``form`` says)."""
    name_zh = reference.departments[department].name_zh
    title = f"{period} {name_zh} 共同富裕指标数据报送表"
    if form if form is not None else period.startswith(str(FORM_YEAR)):
        return "xlsx", render_form(department, period, rows, reference, style)
    if style == "xlsx_wide":
        return "xlsx", render_wide(department, period, rows, title)
    cells = [long_cells(row, style) for row in rows]
    if style == "csv_gb18030_monthly":
        return "csv", _csv_bytes(CHINESE_HEADERS, cells, encoding="gb18030")
    if style == "csv_gb18030_fullwidth":
        return "csv", _csv_bytes(CHINESE_HEADERS, cells, encoding="gb18030", title=title)
    if style == "csv_bom_formatted":
        return "csv", _csv_bytes(CHINESE_HEADERS, cells, encoding="utf-8-sig")
    if style == "tsv_english":
        return "csv", _csv_bytes(ENGLISH_HEADERS, cells, encoding="utf-8", delimiter="\t")
    if style == "xlsx_title":
        return "xlsx", _xlsx_bytes(
            [("Sheet1", [[title], ["填报单位：" + name_zh], [], BILINGUAL_HEADERS, *cells])]
        )
    if style == "xlsx_data_sheet":
        notes = [["填报说明"], ["每行一个地区、一个指标、一个统计期；比率请填分子和分母。"]]
        return "xlsx", _xlsx_bytes([("说明", notes), ("数据", [CHINESE_HEADERS, *cells])])
    if style == "json_object":
        document = {"department": department, "records": [_json_record(row, chinese=False) for row in rows]}
        return "json", json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")
    if style == "json_list":
        return "json", json.dumps(
            [_json_record(row, chinese=True) for row in rows], ensure_ascii=False
        ).encode()
    raise ValueError(f"unknown style {style}")


def render_wide(department: str, period: str, rows: list[Row], title: str) -> bytes:
    """The department's own report form (registry): one row per region, one column per part."""
    from ingest.layout import load_registry

    registry = load_registry(department)
    if registry is None:
        raise ValueError(f"{department} has no wide-layout registry")
    by_region: dict[str, dict[str, dict[str, float]]] = {}
    names: dict[str, str] = {}
    for row in rows:
        by_region.setdefault(row.region.code, {})[row.measure.code] = row.values
        names[row.region.code] = row.region.name_zh
    header = ["行政区划代码", "行政区划名称", *(column.header for column in registry.columns)]
    body = []
    for code in sorted(by_region):
        cells: list[Any] = [code, names[code]]
        for column in registry.columns:
            cells.append(by_region[code].get(column.measure_code, {}).get(column.part))
        body.append(cells)
    year, _, quarter = period.partition("-Q")
    title_period = f"{year}年第{quarter}季度" if quarter else f"{year}年度"
    return _xlsx_bytes([("报表", [[f"{title_period}{registry.form_title_zh}"], [title], header, *body])])


def _form_parts(row: Row, style: str) -> tuple[dict[str, Any], str]:
    """The cells a row gives a report form (value, numerator, denominator) and their unit: exactly
    what the department's usual file (``style``) writes, so that both load the same values."""
    if style == "xlsx_wide":
        return dict(row.values), row.measure.unit_zh
    cells = long_cells(row, style)
    parts = dict(zip(("value", "numerator", "denominator"), cells[4:7], strict=True))
    return {part: cell for part, cell in parts.items() if cell not in (None, "")}, cells[7]


def _form_header(column: Any, measure: Measure, unit: str) -> str:
    """A value column's header: the registry's, or its name with the unit the file writes in."""
    from ingest.layout import bare_header
    from ingest.values import ValueProblem, unit_factor

    if column.part != "value" or not column.unit:
        return column.header
    try:
        same = unit_factor(unit, measure.unit, canonical_aliases=(measure.unit_zh,)) == unit_factor(
            column.unit, measure.unit, canonical_aliases=(measure.unit_zh,)
        )
    except ValueProblem:
        same = False
    if same:
        return column.header
    name = column.header[: len(column.header) - len(column.header.split("（")[-1]) - 1]
    assert bare_header(f"{name}（{unit}）") == bare_header(column.header)
    return f"{name}（{unit}）"


def _summed(cells: list[Any]) -> Any:
    """The sum a 合计 row shows for a column (as the loader reads the cells), or None."""
    from ingest.values import ValueProblem, parse_number

    numbers = []
    for cell in cells:
        try:
            parsed = parse_number(cell)
        except ValueProblem:
            return None
        if parsed is not None:
            numbers.append(parsed)
    if not numbers:
        return None
    total = sum(number.value for number in numbers)
    decimals = max(number.decimals for number in numbers)
    return round(total) if decimals == 0 else round(total, decimals)


def render_form(department: str, period: str, rows: list[Row], reference: Reference, style: str) -> bytes:
    """A department's own report form as its statisticians keep it: title and reporting body, a
    two-row header (each measure's name merged over its numerator, denominator and rate), one row
    per region, a 合计 row over the columns that add up, and a signature footer."""
    import openpyxl

    from ingest.form_checks import SUMMED_PARTS
    from ingest.layout import load_registry

    registry = load_registry(department)
    if registry is None:
        raise ValueError(f"{department} has no report form")
    parts: dict[str, dict[str, dict[str, Any]]] = {}
    units: dict[str, str] = {}
    names: dict[str, str] = {}
    for row in rows:
        cells, unit = _form_parts(row, style)
        parts.setdefault(row.region.code, {})[row.measure.code] = cells
        units.setdefault(row.measure.code, unit)
        names[row.region.code] = row.region.name_zh
    columns = [column for column in registry.columns if column.measure_code in units]
    measures = reference.measures
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "报表"
    year, _, quarter = period.partition("-Q")
    title_period = f"{year}年第{quarter}季度" if quarter else f"{year}年度"
    sheet.append([f"{title_period}{registry.form_title_zh}"])
    sheet.append([f"填报单位：浙江省民政厅{reference.departments[department].name_zh}"])
    by_name = department in FORM_BY_NAME
    parent: list[Any] = ["序号" if by_name else "行政区划代码", "行政区划名称"]
    child: list[Any] = [None, None]
    merges = ["A3:A4", "B3:B4"]
    for measure_code in dict.fromkeys(column.measure_code for column in columns):
        group = [column for column in columns if column.measure_code == measure_code]
        first = len(parent) + 1
        headers = [_form_header(column, measures[measure_code], units[measure_code]) for column in group]
        if len(group) == 1:
            parent.append(headers[0])
            child.append(None)
            merges.append(f"{_letter(first)}3:{_letter(first)}4")
        else:
            parent += [measures[measure_code].name_zh, *([None] * (len(group) - 1))]
            child += headers
            merges.append(f"{_letter(first)}3:{_letter(first + len(group) - 1)}3")
    sheet.append(parent)
    sheet.append(child)
    for cell_range in merges:
        sheet.merge_cells(cell_range)
    body = []
    for number, code in enumerate(sorted(parts), 1):
        cells = [parts[code].get(c.measure_code, {}).get(c.part) for c in columns]
        body.append([number if by_name else code, names[code], *cells])
    for cells in body:
        sheet.append(cells)
    total: list[Any] = [None, "合计"]
    for index, column in enumerate(columns, start=2):
        summed = column.part in SUMMED_PARTS.get(measures[column.measure_code].rollup_rule, ())
        total.append(_summed([cells[index] for cells in body]) if summed else None)
    sheet.append(total)
    sheet.append([])
    filer = FORM_FILERS[sorted(reference.departments).index(department) % len(FORM_FILERS)]
    sheet.append([f"填报人：{filer}", None, "审核人：处长", None, "联系电话：13905710000"])
    # Filed in the month after the period ends (January for a year or a fourth quarter).
    month = 3 * int(quarter) + 1 if quarter and quarter != "4" else 1
    sheet.append([f"填报日期：{int(year) + (1 if month == 1 else 0)}年{month}月10日"])
    sheet.append(["注：本表数据为期末数。"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _letter(number: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(number))


def render_status(rows: list[dict[str, str]]) -> bytes:
    keys = ["item_code", "region_code", "period", "status", "status_date", "evidence", "note"]
    return _csv_bytes(STATUS_HEADERS, [[row[key] for key in keys] for row in rows], encoding="utf-8-sig")


# --- the whole set -------------------------------------------------------------------------------


@dataclass
class GenerationReport:
    out: Path
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    manifest: Path | None = None


def generate(
    out: Path, *, seed: int = DEFAULT_SEED, faults: bool = False, settings: Settings | None = None
) -> GenerationReport:
    """Write the sample set (and, with ``faults``, the fault files and their manifest) into ``out``."""
    settings = settings or get_settings()
    reference = load_reference(settings)
    model = Model(reference, seed, settings.first_year, settings.last_year)
    report = GenerationReport(out=out)
    for department in sorted(reference.departments):
        folder = out / department
        folder.mkdir(parents=True, exist_ok=True)
        frequency = reference.departments[department].reporting_frequency
        style = DEPARTMENT_FORMATS.get(department, "csv_bom_formatted")
        for period, t in periods_of(frequency, settings.first_year, settings.last_year):
            if faults and (department, period[:4]) == MISSING_SUBMISSION:
                continue  # a late or missing submission: nothing arrives
            rows = value_rows(model, department, period, t)
            if not rows:
                continue
            extension, data = render_values(department, period, rows, reference, style)
            path = folder / f"{period}_{department}_values.{extension}"
            path.write_bytes(data)
            report.files.append(path)
            report.rows += len(rows)
        for year in range(settings.first_year, settings.last_year + 1):
            if faults and (department, str(year)) == MISSING_SUBMISSION:
                continue
            statuses = status_rows(model, department, year)
            if statuses:
                path = folder / f"{year}_{department}_status.csv"
                path.write_bytes(render_status(statuses))
                report.files.append(path)
                report.rows += len(statuses)
    if faults:
        report.manifest = write_faults(out, model, report)
    return report


def write_faults(out: Path, model: Model, report: GenerationReport) -> Path:
    """The fault files: each small, each with one known fault, listed in the manifest."""
    reference = model.reference
    entries: list[dict[str, Any]] = []
    department = "social_affairs"
    year = str(model.last_year - 1)
    # Valid rows for the fault files: the clean set's own values, with different keys in each file
    # so that no fault file supersedes another.
    pool = value_rows(model, department, year, float(year))
    taken = 0

    def fresh(extra: list[Any] | None = None) -> list[list[Any]]:
        nonlocal taken
        rows = [long_cells(row, "tsv_english") for row in pool[taken : taken + 4]]
        taken += 4
        return [*rows, extra] if extra is not None else rows

    def long_file(
        name: str,
        rows: list[list[Any]],
        expected: list[tuple[int, str]],
        fault: str,
        folder: str = department,
        status: str = "loaded_with_rejects",
    ) -> None:
        path = out / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_csv_bytes(ENGLISH_HEADERS, rows, encoding="utf-8"))
        report.files.append(path)
        entries.append(
            {
                "fault": fault,
                "file": path.relative_to(out).as_posix(),
                "department": folder,
                "expected_status": status,
                "rows": len(rows),
                "expected_rejects": [
                    {"row_ref": f"row {index + 2}", "reason_code": code} for index, code in expected
                ],
            }
        )

    rate = next(row for row in pool if row.measure.kind == "rate")
    count = next(
        m for m in reference.measures.values() if m.department_code == department and m.kind == "count"
    )
    county = pool[0].region

    long_file(
        "fault_01_bad_region.csv",
        fresh(["339999", "", rate.measure.code, year, "", 5, 10, "", ""]),
        [(4, "REGION_UNKNOWN")],
        "bad_region_code",
    )
    long_file(
        "fault_02_unknown_measure.csv",
        fresh([county.code, "", "WS99", year, "12", "", "", "", ""]),
        [(4, "MEASURE_UNKNOWN")],
        "unknown_measure",
    )
    long_file(
        "fault_03_rate_over_100.csv",
        fresh([county.code, "", rate.measure.code, str(model.last_year), "105%", "", "", "", ""]),
        [(4, "RATE_OUT_OF_RANGE")],
        "rate_over_100",
    )
    long_file(
        "fault_04_numerator_gt_denominator.csv",
        fresh([county.code, "", rate.measure.code, str(model.last_year), "", 12, 10, "", ""]),
        [(4, "NUMERATOR_EXCEEDS_DENOMINATOR")],
        "numerator_exceeds_denominator",
    )
    long_file(
        "fault_05_negative_count.csv",
        fresh([county.code, "", count.code, str(model.last_year), "-3", "", "", "个", ""]),
        [(4, "NEGATIVE_VALUE")],
        "negative_count",
    )
    long_file(
        "fault_06_bad_unit.csv",
        fresh([county.code, "", count.code, str(model.last_year), "3", "", "", "公斤", ""]),
        [(4, "UNIT_UNCONVERTIBLE")],
        "unconvertible_unit",
    )
    long_file(
        "fault_07_period_outside_window.csv",
        fresh([county.code, "", count.code, str(model.first_year - 2), "3", "", "", "", ""]),
        [(4, "PERIOD_OUT_OF_WINDOW")],
        "period_outside_window",
    )
    duplicated = fresh()
    long_file(
        "fault_08_duplicate_key.csv",
        [*duplicated, duplicated[0]],
        [(0, "DUPLICATE_KEY"), (4, "DUPLICATE_KEY")],
        "duplicate_key_within_file",
    )
    long_file(
        "fault_09_unknown_department.csv",
        fresh(),
        [(i, "DEPARTMENT_UNKNOWN") for i in range(4)],
        "unknown_department",
        folder="unknown_division",
        status="rejected",
    )

    # A status report with a status outside the vocabulary.
    statuses = status_rows(model, department, int(year))
    bad_status = [dict(statuses[0], status="差不多完成了")]
    path = out / department / "fault_10_unknown_status.csv"
    path.write_bytes(render_status([*statuses[1:], *bad_status]))
    report.files.append(path)
    entries.append(
        {
            "fault": "unknown_status",
            "file": path.relative_to(out).as_posix(),
            "department": department,
            "expected_status": "loaded_with_rejects",
            "rows": len(statuses),
            "expected_rejects": [{"row_ref": f"row {len(statuses) + 1}", "reason_code": "STATUS_UNKNOWN"}],
        }
    )

    # A header and nothing else.
    path = out / department / "fault_11_header_only.csv"
    path.write_bytes(_csv_bytes(CHINESE_HEADERS, [], encoding="utf-8"))
    report.files.append(path)
    entries.append(
        {
            "fault": "header_only",
            "file": path.relative_to(out).as_posix(),
            "department": department,
            "expected_status": "rejected",
            "rows": 0,
            "file_reason_code": "FILE_HEADER_ONLY",
            "expected_rejects": [],
        }
    )

    # The same bytes again under another name.
    original = out / "resettlement" / f"{model.last_year - 2}_resettlement_values.csv"
    path = out / "resettlement" / "fault_12_exact_duplicate.csv"
    shutil.copyfile(original, path)
    report.files.append(path)
    entries.append(
        {
            "fault": "exact_duplicate_file",
            "file": path.relative_to(out).as_posix(),
            "department": "resettlement",
            "duplicate_of": original.relative_to(out).as_posix(),
            "expected_status": "duplicate",
            "rows": 0,
            "expected_rejects": [],
        }
    )

    # A corrected resubmission of a whole file with one value changed: the original is superseded.
    period = str(model.last_year - 2)
    rows = value_rows(model, "resettlement", period, float(period))
    target = rows[0]
    corrected = dict(target.values)
    key = "value" if "value" in corrected else "numerator"
    corrected[key] = corrected[key] + 1
    rows[0] = Row(target.region, target.measure, target.period, corrected)
    path = out / "resettlement" / "fault_13_corrected_resubmission.csv"
    path.write_bytes(
        _csv_bytes(CHINESE_HEADERS, [long_cells(row, "csv") for row in rows], encoding="gb18030")
    )
    report.files.append(path)
    entries.append(
        {
            "fault": "corrected_resubmission",
            "file": path.relative_to(out).as_posix(),
            "department": "resettlement",
            "supersedes": original.relative_to(out).as_posix(),
            "expected_status": "loaded",
            "rows": len(rows),
            "expected_rejects": [],
            "corrected": {
                "region_code": target.region.code,
                "measure_code": target.measure.code,
                "period": period,
                "field": key,
                "old": target.values[key],
                "new": corrected[key],
            },
        }
    )

    missing_department, missing_year = MISSING_SUBMISSION
    manifest = {
        "seed": model.seed,
        "faults": entries,
        "missing_submissions": [
            {"department": missing_department, "period": missing_year, "fault": "missing_latest_period"}
        ],
    }
    path = out / "faults_manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


# --- CLI -----------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, help="folder to write into (default: the inbox)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (same seed, same files)")
    parser.add_argument(
        "--faults", action="store_true", help="also write fault files and faults_manifest.json"
    )


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    out = args.out or settings.inbox
    out.mkdir(parents=True, exist_ok=True)
    report = generate(out, seed=args.seed, faults=args.faults, settings=settings)
    print(f"wrote {len(report.files)} files ({report.rows} rows) into {out}")
    if report.manifest:
        print(f"faults manifest: {report.manifest}")
    return 0
