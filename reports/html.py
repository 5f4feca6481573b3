"""The publication report 评价报告: one self-contained, bilingual HTML page per publication.

``write_report(snapshot, out_dir, manifest)`` reads the published snapshot (read-only) and writes
``<out_dir>/report.html``: Chinese first with English beside it, inline CSS, charts as inline SVG
(no chart library, no CDN, no network at all), so the file opens offline on any machine and can
be mailed or archived as it is.

Four parts: ``reports/queries.py`` reads the snapshot (every SQL statement) into plain data;
``reports/charts.py`` draws the SVG charts from numbers; ``reports/templates/*.html.j2`` lay out
the page and each section (Jinja2, autoescaped); this module shapes the data of each section for
its template and writes the file.

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

import functools
import html
import math
import os
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup

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
    fmt_number,
    label,
    percent,
)
from reports.queries import (
    CITY_LEVEL,
    COUNTY_LEVEL,
    PROVINCE_LEVEL,
    ReportContext,
    Zone,
    connect_snapshot,
    read_report,
)

if TYPE_CHECKING:
    import duckdb

REPORT_NAME = "report.html"
ASSETS = Path(__file__).with_name("assets")
TEMPLATES = Path(__file__).with_name("templates")
#: Rows listed in full in the report (the workbook carries everything).
TOP_ALERTS = 40
TOP_COUNTIES = 15
TOP_ANOMALIES = 20

# --- templates ------------------------------------------------------------------------------------


class JoinLines(Extension):
    """The line breaks and indentation of a template are for its reader: a line break and the
    indentation after it are removed before the template is compiled, so the report carries no
    whitespace between its tags (text that needs a space keeps it on one line)."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return re.sub(r"\r?\n[ \t]*", "", source)


def escape_value(value: Any) -> Any:
    """What ``{{ value }}`` prints: markup as it is; None as nothing; anything else as escaped text
    (``html.escape``, quotes included: the entities the report has always had, e.g. ``&#x27;``)."""
    if value is None:
        return ""
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value), quote=True))


@functools.cache
def templates() -> Environment:
    """The report's templates (``reports/templates/*.html.j2``), autoescaped."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=escape_value,
        extensions=[JoinLines],
    )
    environment.filters["grouped"] = lambda n: f"{n:,}"
    return environment


def render(template: str, **values: Any) -> Markup:
    """One template rendered with ``values`` (markup, so a page can place it as it is)."""
    return Markup(templates().get_template(template).render(**values))


# --- the report's content -------------------------------------------------------------------------


def _rank_interval(r: dict[str, Any]) -> str:
    if r.get("rank_p05") is None or r.get("rank_p95") is None:
        return "—"
    if r["rank_p05"] == r["rank_p95"]:
        return str(r["rank_p05"])
    return f"{r['rank_p05']}–{r['rank_p95']}"


def _index_at(ctx: ReportContext, zone: Zone, year: int | None, level: str) -> list[dict[str, Any]]:
    return [r for r in ctx.index_rows.get(zone.code, []) if r["year"] == year and r["region_level"] == level]


def section_indices(ctx: ReportContext) -> str:
    """The five indices for the province and the city rankings, latest year; beside each ranking,
    each city's rank interval and the two dimensions that moved its index most."""
    year = ctx.index_year
    if year is None:
        return render("indices.html.j2", year=None)
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
    zones = []
    for zone in ctx.zones:
        now = _index_at(ctx, zone, year, CITY_LEVEL)
        before = {r["region_code"]: r["rank_in_level"] for r in _index_at(ctx, zone, year - 1, CITY_LEVEL)}
        now.sort(key=lambda r: (r["rank_in_level"] is None, r["rank_in_level"] or 0, r["region_code"]))
        rows = []
        cities = []
        for r in now:
            name_zh, name_en = ctx.region_name(r["region_code"])
            previous = before.get(r["region_code"])
            change = None if previous is None or r["rank_in_level"] is None else previous - r["rank_in_level"]
            rows.append(RankRow(r["rank_in_level"], name_zh, name_en, r["index_score"], change))
            movers = ctx.movers.get((zone.code, r["region_code"], year), [])
            cities.append(
                {
                    "rank": "—" if r["rank_in_level"] is None else str(r["rank_in_level"]),
                    "name_zh": name_zh,
                    "interval": _rank_interval(r),
                    "movers": [
                        (zh, "up" if points > 0 else "down", f"{points:+.1f}", en)
                        for zh, en, points in movers
                    ],
                }
            )
        chart = ranking_chart(
            f"city-ranking-{zone.code}",
            f"{zone.index_name_zh} 地市排名 {year} {zone.index_name_en}: city ranking",
            rows,
            zone_colour(zone.code),
        )
        zones.append(
            {
                "name_zh": zone.index_name_zh,
                "name_en": zone.index_name_en,
                "chart": Markup(chart),
                "cities": cities,
            }
        )
    province_chart = province_bar_chart(
        "province-indices", f"全省五大指数 {year} The five indices of the province", bars
    )
    return render("indices.html.j2", year=year, province_chart=Markup(province_chart), zones=zones)


def trajectory_measures(ctx: ReportContext) -> list[dict[str, Any]]:
    """The value measures that carry targets at province level (one chart each), in programme order."""
    if ctx.target_measures is None:
        return []
    with_targets = ctx.target_measures
    zone_no = {z.code: z.no for z in ctx.zones}
    chosen = [m for code, m in ctx.measures.items() if code in with_targets]
    chosen += [{"measure_code": code} for code in sorted(with_targets - set(ctx.measures))]
    return sorted(chosen, key=lambda m: (zone_no.get(m.get("zone_code") or "", 99), m["measure_code"]))


def _trajectory(ctx: ReportContext, m: dict[str, Any]) -> dict[str, Any]:
    """One indicator's chart and badges (latest judged year, trajectory)."""
    code = m["measure_code"]
    rows = ctx.province_series.get(code, [])
    points = [Point(int(r["year"]), r["actual_value"], r["target_value"], r["year_status"]) for r in rows]
    unit = m.get("unit_zh") or m.get("unit") or ""
    name_zh, name_en = m.get("name_zh", code), m.get("name_en", code)
    latest = next((r for r in reversed(rows) if r["year_status"] in ("met", "not_met")), None)
    year_badge = None
    if latest is not None:
        zh, en = label(YEAR_STATUS, latest["year_status"])
        basis = "" if latest["status_basis"] in (None, "final") else "（暂定 provisional）"
        cls = "ok" if latest["year_status"] == "met" else "bad"
        year_badge = (cls, f"{latest['year']} {zh} {en}{basis}")
    track_badge = None
    last = rows[-1] if rows else None
    if last is not None and last.get("trajectory_status"):
        zh, en = label(TRAJECTORY_STATUS, last["trajectory_status"])
        cls = {"on_track": "ok", "at_risk": "warn", "off_track": "bad"}.get(last["trajectory_status"], "")
        track_badge = (cls, f"{zh} {en}")
    direction = m.get("direction")
    chart = line_chart(f"trajectory-{code}", f"{code} {name_zh} {name_en}", points, ctx.years, unit)
    return {
        "code": code,
        "name_zh": name_zh,
        "name_en": name_en,
        "direction": label(DIRECTION, direction) if direction == "lower_is_better" else None,
        "year_badge": year_badge,
        "track_badge": track_badge,
        "chart": Markup(chart),
    }


def section_trajectories(ctx: ReportContext) -> str:
    """Each indicator's provincial trajectory against its targets, grouped by zone; then the
    milestone measures."""
    measures = trajectory_measures(ctx)
    if not measures:
        return render("trajectories.html.j2", groups=[], milestones=[])
    by_zone: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in measures:
        by_zone[m.get("zone_code") or "?"].append(m)
    zones = [
        *ctx.zones,
        *[Zone(c, 99, c, c, c, c, "") for c in by_zone if c not in {z.code for z in ctx.zones}],
    ]
    groups = [
        {
            "colour": zone_colour(zone.code),
            "name_zh": zone.name_zh,
            "name_en": zone.name_en,
            "measures": [_trajectory(ctx, m) for m in by_zone[zone.code]],
        }
        for zone in zones
        if by_zone.get(zone.code)
    ]
    return render("trajectories.html.j2", groups=groups, milestones=milestone_tables(ctx))


def milestone_tables(ctx: ReportContext) -> list[dict[str, Any]]:
    """Milestone measures (e.g. EC02): per year, the target stage and how many regions reached it."""
    rows = ctx.milestones
    tables = []
    for code in sorted({r["measure_code"] for r in rows}):
        name_zh, name_en = ctx.measure_name(code)
        mine = [r for r in rows if r["measure_code"] == code]
        years = []
        for year in sorted({r["year"] for r in mine}):
            assessed = [r for r in mine if r["year"] == year and r["year_status"] in ("met", "not_met")]
            target = next((r for r in mine if r["year"] == year and r["target_text_zh"]), None)
            levels = sorted(
                {r["region_level"] for r in assessed}, key=lambda v: list(LEVEL).index(v) if v in LEVEL else 9
            )
            met = sum(1 for r in assessed if r["year_status"] == "met")
            stages = Counter((r["status_name_zh"] or "—", r["status_name_en"] or "") for r in assessed)
            years.append(
                {
                    "year": year,
                    "target": (target["target_text_zh"], target["target_text_en"] or "") if target else None,
                    "levels": [LEVEL[v] for v in levels if v in LEVEL],
                    "met": met,
                    "missed": len(assessed) - met,
                    "stages": [(zh, en, n) for (zh, en), n in stages.most_common()],
                }
            )
        tables.append({"code": code, "name_zh": name_zh, "name_en": name_en, "years": years})
    return tables


def section_heat_table(ctx: ReportContext) -> str:
    """Counties x five indices in the latest year, coloured by score, sortable by column."""
    year = ctx.index_year
    if year is None:
        return render("counties.html.j2", year=None)
    scores: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for zone in ctx.zones:
        for r in _index_at(ctx, zone, year, COUNTY_LEVEL):
            scores[r["region_code"]][zone.code] = r
    values = [
        r["index_score"] for per in scores.values() for r in per.values() if r["index_score"] is not None
    ]
    low = math.floor(min(values) / 10) * 10 if values else 0.0
    high = 100.0
    legend = [
        (heat_colour(v, low, high), fmt_number(v, 0)) for v in nice_ticks(low, high, 5) if low <= v <= high
    ]

    def order(code: str) -> tuple[str, str]:
        region = ctx.regions.get(code)
        return ((region.city_code or "") if region else "", code)

    rows = []
    for code in sorted(scores, key=order):
        region = ctx.regions.get(code)
        city_zh, city_en = ctx.region_name(region.city_code if region else None)
        name_zh, name_en = ctx.region_name(code)
        cells = []
        for zone in ctx.zones:
            r = scores[code].get(zone.code)
            value = r["index_score"] if r else None
            cells.append(
                {
                    "sort_key": "" if value is None else f"{value:.6f}",
                    "colour": heat_colour(value, low, high),
                    "value": fmt_number(value, 1),
                    "rank": r["rank_in_level"] if r else None,
                }
            )
        rows.append(
            {
                "city_code": region.city_code if region else "",
                "city_zh": city_zh,
                "city_en": city_en.removesuffix(" City"),
                "code": code,
                "name_zh": name_zh,
                "name_en": name_en,
                "cells": cells,
            }
        )
    columns = [(zone.index_name_zh, zone.index_name_en) for zone in ctx.zones]
    return render("counties.html.j2", year=year, legend=legend, columns=columns, rows=rows)


def section_missed(ctx: ReportContext) -> str:
    """Targets missed in the latest assessed year: by indicator, the counties missing most, all rows."""
    year = ctx.assessed_year
    if year is None:
        return render("missed.html.j2", year=None)
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
    per_measure: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in missed:
        per_measure[r["measure_code"]][r["region_level"]].append(r)

    def ordering(code: str) -> tuple[int, str]:
        return (-len(per_measure[code][COUNTY_LEVEL]) - len(per_measure[code][CITY_LEVEL]), code)

    measures = []
    for code in sorted(per_measure, key=ordering):
        levels = per_measure[code]
        name_zh, name_en = ctx.measure_name(code)
        counties = sorted(  # ties (e.g. several counties at 0 %): the first county by code
            levels.get(COUNTY_LEVEL, []),
            key=lambda r: (r["attainment_pct"] is None, r["attainment_pct"], r["region_code"]),
        )
        worst = None
        if counties:
            w = counties[0]
            worst = (*ctx.region_name(w["region_code"]), percent(w["attainment_pct"]))
        measures.append(
            {
                "code": code,
                "name_zh": name_zh,
                "name_en": name_en,
                "province": "missed"
                if levels.get(PROVINCE_LEVEL)
                else "met"
                if assessed[(code, PROVINCE_LEVEL)]
                else None,
                "cities_missed": len(levels.get(CITY_LEVEL, [])),
                "cities_assessed": assessed[(code, CITY_LEVEL)],
                "counties_missed": len(levels.get(COUNTY_LEVEL, [])),
                "counties_assessed": assessed[(code, COUNTY_LEVEL)],
                "worst": worst,
            }
        )
    by_county: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in missed:
        if r["region_level"] == COUNTY_LEVEL:
            by_county[r["region_code"]].append(r)
    counties_most = []
    for code, items in sorted(by_county.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:TOP_COUNTIES]:
        region = ctx.regions.get(code)
        name_zh, name_en = ctx.region_name(code)
        city_zh, city_en = ctx.region_name(region.city_code if region else None)
        counties_most.append(
            {
                "name_zh": name_zh,
                "name_en": name_en,
                "city_zh": city_zh,
                "city_en": city_en,
                "missed": len(items),
                "codes": ", ".join(sorted(r["measure_code"] for r in items)),
            }
        )
    level_rank = {PROVINCE_LEVEL: 0, CITY_LEVEL: 1, COUNTY_LEVEL: 2}
    listed = []
    for r in sorted(
        missed, key=lambda r: (level_rank.get(r["region_level"], 3), r["region_code"], r["measure_code"])
    ):
        name_zh, name_en = ctx.region_name(r["region_code"])
        unit = (ctx.measures.get(r["measure_code"]) or {}).get("unit_zh") or r.get("unit") or ""
        listed.append(
            {
                "name_zh": name_zh,
                "name_en": name_en,
                "code": r["measure_code"],
                "actual": r.get("actual_text") or fmt_number(r["actual_value"]) + " " + unit,
                "target": r.get("target_text") or fmt_number(r["target_value"]),
                "attainment": percent(r["attainment_pct"]),
            }
        )
    return render(
        "missed.html.j2",
        year=year,
        provisional=any(r["status_basis"] not in (None, "final") for r in rows),
        assessed=len(rows),
        measures=measures,
        counties=counties_most,
        missed=listed,
        top_counties=TOP_COUNTIES,
    )


def section_alerts(ctx: ReportContext) -> str:
    """The alerts of this publication: counts by kind and severity, the most serious listed."""
    rows = ctx.alerts
    if not rows:
        return render("alerts.html.j2", total=None if rows is None else 0)
    counts = Counter((r.get("alert_kind"), r.get("severity")) for r in rows)
    severities = sorted({s for _, s in counts}, key=lambda s: (SEVERITY_ORDER.get(s or "", 9), s or ""))
    kinds = sorted({k for k, _ in counts}, key=lambda k: k or "")
    ranked = sorted(
        rows,
        key=lambda r: (
            -int(str(r.get("period") or "0")[:4] or 0) if str(r.get("period") or "")[:4].isdigit() else 0,
            SEVERITY_ORDER.get(r.get("severity") or "", 9),
        ),
    )[:TOP_ALERTS]
    return render(
        "alerts.html.j2",
        total=len(rows),
        top_alerts=TOP_ALERTS,
        severities=[label(SEVERITY, s) for s in severities],
        kinds=[
            (
                *label(ALERT_KIND, k),
                [counts.get((k, s), 0) for s in severities],
                sum(counts.get((k, s), 0) for s in severities),
            )
            for k in kinds
        ],
        listed=[
            {
                "cls": "bad" if SEVERITY_ORDER.get(r.get("severity") or "", 9) == 0 else "warn",
                "severity": label(SEVERITY, r.get("severity")),
                "period": r.get("period"),
                "message_zh": r.get("message_zh"),
                "message_en": r.get("message_en"),
            }
            for r in ranked
        ],
    )


def section_silences(now: datetime | None = None) -> str:
    """The active alert silences (``deploy/alerting/silences.yml``): what they match, until when,
    who set them and why; the channels send nothing they match."""
    from alerts.config import ConfigError, load_silences

    now = now or datetime.now(UTC)
    try:
        active = [s for s in load_silences() if s.active(now)]
    except ConfigError as exc:
        return render("silences.html.j2", error=exc, silences=[])
    return render("silences.html.j2", error=None, silences=active)


def _check_rows(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        outcome = r.get("outcome")
        rows.append(
            {
                "cls": "ok" if outcome == "pass" else "warn" if outcome in ("warn", "skipped") else "bad",
                "outcome": label(CHECK_OUTCOME, outcome),
                "dataset": r.get("dataset"),
                "check": r.get("check"),
                "diagnostic": r.get("diagnostic"),
            }
        )
    return rows


def section_quality(ctx: ReportContext) -> str:
    """The quality-gate results the publication rests on (from the manifest)."""
    checks = ctx.manifest.get("checks") or {}
    results: list[dict[str, Any]] = list(checks.get("results") or [])
    if not results:
        return render("quality.html.j2", results=[])
    counts = Counter(r.get("outcome") for r in results)
    gate_ok = checks.get("ok")
    if gate_ok is None:
        gate_ok = not (counts.get("fail") or counts.get("error"))
    outcomes = [
        ("ok" if o == "pass" else "warn" if o == "warn" else "bad", *label(CHECK_OUTCOME, o), n)
        for o, n in sorted(
            counts.items(), key=lambda kv: list(CHECK_OUTCOME).index(kv[0]) if kv[0] in CHECK_OUTCOME else 9
        )
    ]
    anomalies = list(checks.get("anomalies") or [])
    by_severity = Counter(a.get("severity") for a in anomalies)
    ranked = sorted(
        sorted(anomalies, key=lambda a: str(a.get("period") or ""), reverse=True),
        key=lambda a: SEVERITY_ORDER.get(a.get("severity") or "", 9),
    )  # most severe first; within a severity (stable sort), the latest period first
    return render(
        "quality.html.j2",
        results=_check_rows(results),
        problems=_check_rows(r for r in results if r.get("outcome") != "pass"),
        gate_ok=gate_ok,
        run_id=checks.get("run_id"),
        checked_at=checks.get("checked_at"),
        outcomes=outcomes,
        anomalies=anomalies,
        anomaly_counts=[(*label(SEVERITY, s), n) for s, n in by_severity.items()],
        listed_anomalies=[
            {
                "severity": label(SEVERITY, a.get("severity")),
                "measure_code": a.get("measure_code"),
                "region": ctx.region_name(a.get("region_code")),
                "period": a.get("period"),
                "value": fmt_number(a.get("value")),
                "reason_zh": a.get("reason_zh"),
                "reason_en": a.get("reason_en"),
            }
            for a in ranked[:TOP_ANOMALIES]
        ],
        more_anomalies=max(0, len(anomalies) - TOP_ANOMALIES),
    )


def section_sources(ctx: ReportContext) -> str:
    """The manifest: the publication and the submissions (files) it rests on."""
    m = ctx.manifest
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
    facts = [(zh, en, "—" if value is None else value) for zh, en, value in facts]
    per_department: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in files:
        per_department[f.get("department_code") or "?"].append(f)
    departments = []
    for code in sorted(per_department):
        zh, en = ctx.departments.get(code, (code, code))
        latest = max((str(f.get("received_at") or "") for f in per_department[code]), default="")
        departments.append(
            {"name_zh": zh, "name_en": en, "files": len(per_department[code]), "latest": latest[:19]}
        )
    listed = []
    for f in files:
        code = f.get("department_code")
        listed.append(
            {
                "file_name": f.get("file_name"),
                "department": ctx.departments.get(code or "", (code or "—", "")),
                "received": str(f.get("received_at") or "")[:19],
                "status": label(FILE_STATUS, f.get("status")),
                # the channel: dropped in the shared folder, or sent through the API by the department
                # whose token authenticated it (a manifest from before the API has no channel: a drop)
                "api": (f.get("authenticated_department") or "—") if f.get("channel") == "api" else None,
                "sha256": str(f.get("sha256") or ""),
            }
        )
    return render("sources.html.j2", facts=facts, files=listed, departments=departments)


def section_header(ctx: ReportContext) -> str:
    """Title, publication facts and the key figures at a glance."""
    m = ctx.manifest
    facts = [
        ("发布时间", "Published", beijing_time(m.get("published_at")) or "—"),
        ("数据截至", "As of", m.get("as_of") or "—"),
        ("发布批次", "Run id", m.get("run_id") or "—"),
        ("指数年度", "Index year", ctx.index_year or "—"),
    ]
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
    return render("header.html.j2", facts=facts, kpis=kpis)


def render_report(
    con: duckdb.DuckDBPyConnection, snapshot: Path, manifest: dict[str, Any] | None = None
) -> str:
    """The report as one HTML document (inline CSS, inline SVG, a few lines of inline JS)."""
    ctx = read_report(con, snapshot, manifest)
    title = "民政共同富裕评价报告 Common Prosperity Scorecard"
    run_id = ctx.manifest.get("run_id")
    if run_id:
        title += f" · {run_id}"
    return render(
        "report.html.j2",
        title=title,
        css=Markup((ASSETS / "report.css").read_text(encoding="utf-8")),
        script=Markup((ASSETS / "report.js").read_text(encoding="utf-8")),
        header=section_header(ctx),
        sections=[
            section_indices(ctx),
            section_trajectories(ctx),
            section_heat_table(ctx),
            section_missed(ctx),
            section_alerts(ctx),
            section_silences(),
            section_quality(ctx),
            section_sources(ctx),
        ],
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
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
