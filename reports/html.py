"""The publication report 评价报告: one self-contained, bilingual HTML page per publication.

``write_report(snapshot, out_dir, manifest)`` reads the published snapshot (read-only) and writes
``<out_dir>/report.html``: Chinese first with English beside it, inline CSS, charts drawn here as
inline SVG (no chart library, no CDN, no network at all), so the file opens offline on any
machine and can be mailed or archived as it is.

Sections 章节:

1. 五大指数 the five composite indices for the province (bars) and the ranking of cities per
   index (horizontal bars with rank and change against the previous year);
2. 指标进展 every indicator's provincial trajectory 2021-2025 against its targets (lines with
   target markers; dots coloured met / not met);
3. 县级指数热力表 counties x five indices, coloured by score, values printed;
4. 未达标目标 targets missed in the latest assessed year, and 预警 the alerts;
5. 数据质量 the quality-gate results the publication passed;
6. 数据来源 the manifest: which submissions (files, departments, sha256) the figures rest on.

The manifest comes from the ``manifest`` argument, else ``manifest.json`` beside the snapshot,
else the ``meta`` schema of the snapshot (``meta.publication``, ``meta.check_results``,
``meta.source_files``); any of them may be absent, the section then says so.
"""

from __future__ import annotations

import math
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports.charts import (
    Bar,
    Point,
    RankRow,
    heat_colour,
    line_chart,
    nice_ticks,
    province_bar_chart,
    ranking_chart,
    zone_colour,
)
from reports.formatting import (
    ALERT_KIND,
    CHECK_OUTCOME,
    DIRECTION,
    FILE_STATUS,
    LEVEL,
    SEVERITY,
    SEVERITY_ORDER,
    TRAJECTORY_STATUS,
    YEAR_STATUS,
    beijing_time,
    bi,
    esc,
    fmt_number,
    label,
    percent,
)

# The vocabulary the workbook takes from here (its home is reports/formatting.py).
from reports.formatting import STATUS_BASIS as STATUS_BASIS
from reports.queries import CITY_LEVEL, COUNTY_LEVEL, PROVINCE_LEVEL, ReportContext, Zone, read_report

# The snapshot helpers the workbook and the tests take from here (their home is reports/queries.py).
from reports.queries import connect_snapshot as connect_snapshot
from reports.queries import fetch_dicts as fetch_dicts
from reports.queries import has_table as has_table
from reports.queries import load_zones as load_zones
from reports.queries import quote_ident as quote_ident
from reports.queries import table_columns as table_columns

if TYPE_CHECKING:
    import duckdb

REPORT_NAME = "report.html"
ASSETS = Path(__file__).with_name("assets")
#: Rows listed in full in the report (the workbook carries everything).
TOP_ALERTS = 40
TOP_COUNTIES = 15
TOP_ANOMALIES = 20

# --- the report's content -------------------------------------------------------------------------


def _rank_interval(r: dict[str, Any]) -> str:
    if r.get("rank_p05") is None or r.get("rank_p95") is None:
        return "—"
    if r["rank_p05"] == r["rank_p95"]:
        return str(r["rank_p05"])
    return f"{r['rank_p05']}–{r['rank_p95']}"


def _movers_cell(movers: list[tuple[str, str, float]]) -> str:
    if not movers:
        return '<span class="muted">—</span>'
    return "<br>".join(
        f'{esc(zh)} <span class="{"up" if points > 0 else "down"}">{points:+.1f}</span>'
        f' <span class="en">{esc(en)}</span>'
        for zh, en, points in movers
    )


def rank_interval_table(ctx: ReportContext, zone: Zone, year: int, rows: list[dict[str, Any]]) -> str:
    """Beside a ranking: each city's rank interval and the two dimensions that moved its index most."""
    out = [
        '<div class="table-wrap"><table class="data compact rank-intervals"><thead><tr>'
        '<th>名次<br><span class="en">Rank</span></th><th>地市<br><span class="en">City</span></th>'
        '<th>名次区间（5%–95%）<br><span class="en">Rank interval</span></th>'
        f'<th>较 {year - 1} 年变动最大的两个维度（指数分）<br><span class="en">Two dimensions that moved the'
        " index most (points)</span></th></tr></thead><tbody>"
    ]
    for r in rows:
        name_zh, _ = ctx.region_name(r["region_code"])
        rank = "—" if r["rank_in_level"] is None else str(r["rank_in_level"])
        movers = ctx.movers.get((zone.code, r["region_code"], year), [])
        out.append(
            f"<tr><td>{rank}</td><td>{esc(name_zh)}</td><td>{_rank_interval(r)}</td>"
            f"<td>{_movers_cell(movers)}</td></tr>"
        )
    out.append("</tbody></table></div>")
    return "".join(out)


def _index_at(ctx: ReportContext, zone: Zone, year: int | None, level: str) -> list[dict[str, Any]]:
    return [r for r in ctx.index_rows.get(zone.code, []) if r["year"] == year and r["region_level"] == level]


def section_indices(ctx: ReportContext) -> str:
    """The five indices for the province and the city rankings, latest year."""
    year = ctx.index_year
    out = ['<section id="indices">', '<h2>一、五大指数 <span class="en">The five indices</span></h2>']
    if year is None:
        out.append('<p class="muted">暂无指数数据 No index data in this publication.</p></section>')
        return "".join(out)
    out.append(
        f'<p class="lead">{year} 年全省五大领域综合评价指数（0-100），以及各设区市排名。横线为 11'
        " 个地市的平均值，竖线为地市的范围（最低–最高）；"
        f"排名旁的 ▲/▼ 为较上一年的名次变化。名次区间为权重、标准化方法和数据误差随机扰动下名次的"
        "5%–95% 区间：名次区间重叠的地区无法区分先后。"
        f'<br><span class="en">Composite indices (0-100) of the five zones for the province in {year},'
        " and the "
        "ranking of the cities. The dark tick is the mean of the cities, the whisker their range (lowest to "
        "highest); ▲/▼ beside a rank is the change of places since the previous year. The rank interval is "
        "the 5th-95th percentile rank when the weights, the normaliser and the submitted values are "
        "perturbed: ranks whose intervals overlap are not distinguishable.</span></p>"
    )
    bars = []
    for zone in ctx.zones:
        province = _index_at(ctx, zone, year, PROVINCE_LEVEL)
        cities = [
            r["index_score"] for r in _index_at(ctx, zone, year, CITY_LEVEL) if r["index_score"] is not None
        ]
        bars.append(
            Bar(
                zone.index_name_zh,
                zone.index_name_en.removesuffix(" Index"),
                province[0]["index_score"] if province else None,
                zone_colour(zone.code),
                sum(cities) / len(cities) if cities else None,
                min(cities) if cities else None,
                max(cities) if cities else None,
            )
        )
    out.append('<div class="chart-box wide">')
    out.append(f'<h3>全省五大指数 <span class="en">Province, {year}</span></h3>')
    out.append(
        province_bar_chart("province-indices", f"全省五大指数 {year} The five indices of the province", bars)
    )
    out.append("</div>")
    out.append('<div class="grid-2">')
    for zone in ctx.zones:
        now = _index_at(ctx, zone, year, CITY_LEVEL)
        before = {r["region_code"]: r["rank_in_level"] for r in _index_at(ctx, zone, year - 1, CITY_LEVEL)}
        now.sort(key=lambda r: (r["rank_in_level"] is None, r["rank_in_level"] or 0, r["region_code"]))
        rows = []
        for r in now:
            name_zh, name_en = ctx.region_name(r["region_code"])
            previous = before.get(r["region_code"])
            change = None if previous is None or r["rank_in_level"] is None else previous - r["rank_in_level"]
            rows.append(RankRow(r["rank_in_level"], name_zh, name_en, r["index_score"], change))
        out.append('<div class="chart-box">')
        out.append(
            f'<h3>{esc(zone.index_name_zh)} <span class="en">{esc(zone.index_name_en)} — cities, {year}'
            "</span></h3>"
        )
        out.append(
            ranking_chart(
                f"city-ranking-{zone.code}",
                f"{zone.index_name_zh} 地市排名 {year} {zone.index_name_en}: city ranking",
                rows,
                zone_colour(zone.code),
            )
        )
        out.append(rank_interval_table(ctx, zone, year, now))
        out.append("</div>")
    out.append("</div></section>")
    return "".join(out)


def trajectory_measures(ctx: ReportContext) -> list[dict[str, Any]]:
    """The value measures that carry targets at province level (one chart each), in programme order."""
    if ctx.target_measures is None:
        return []
    with_targets = ctx.target_measures
    zone_no = {z.code: z.no for z in ctx.zones}
    chosen = [m for code, m in ctx.measures.items() if code in with_targets]
    chosen += [{"measure_code": code} for code in sorted(with_targets - set(ctx.measures))]
    return sorted(chosen, key=lambda m: (zone_no.get(m.get("zone_code") or "", 99), m["measure_code"]))


def section_trajectories(ctx: ReportContext) -> str:
    """Each indicator's provincial trajectory against its targets, grouped by zone."""
    out = [
        '<section id="trajectories">',
        '<h2>二、指标进展 <span class="en">Indicators against their 2021-2025 targets</span></h2>',
        '<p class="lead">全省实际值（折线）与年度目标（◇）。圆点绿色为达标、红色为未达标、蓝色为当年无目标。'
        "只有期末目标的指标仅在目标年份显示 ◇。"
        '<br><span class="en">The province\'s actual values (line) against the targets (◇). A green dot is a '
        "year that met its target, red one that missed it, blue a year without a target. Indicators"
        " with only "
        "an end-of-plan target show one ◇ in the target year.</span></p>",
    ]
    measures = trajectory_measures(ctx)
    if not measures:
        out.append('<p class="muted">暂无指标数据 No indicator data.</p></section>')
        return "".join(out)
    series = ctx.province_series
    by_zone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in measures:
        by_zone[m.get("zone_code") or "?"].append(m)
    zones = [
        *ctx.zones,
        *[Zone(c, 99, c, c, c, c, "") for c in by_zone if c not in {z.code for z in ctx.zones}],
    ]
    for zone in zones:
        items = by_zone.get(zone.code)
        if not items:
            continue
        out.append(
            f'<h3 class="zone" style="border-color:{zone_colour(zone.code)}">{esc(zone.name_zh)} '
            f'<span class="en">{esc(zone.name_en)}</span></h3><div class="grid-3">'
        )
        for m in items:
            code = m["measure_code"]
            rows = series.get(code, [])
            points = [
                Point(int(r["year"]), r["actual_value"], r["target_value"], r["year_status"]) for r in rows
            ]
            unit = m.get("unit_zh") or m.get("unit") or ""
            name_zh, name_en = m.get("name_zh", code), m.get("name_en", code)
            latest = next((r for r in reversed(rows) if r["year_status"] in ("met", "not_met")), None)
            badge = ""
            if latest is not None:
                zh, en = label(YEAR_STATUS, latest["year_status"])
                basis = "" if latest["status_basis"] in (None, "final") else "（暂定 provisional）"
                cls = "ok" if latest["year_status"] == "met" else "bad"
                badge = f'<span class="badge {cls}">{latest["year"]} {esc(zh)} {esc(en)}{basis}</span>'
            last = rows[-1] if rows else None
            if last is not None and last.get("trajectory_status"):
                zh, en = label(TRAJECTORY_STATUS, last["trajectory_status"])
                cls = {"on_track": "ok", "at_risk": "warn", "off_track": "bad"}.get(
                    last["trajectory_status"], ""
                )
                badge += f' <span class="badge {cls}">{esc(zh)} {esc(en)}</span>'
            direction = m.get("direction")
            note = ""
            if direction == "lower_is_better":
                zh, en = label(DIRECTION, direction)
                note = f' <span class="muted">（{esc(zh)} {esc(en)}）</span>'
            out.append('<div class="chart-box small">')
            out.append(
                f'<h4><span class="code">{esc(code)}</span> {esc(name_zh)}{note}<br>'
                f'<span class="en">{esc(name_en)}</span></h4><div class="badges">{badge}</div>'
            )
            out.append(
                line_chart(f"trajectory-{code}", f"{code} {name_zh} {name_en}", points, ctx.years, unit)
            )
            out.append("</div>")
        out.append("</div>")
    out.append(section_milestones(ctx))
    out.append("</section>")
    return "".join(out)


def section_milestones(ctx: ReportContext) -> str:
    """Milestone measures (e.g. EC02): per year, the target stage and how many regions reached it."""
    rows = ctx.milestones
    if not rows:
        return ""
    out = ['<h3 class="zone">里程碑指标 <span class="en">Milestone indicators</span></h3>']
    for code in sorted({r["measure_code"] for r in rows}):
        name_zh, name_en = ctx.measure_name(code)
        out.append(
            f'<h4 class="plain"><span class="code">{esc(code)}</span> {esc(name_zh)} '
            f'<span class="en">{esc(name_en)}</span></h4>'
        )
        out.append(
            '<table class="data"><thead><tr><th>年度<br><span class="en">Year</span></th>'
            '<th>年度目标<br><span class="en">Target stage</span></th>'
            '<th>报告层级<br><span class="en">Reported by</span></th>'
            '<th class="num">达标<br><span class="en">Met</span></th>'
            '<th class="num">未达标<br><span class="en">Not met</span></th>'
            '<th>当年进度分布<br><span class="en">Stages reported</span></th></tr></thead><tbody>'
        )
        mine = [r for r in rows if r["measure_code"] == code]
        for year in sorted({r["year"] for r in mine}):
            assessed = [r for r in mine if r["year"] == year and r["year_status"] in ("met", "not_met")]
            target = next((r for r in mine if r["year"] == year and r["target_text_zh"]), None)
            levels = sorted(
                {r["region_level"] for r in assessed}, key=lambda v: list(LEVEL).index(v) if v in LEVEL else 9
            )
            met = sum(1 for r in assessed if r["year_status"] == "met")
            stages = Counter((r["status_name_zh"] or "—", r["status_name_en"] or "") for r in assessed)
            stage_text = "；".join(
                f'{esc(zh)} <span class="en">{esc(en)}</span> {n}' for (zh, en), n in stages.most_common()
            )
            level_text = "、".join(
                f'{LEVEL[v][0]} <span class="en">{LEVEL[v][1]}</span>' for v in levels if v in LEVEL
            )
            target_html = bi(target["target_text_zh"], target["target_text_en"] or "") if target else "—"
            bad = ' class="num bad-text"' if len(assessed) - met else ' class="num"'
            out.append(
                f"<tr><td>{year}</td><td>{target_html}</td><td>{level_text or '—'}</td>"
                f'<td class="num">{met}</td><td{bad}>{len(assessed) - met}</td><td>{stage_text or "—"}'
                "</td></tr>"
            )
        out.append("</tbody></table>")
    return "".join(out)


def section_heat_table(ctx: ReportContext) -> str:
    """Counties x five indices in the latest year, coloured by score, sortable by column."""
    year = ctx.index_year
    out = [
        '<section id="counties">',
        '<h2>三、县级指数热力表 <span class="en">Counties by index (heat table)</span></h2>',
    ]
    if year is None:
        out.append('<p class="muted">暂无指数数据 No index data.</p></section>')
        return "".join(out)
    scores: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for zone in ctx.zones:
        for r in _index_at(ctx, zone, year, COUNTY_LEVEL):
            scores[r["region_code"]][zone.code] = r
    values = [
        r["index_score"] for per in scores.values() for r in per.values() if r["index_score"] is not None
    ]
    low = math.floor(min(values) / 10) * 10 if values else 0.0
    high = 100.0
    out.append(
        f'<p class="lead">{year}'
        " 年各县（市、区）五大指数，颜色由红（低）到绿（高），格内为指数值与县级排名。点击列标题可排序。"
        f'<br><span class="en">Each county\'s five indices in {year}, coloured from red (low) to green'
        " (high); each "
        f"cell shows the index and the county's rank. Click a column header to sort.</span></p>"
    )
    legend = "".join(
        f'<span class="swatch" style="background:{heat_colour(v, low, high)}">{fmt_number(v, 0)}</span>'
        for v in nice_ticks(low, high, 5)
        if low <= v <= high
    )
    out.append(f'<div class="legend-row">色阶 <span class="en">scale</span>: {legend}</div>')
    out.append('<div class="table-wrap"><table class="heat sortable" id="heat-table"><thead><tr>')
    out.append('<th data-type="text">地市<br><span class="en">City</span></th>')
    out.append('<th data-type="text">县（市、区）<br><span class="en">County</span></th>')
    for zone in ctx.zones:
        out.append(
            f'<th data-type="num">{esc(zone.index_name_zh)}<br><span'
            f' class="en">{esc(zone.index_name_en)}</span></th>'
        )
    out.append("</tr></thead><tbody>")

    def order(code: str) -> tuple[str, str]:
        region = ctx.regions.get(code)
        return ((region.city_code or "") if region else "", code)

    for code in sorted(scores, key=order):
        region = ctx.regions.get(code)
        city_zh, city_en = ctx.region_name(region.city_code if region else None)
        name_zh, name_en = ctx.region_name(code)
        out.append(
            f'<tr><td data-sort="{esc(region.city_code if region else "")}">{esc(city_zh)} <span class="en">'
            f"{esc(city_en.removesuffix(' City'))}</span></td>"
            f'<td data-sort="{esc(code)}">{esc(name_zh)} <span class="en">{esc(name_en)}</span></td>'
        )
        for zone in ctx.zones:
            r = scores[code].get(zone.code)
            value = r["index_score"] if r else None
            rank = r["rank_in_level"] if r else None
            sort_key = "" if value is None else f"{value:.6f}"
            rank_text = f'<span class="rank-small">#{rank}</span>' if rank is not None else ""
            out.append(
                f'<td class="num" data-sort="{sort_key}" style="background:{heat_colour(value, low, high)}">'
                f"{fmt_number(value, 1)}{rank_text}</td>"
            )
        out.append("</tr>")
    out.append("</tbody></table></div></section>")
    return "".join(out)


def section_missed(ctx: ReportContext) -> str:
    """Targets missed in the latest assessed year: by indicator, the counties missing most, all rows."""
    year = ctx.assessed_year
    out = ['<section id="missed">', '<h2>四、未达标目标 <span class="en">Missed targets</span></h2>']
    if year is None:
        out.append('<p class="muted">暂无已评估的年度目标 No assessed targets yet.</p></section>')
        return "".join(out)
    rows = list(ctx.assessed_rows)
    for r in ctx.milestones:
        if r["year"] == year and r["year_status"] in ("met", "not_met"):
            rows.append(
                {
                    "measure_code": r["measure_code"],
                    "region_code": r["region_code"],
                    "region_level": r["region_level"],
                    "actual_value": None,
                    "target_value": None,
                    "attainment_pct": None,
                    "actual_text": r["status_name_zh"] or "—",
                    "target_text": r["target_text_zh"] or "—",
                    "year_status": r["year_status"],
                    "status_basis": r["status_basis"],
                    "unit": None,
                }
            )
    missed = [r for r in rows if r["year_status"] == "not_met"]
    assessed: Counter[tuple[str, str]] = Counter((r["measure_code"], r["region_level"]) for r in rows)
    provisional = any(r["status_basis"] not in (None, "final") for r in rows)
    basis = "（暂定 provisional）" if provisional else ""
    out.append(
        f'<p class="lead">{year} 年{basis}：共评估 {len(rows):,} 项“地区×指标”年度目标，未达标'
        f" {len(missed):,}"
        " 项。"
        f'<br><span class="en">{year}{" (provisional)" if provisional else ""}: {len(rows):,} region ×'
        " indicator "
        f"targets assessed, {len(missed):,} missed.</span></p>"
    )
    per_measure: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in missed:
        per_measure[r["measure_code"]][r["region_level"]].append(r)
    out.append(
        '<h3>按指标 <span class="en">By indicator</span></h3><div class="table-wrap"><table class="data">'
        "<thead><tr>"
        '<th>指标<br><span class="en">Indicator</span></th><th>全省<br><span class="en">Province</span></th>'
        '<th class="num">未达标地市<br><span class="en">Cities missed</span></th>'
        '<th class="num">未达标县<br><span class="en">Counties missed</span></th>'
        '<th>完成率最低的县<br><span class="en">Lowest county attainment</span></th></tr></thead><tbody>'
    )

    def ordering(code: str) -> tuple[int, str]:
        return (-len(per_measure[code][COUNTY_LEVEL]) - len(per_measure[code][CITY_LEVEL]), code)

    for code in sorted(per_measure, key=ordering):
        levels = per_measure[code]
        name_zh, name_en = ctx.measure_name(code)
        province = levels.get(PROVINCE_LEVEL)
        province_cell = (
            '<span class="badge bad">未达标 missed</span>'
            if province
            else ('<span class="badge ok">达标 met</span>' if assessed[(code, PROVINCE_LEVEL)] else "—")
        )
        counties = sorted(  # ties (e.g. several counties at 0 %): the first county by code
            levels.get(COUNTY_LEVEL, []),
            key=lambda r: (r["attainment_pct"] is None, r["attainment_pct"], r["region_code"]),
        )
        worst = ""
        if counties:
            w = counties[0]
            wz, we = ctx.region_name(w["region_code"])
            worst = f'{esc(wz)} <span class="en">{esc(we)}</span> {percent(w["attainment_pct"])}'
        out.append(
            f'<tr><td><span class="code">{esc(code)}</span> {esc(name_zh)}<br><span'
            f' class="en">{esc(name_en)}</span></td>'
            f"<td>{province_cell}</td>"
            f'<td class="num">{len(levels.get(CITY_LEVEL, []))} / {assessed[(code, CITY_LEVEL)]}</td>'
            f'<td class="num">{len(levels.get(COUNTY_LEVEL, []))} / {assessed[(code, COUNTY_LEVEL)]}</td>'
            f"<td>{worst}</td></tr>"
        )
    out.append("</tbody></table></div>")
    by_county: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in missed:
        if r["region_level"] == COUNTY_LEVEL:
            by_county[r["region_code"]].append(r)
    top = sorted(by_county.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:TOP_COUNTIES]
    out.append(
        f'<h3>未达标最多的县 <span class="en">Counties that missed the most targets (top {TOP_COUNTIES})'
        "</span></h3>"
        '<div class="table-wrap"><table class="data"><thead><tr><th>县（市、区）<br><span class="en">County'
        "</span></th>"
        '<th>地市<br><span class="en">City</span></th><th class="num">未达标数<br><span class="en">Missed'
        "</span></th>"
        '<th>未达标指标<br><span class="en">Indicators missed</span></th></tr></thead><tbody>'
    )
    for code, items in top:
        region = ctx.regions.get(code)
        name_zh, name_en = ctx.region_name(code)
        city_zh, city_en = ctx.region_name(region.city_code if region else None)
        codes = ", ".join(sorted(r["measure_code"] for r in items))
        out.append(
            f'<tr><td>{esc(name_zh)} <span class="en">{esc(name_en)}</span></td><td>{esc(city_zh)} '
            f'<span class="en">{esc(city_en)}</span></td><td class="num">{len(items)}</td>'
            f"<td>{esc(codes)}</td></tr>"
        )
    out.append("</tbody></table></div>")
    out.append(
        f'<details><summary>全部未达标项（{len(missed):,} 项）<span class="en">All missed targets'
        f" ({len(missed):,})"
        '</span></summary><div class="table-wrap"><table class="data compact"><thead><tr>'
        '<th>地区<br><span class="en">Region</span></th><th>指标<br><span class="en">Indicator</span></th>'
        '<th class="num">实际<br><span class="en">Actual</span></th><th class="num">目标<br><span'
        ' class="en">Target</span></th>'
        '<th class="num">完成率<br><span class="en">Attainment</span></th></tr></thead><tbody>'
    )
    level_rank = {PROVINCE_LEVEL: 0, CITY_LEVEL: 1, COUNTY_LEVEL: 2}
    for r in sorted(
        missed, key=lambda r: (level_rank.get(r["region_level"], 3), r["region_code"], r["measure_code"])
    ):
        name_zh, name_en = ctx.region_name(r["region_code"])
        unit = (ctx.measures.get(r["measure_code"]) or {}).get("unit_zh") or r.get("unit") or ""
        out.append(
            f'<tr><td>{esc(name_zh)} <span class="en">{esc(name_en)}</span></td>'
            f"<td>{esc(r['measure_code'])}</td>"
            f'<td class="num">{esc(r.get("actual_text") or fmt_number(r["actual_value"]) + " " + unit)}</td>'
            f'<td class="num">{esc(r.get("target_text") or fmt_number(r["target_value"]))}</td>'
            f'<td class="num">{percent(r["attainment_pct"])}</td></tr>'
        )
    out.append("</tbody></table></div></details></section>")
    return "".join(out)


def section_alerts(ctx: ReportContext) -> str:
    """The alerts of this publication: counts by kind and severity, the most serious listed."""
    out = ['<section id="alerts">', '<h2>五、预警 <span class="en">Alerts</span></h2>']
    rows = ctx.alerts
    if rows is None:
        out.append('<p class="muted">本次发布无预警表 This publication has no alerts table.</p></section>')
        return "".join(out)
    if not rows:
        out.append('<p class="ok-text">无预警 No alerts.</p></section>')
        return "".join(out)
    counts = Counter((r.get("alert_kind"), r.get("severity")) for r in rows)
    severities = sorted({s for _, s in counts}, key=lambda s: (SEVERITY_ORDER.get(s or "", 9), s or ""))
    kinds = sorted({k for k, _ in counts}, key=lambda k: k or "")
    out.append(
        f'<p class="lead">共 {len(rows):,} 条预警；下表为按类型和级别的统计，其后列出最近期、最严重的'
        f" {TOP_ALERTS}"
        " 条。"
        f'完整列表见 Excel 工作簿“预警 Alerts”工作表。<br><span class="en">{len(rows):,} alerts in all:'
        " counts"
        " "
        f"by kind and severity, then the {TOP_ALERTS} most recent and most serious. The workbook's “预警"
        " Alerts” "
        f"sheet lists every one.</span></p>"
    )
    out.append('<table class="data narrow"><thead><tr><th>类型<br><span class="en">Kind</span></th>')
    for s in severities:
        zh, en = label(SEVERITY, s)
        out.append(f'<th class="num">{esc(zh)}<br><span class="en">{esc(en)}</span></th>')
    out.append('<th class="num">合计<br><span class="en">Total</span></th></tr></thead><tbody>')
    for k in kinds:
        zh, en = label(ALERT_KIND, k)
        cells = "".join(f'<td class="num">{counts.get((k, s), 0):,}</td>' for s in severities)
        total = sum(counts.get((k, s), 0) for s in severities)
        out.append(f'<tr><td>{bi(zh, en)}</td>{cells}<td class="num">{total:,}</td></tr>')
    out.append("</tbody></table>")
    ranked = sorted(
        rows,
        key=lambda r: (
            -int(str(r.get("period") or "0")[:4] or 0) if str(r.get("period") or "")[:4].isdigit() else 0,
            SEVERITY_ORDER.get(r.get("severity") or "", 9),
        ),
    )[:TOP_ALERTS]
    out.append(
        '<div class="table-wrap"><table class="data compact"><thead><tr><th>级别<br><span'
        ' class="en">Severity</span></th>'
        '<th>期间<br><span class="en">Period</span></th><th>预警内容<br><span class="en">Message</span></th>'
        "</tr></thead><tbody>"
    )
    for r in ranked:
        zh, en = label(SEVERITY, r.get("severity"))
        cls = "bad" if SEVERITY_ORDER.get(r.get("severity") or "", 9) == 0 else "warn"
        out.append(
            f'<tr><td><span class="badge {cls}">{esc(zh)} {esc(en)}</span></td>'
            f"<td>{esc(r.get('period'))}</td>"
            f'<td>{esc(r.get("message_zh"))}<br><span class="en">{esc(r.get("message_en"))}</span></td></tr>'
        )
    out.append("</tbody></table></div></section>")
    return "".join(out)


def section_silences(now: datetime | None = None) -> str:
    """The active alert silences (``deploy/alerting/silences.yml``): what they match, until when,
    who set them and why; the channels send nothing they match."""
    from alerts.config import ConfigError, load_silences

    now = now or datetime.now(UTC)
    out = ['<section id="silences">', '<h3>预警静默 <span class="en">Alert silences</span></h3>']
    try:
        active = [s for s in load_silences() if s.active(now)]
    except ConfigError as exc:
        out.append(
            f'<p class="muted">静默文件无法读取 The silences file cannot be read: {esc(exc)}</p></section>'
        )
        return "".join(out)
    if not active:
        out.append('<p class="muted">无生效的静默 No active silences.</p></section>')
        return "".join(out)
    out.append(
        "<p>以下预警不向任何渠道发送 Alerts matching these are sent on no channel.</p>"
        "<table><thead><tr><th>匹配 Matchers</th><th>截止 Expires</th><th>设置人 By</th>"
        "<th>原因 Why</th></tr></thead><tbody>"
    )
    for silence in active:
        out.append(
            f"<tr><td>{esc(silence.describe())}</td><td>{esc(silence.expires.isoformat())}</td>"
            f"<td>{esc(silence.created_by)}</td><td>{esc(silence.comment)}</td></tr>"
        )
    out.append("</tbody></table></section>")
    return "".join(out)


def section_quality(ctx: ReportContext) -> str:
    """The quality-gate results the publication rests on (from the manifest)."""
    out = ['<section id="quality">', '<h2>六、数据质量 <span class="en">Data quality</span></h2>']
    checks = ctx.manifest.get("checks") or {}
    results: list[dict[str, Any]] = list(checks.get("results") or [])
    if not results:
        out.append(
            '<p class="muted">本次发布未附带检查结果 No check results accompany this publication.</p>'
            "</section>"
        )
        return "".join(out)
    counts = Counter(r.get("outcome") for r in results)
    gate_ok = checks.get("ok")
    if gate_ok is None:
        gate_ok = not (counts.get("fail") or counts.get("error"))
    verdict = (
        '<span class="badge ok big">质量门禁通过 Quality gate passed</span>'
        if gate_ok
        else '<span class="badge bad big">质量门禁未通过 Quality gate failed</span>'
    )
    run = checks.get("run_id")
    checked = checks.get("checked_at")
    out.append(
        f'<p class="lead">{verdict} 发布前，Soda 数据契约逐项检查原始层与数据集市。'
        f'{"检查批次 " + esc(run) if run else ""} {esc(checked or "")}<br><span class="en">Before'
        " publication the "
        f"Soda data contracts check the raw layer and the marts, one check at a time.</span></p>"
    )
    badges = "".join(
        f'<span class="badge {"ok" if o == "pass" else "warn" if o == "warn" else "bad"}">'
        f"{esc(label(CHECK_OUTCOME, o)[0])} {esc(label(CHECK_OUTCOME, o)[1])}: {n}</span> "
        for o, n in sorted(
            counts.items(), key=lambda kv: list(CHECK_OUTCOME).index(kv[0]) if kv[0] in CHECK_OUTCOME else 9
        )
    )
    out.append(f'<p class="badges">{badges}</p>')
    problems = [r for r in results if r.get("outcome") != "pass"]
    if problems:
        out.append('<h3>需关注的检查 <span class="en">Checks that did not pass</span></h3>')
        out.append(_checks_table(problems))
    out.append(
        f'<details><summary>全部检查（{len(results)} 项）<span class="en">All checks ({len(results)})</span>'
        "</summary>"
        f"{_checks_table(results)}</details>"
    )
    anomalies = list(checks.get("anomalies") or [])
    if anomalies:
        by_severity = Counter(a.get("severity") for a in anomalies)
        summary = "，".join(f"{label(SEVERITY, s)[0]} {n}" for s, n in by_severity.items())
        summary_en = ", ".join(f"{label(SEVERITY, s)[1]} {n}" for s, n in by_severity.items())
        out.append(
            f'<h3>可疑数值 <span class="en">Flagged values</span></h3><p>异常检测标记 {len(anomalies):,}'
            f" 个数值（{summary}），"
            f'请报送处室核实。<br><span class="en">The anomaly screen flagged {len(anomalies):,} values'
            f" ({summary_en}) "
            f"for the submitting divisions to confirm.</span></p>"
        )
        ranked = sorted(
            sorted(anomalies, key=lambda a: str(a.get("period") or ""), reverse=True),
            key=lambda a: SEVERITY_ORDER.get(a.get("severity") or "", 9),
        )  # most severe first; within a severity (stable sort), the latest period first
        out.append(
            '<div class="table-wrap"><table class="data compact"><thead><tr><th>级别<br><span'
            ' class="en">Severity</span>'
            '</th><th>指标<br><span class="en">Measure</span></th><th>地区<br><span class="en">Region'
            "</span></th>"
            '<th>期间<br><span class="en">Period</span></th><th class="num">数值<br><span class="en">Value'
            "</span></th>"
            '<th>原因<br><span class="en">Reason</span></th></tr></thead><tbody>'
        )
        for a in ranked[:TOP_ANOMALIES]:
            zh, en = label(SEVERITY, a.get("severity"))
            rz, re_ = ctx.region_name(a.get("region_code"))
            out.append(
                f'<tr><td>{esc(zh)} <span class="en">{esc(en)}</span></td>'
                f"<td>{esc(a.get('measure_code'))}</td>"
                f'<td>{esc(rz)} <span class="en">{esc(re_)}</span></td><td>{esc(a.get("period"))}</td>'
                f'<td class="num">{fmt_number(a.get("value"))}</td>'
                f'<td>{esc(a.get("reason_zh"))}<br><span class="en">{esc(a.get("reason_en"))}</span>'
                "</td></tr>"
            )
        out.append("</tbody></table></div>")
        if len(anomalies) > TOP_ANOMALIES:
            out.append(
                f'<p class="muted">另有 {len(anomalies) - TOP_ANOMALIES:,} 个，见发布清单 manifest.json。'
                f'<span class="en"> {len(anomalies) - TOP_ANOMALIES:,} more in manifest.json.</span></p>'
            )
    out.append("</section>")
    return "".join(out)


def _checks_table(results: Iterable[dict[str, Any]]) -> str:
    out = [
        '<div class="table-wrap"><table class="data compact"><thead><tr><th>结果<br><span'
        ' class="en">Outcome</span></th>'
        '<th>数据集<br><span class="en">Dataset</span></th><th>检查<br><span class="en">Check</span></th>'
        '<th>诊断<br><span class="en">Diagnostic</span></th></tr></thead><tbody>'
    ]
    for r in results:
        outcome = r.get("outcome")
        zh, en = label(CHECK_OUTCOME, outcome)
        cls = "ok" if outcome == "pass" else "warn" if outcome in ("warn", "skipped") else "bad"
        out.append(
            f'<tr><td><span class="badge {cls}">{esc(zh)} {esc(en)}</span></td>'
            f"<td>{esc(r.get('dataset'))}</td>"
            f'<td>{esc(r.get("check"))}</td><td class="diag">{esc(r.get("diagnostic"))}</td></tr>'
        )
    out.append("</tbody></table></div>")
    return "".join(out)


def channel_cell(source_file: dict[str, Any]) -> str:
    """How a file came: dropped in the shared folder, or sent through the API by the department
    whose token authenticated it (a manifest from before the API has no channel: a file drop)."""
    if source_file.get("channel") == "api":
        who = source_file.get("authenticated_department") or "—"
        return f'接口 <span class="en">API</span> · <code>{esc(who)}</code>'
    return '文件投递 <span class="en">file drop</span>'


def section_sources(ctx: ReportContext) -> str:
    """The manifest: the publication and the submissions (files) it rests on."""
    m = ctx.manifest
    out = ['<section id="sources">', '<h2>七、数据来源 <span class="en">Sources (the manifest)</span></h2>']
    files: list[dict[str, Any]] = list(m.get("source_files") or [])
    snapshot = m.get("snapshot") if isinstance(m.get("snapshot"), dict) else {}
    facts = [
        ("发布批次", "Run id", m.get("run_id")),
        ("发布时间", "Published at", beijing_time(m.get("published_at"))),
        ("数据截至", "As of", m.get("as_of")),
        ("快照 SHA-256", "Snapshot SHA-256", (snapshot or {}).get("sha256")),
        ("数据集市表", "Marts", len(m.get("marts") or []) or None),
        ("报送文件", "Submission files", len(files)),
    ]
    out.append('<table class="facts">')
    for zh, en, value in facts:
        out.append(
            f'<tr><th>{esc(zh)} <span class="en">{esc(en)}</span></th>'
            f"<td>{esc(value if value is not None else '—')}</td></tr>"
        )
    out.append("</table>")
    if not files:
        out.append(
            '<p class="muted">清单未列出报送文件 The manifest lists no submission files.</p></section>'
        )
        return "".join(out)
    per_department: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in files:
        per_department[f.get("department_code") or "?"].append(f)
    out.append(
        f'<p class="lead">本次发布依据以下 {len(files)} 份报送文件（SHA-256 可与原件核对）。'
        f'<br><span class="en">This publication rests on the {len(files)} submission files below (the'
        " SHA-256 lets "
        f"anyone check a file against the original).</span></p>"
    )
    out.append(
        '<table class="data narrow"><thead><tr><th>报送处室<br><span class="en">Division</span></th>'
        '<th class="num">文件数<br><span class="en">Files</span></th><th>最近接收<br><span class="en">Latest'
        " received"
        "</span></th></tr></thead><tbody>"
    )
    for code in sorted(per_department):
        zh, en = ctx.departments.get(code, (code, code))
        latest = max((str(f.get("received_at") or "") for f in per_department[code]), default="")
        out.append(
            f'<tr><td>{bi(zh, en)}</td><td class="num">{len(per_department[code])}</td>'
            f"<td>{esc(latest[:19])}</td></tr>"
        )
    out.append("</tbody></table>")
    out.append(
        f'<details><summary>全部文件（{len(files)} 份）<span class="en">All files ({len(files)})</span>'
        "</summary>"
        '<div class="table-wrap"><table class="data compact"><thead><tr><th>文件<br><span class="en">File'
        "</span></th>"
        '<th>报送处室<br><span class="en">Division</span></th><th>接收时间<br><span class="en">Received'
        "</span>"
        "</th>"
        '<th>状态<br><span class="en">Status</span></th>'
        '<th>渠道<br><span class="en">Channel</span></th><th>SHA-256</th></tr></thead><tbody>'
    )
    for f in files:
        zh, en = ctx.departments.get(f.get("department_code") or "", (f.get("department_code") or "—", ""))
        szh, sen = label(FILE_STATUS, f.get("status"))
        sha = str(f.get("sha256") or "")
        out.append(
            f'<tr><td>{esc(f.get("file_name"))}</td><td>{esc(zh)} <span class="en">{esc(en)}</span></td>'
            f"<td>{esc(str(f.get('received_at') or '')[:19])}</td><td>{esc(szh)} <span"
            f' class="en">{esc(sen)}</span></td><td>{channel_cell(f)}</td>'
            f'<td><code title="{esc(sha)}">{esc(sha[:12])}</code></td></tr>'
        )
    out.append("</tbody></table></div></details></section>")
    return "".join(out)


def section_header(ctx: ReportContext) -> str:
    """Title, publication facts and the key figures at a glance."""
    m = ctx.manifest
    facts = [
        ("发布时间", "Published", beijing_time(m.get("published_at")) or "—"),
        ("数据截至", "As of", m.get("as_of") or "—"),
        ("发布批次", "Run id", m.get("run_id") or "—"),
        ("指数年度", "Index year", ctx.index_year or "—"),
    ]
    fact_html = "".join(
        f'<div class="fact"><div class="k">{esc(zh)} <span class="en">{esc(en)}</span></div>'
        f'<div class="v">{esc(v)}</div></div>'
        for zh, en, v in facts
    )
    kpis = []
    year = ctx.assessed_year
    headline = ctx.headline
    if year is not None and headline.province_targets is not None:
        met, judged = headline.province_targets
        kpis.append((f"{year} 全省达标", f"province targets met {year}", f"{met} / {judged}", "ok"))
        kpis.append(
            (
                f"{year} 有未达标项的县",
                f"counties with a missed target {year}",
                str(headline.counties_missed),
                "warn",
            )
        )
    if year is not None and headline.alerts is not None:
        # the current year's alerts; the history is in the alerts section
        alerts = headline.alerts
        kpis.append((f"{year} 预警", f"alerts {year}", f"{alerts:,}", "bad" if alerts else "ok"))
    results = (m.get("checks") or {}).get("results") or []
    if results:
        passed = sum(1 for r in results if r.get("outcome") == "pass")
        kpis.append(("质量检查通过", "quality checks passed", f"{passed} / {len(results)}", "ok"))
    kpi_html = "".join(
        f'<div class="kpi {cls}"><div class="v">{esc(v)}</div><div class="k">{esc(zh)}<br>'
        f'<span class="en">{esc(en)}</span></div></div>'
        for zh, en, v, cls in kpis
    )
    nav = "".join(
        f'<a href="#{a}">{esc(zh)} <span class="en">{esc(en)}</span></a>'
        for a, zh, en in (
            ("indices", "五大指数", "Indices"),
            ("trajectories", "指标进展", "Indicators"),
            ("counties", "县级热力表", "Counties"),
            ("missed", "未达标", "Missed targets"),
            ("alerts", "预警", "Alerts"),
            ("quality", "数据质量", "Data quality"),
            ("sources", "数据来源", "Sources"),
        )
    )
    return (
        '<header><div class="title"><h1>民政共同富裕评价报告 <span class="en">Common Prosperity Scorecard — '
        'Civil Affairs</span></h1><p class="sub">浙江省民政厅 “四个体系”清单 2021-2025 ·'
        " 五大领域指标、目标与综合评价指数"
        '<br><span class="en">Zhejiang Department of Civil Affairs, “four systems” list 2021-2025:'
        " indicators, targets "
        "and composite indices of the five zones</span></p></div>"
        f'<div class="facts-row">{fact_html}</div><div class="kpis">{kpi_html}</div><nav>{nav}</nav></header>'
    )


def render_report(
    con: duckdb.DuckDBPyConnection, snapshot: Path, manifest: dict[str, Any] | None = None
) -> str:
    """The report as one HTML document (inline CSS, inline SVG, a few lines of inline JS)."""
    ctx = read_report(con, snapshot, manifest)
    css = (ASSETS / "report.css").read_text(encoding="utf-8")
    script = (ASSETS / "report.js").read_text(encoding="utf-8")
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    body = [
        section_header(ctx),
        "<main>",
        section_indices(ctx),
        section_trajectories(ctx),
        section_heat_table(ctx),
        section_missed(ctx),
        section_alerts(ctx),
        section_silences(),
        section_quality(ctx),
        section_sources(ctx),
        "</main>",
        f"<footer>由发布流程自动生成 Generated by the publication step at {esc(generated)} ·"
        " 离线可读，无外部资源"
        " "
        "works offline, no external resources</footer>",
    ]
    title = "民政共同富裕评价报告 Common Prosperity Scorecard"
    run_id = ctx.manifest.get("run_id")
    if run_id:
        title += f" · {run_id}"
    return (
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src'
        " 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{css}</style></head><body>"
        + "".join(body)
        + f"<script>{script}</script></body></html>\n"
    )


def write_report(snapshot: Path, out_dir: Path, manifest: dict[str, Any] | None = None) -> Path:
    """Write ``<out_dir>/report.html`` for the published ``snapshot``; return its path.

    Args:
        snapshot: the published DuckDB snapshot (opened read-only, closed before returning).
        out_dir: the folder to write into (created if missing); the file is written aside and
            moved into place, so a reader never sees a half-written report.
        manifest: the publication's manifest; when None, ``manifest.json`` beside the snapshot
            or the snapshot's ``meta`` tables are used.
    """
    snapshot = Path(snapshot)
    out_dir = Path(out_dir)
    con = connect_snapshot(snapshot)
    try:
        document = render_report(con, snapshot, manifest)
    finally:
        con.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / REPORT_NAME
    tmp = out_dir / f".{REPORT_NAME}.{uuid.uuid4().hex}.tmp"
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(document)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
