"""The report's charts 图表: pure functions of numbers to inline SVG text (no chart library, no
DuckDB: the numbers come from reports/queries.py through reports/html.py)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from reports.formatting import YEAR_STATUS, esc, fmt_number, label

ZONE_COLOURS = {"PP": "#3566a8", "EC": "#d9822b", "CH": "#b83b76", "SG": "#2f8f5b", "WS": "#6f55a3"}
DEFAULT_COLOUR = "#4a5568"
MET_COLOUR = "#2f8f46"
MISSED_COLOUR = "#c8372d"
TARGET_COLOUR = "#c8372d"
NEUTRAL_COLOUR = "#3566a8"


def zone_colour(code: str) -> str:
    """The colour of a zone's bars, lines and headings."""
    return ZONE_COLOURS.get(code, DEFAULT_COLOUR)


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high] (about ``count`` intervals)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) * 0.1 or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
        if len(ticks) > 20:
            break
    return ticks


def tick_digits(ticks: Sequence[float]) -> int:
    """Decimals that show every tick of an axis distinctly, the same for all of them."""
    if len(ticks) < 2:
        return 0
    step = abs(ticks[1] - ticks[0]) or 1.0
    return next((d for d in range(5) if abs(round(step, d) - step) < 1e-9 * max(1.0, step)), 4)


def heat_colour(value: float | None, low: float, high: float) -> str:
    """Red (low) - amber - green (high) background for a score, as a CSS colour."""
    if value is None:
        return "#eeeeee"
    share = 0.5 if high <= low else min(1.0, max(0.0, (value - low) / (high - low)))
    stops = [(0.0, (230, 124, 115)), (0.5, (255, 214, 102)), (1.0, (87, 187, 138))]
    for (s0, c0), (s1, c1) in itertools.pairwise(stops):
        if share <= s1:
            t = (share - s0) / (s1 - s0)
            r, g, b = (round(a + (b_ - a) * t) for a, b_ in zip(c0, c1, strict=True))
            return f"rgb({r},{g},{b})"
    return "rgb(87,187,138)"


# --- SVG charts -----------------------------------------------------------------------------------


def _svg_open(chart_id: str, width: int, height: int, title: str, kind: str) -> str:
    return (
        f'<svg class="chart" data-chart="{esc(chart_id)}" data-kind="{esc(kind)}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" style="--chart-w:{width}px" '
        f'aria-label="{esc(title)}"><title>{esc(title)}</title>'
    )


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", cls: str = "", size: int | None = None
) -> str:
    attrs = f'x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"'
    if cls:
        attrs += f' class="{cls}"'
    if size:
        attrs += f' font-size="{size}"'
    return f"<text {attrs}>{esc(text)}</text>"


@dataclass(frozen=True)
class Bar:
    """One bar of the province index chart."""

    label_zh: str
    label_en: str
    value: float | None
    colour: str
    reference: float | None = None  # e.g. the mean of the cities, drawn as a tick
    range_low: float | None = None  # e.g. the lowest and highest city, drawn as a whisker
    range_high: float | None = None


def province_bar_chart(chart_id: str, title: str, bars: Sequence[Bar], maximum: float = 100.0) -> str:
    """Vertical bars 0-``maximum`` with the value above each bar and an optional reference tick."""
    width, height = 1100, 300
    left, right, top, bottom = 44, 16, 28, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [_svg_open(chart_id, width, height, title, "province-bars")]
    for tick in nice_ticks(0, maximum, 5):
        if tick > maximum + 1e-9:
            continue
        y = top + plot_h - tick / maximum * plot_h
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(_text(left - 6, y + 4, fmt_number(tick, 0), anchor="end", cls="tick"))
    slot = plot_w / max(len(bars), 1)
    bar_w = min(110.0, slot * 0.5)
    for i, bar in enumerate(bars):
        cx = left + slot * (i + 0.5)
        if bar.value is not None:
            h = max(0.0, min(bar.value, maximum)) / maximum * plot_h
            y = top + plot_h - h
            parts.append(
                f'<rect class="bar" x="{cx - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}"'
                f' height="{h:.1f}" '
                f'fill="{bar.colour}"><title>{esc(bar.label_zh)} {esc(bar.label_en)}: '
                f"{fmt_number(bar.value, 1)}</title></rect>"
            )
            parts.append(_text(cx, y - 6, fmt_number(bar.value, 1), anchor="middle", cls="value"))
        else:
            parts.append(_text(cx, top + plot_h - 6, "无数据 n/a", anchor="middle", cls="muted"))
        if bar.reference is not None:
            ry = top + plot_h - max(0.0, min(bar.reference, maximum)) / maximum * plot_h
            parts.append(
                f'<line class="ref" x1="{cx - bar_w / 2 - 6:.1f}" x2="{cx + bar_w / 2 + 6:.1f}" '
                f'y1="{ry:.1f}" y2="{ry:.1f}"><title>地市平均 city mean: {fmt_number(bar.reference, 1)}'
                "</title></line>"
            )
        if bar.range_low is not None and bar.range_high is not None:
            wx = cx + bar_w / 2 + 14
            y_low = top + plot_h - max(0.0, min(bar.range_low, maximum)) / maximum * plot_h
            y_high = top + plot_h - max(0.0, min(bar.range_high, maximum)) / maximum * plot_h
            parts.append(
                f'<g class="range"><title>地市范围 range of the cities: {fmt_number(bar.range_low, 1)}'
                f" – {fmt_number(bar.range_high, 1)}</title>"
                f'<line x1="{wx:.1f}" x2="{wx:.1f}" y1="{y_low:.1f}" y2="{y_high:.1f}"/>'
                f'<line x1="{wx - 5:.1f}" x2="{wx + 5:.1f}" y1="{y_low:.1f}" y2="{y_low:.1f}"/>'
                f'<line x1="{wx - 5:.1f}" x2="{wx + 5:.1f}" y1="{y_high:.1f}" y2="{y_high:.1f}"/></g>'
            )
        parts.append(_text(cx, top + plot_h + 20, bar.label_zh, anchor="middle", cls="axis-zh"))
        parts.append(_text(cx, top + plot_h + 36, bar.label_en, anchor="middle", cls="axis-en"))
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>'
    )
    legend_y = height - 8
    parts.append(f'<rect x="{left}" y="{legend_y - 9}" width="12" height="10" fill="#8a96a3"/>')
    parts.append(_text(left + 16, legend_y, "全省指数 province index", cls="legend"))
    parts.append(
        f'<line class="ref" x1="{left + 190}" x2="{left + 210}" y1="{legend_y - 4}" y2="{legend_y - 4}"/>'
    )
    parts.append(_text(left + 216, legend_y, "地市平均 mean of the cities", cls="legend"))
    if any(bar.range_low is not None for bar in bars):
        parts.append(
            f'<g class="range"><line x1="{left + 430}" x2="{left + 430}" y1="{legend_y - 10}"'
            f' y2="{legend_y + 1}"/></g>'
        )
        parts.append(_text(left + 438, legend_y, "地市范围（最低–最高）range of the cities", cls="legend"))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class RankRow:
    """One city in a ranking chart."""

    rank: int | None
    name_zh: str
    name_en: str
    value: float | None
    change: int | None  # positive: moved up this many places since the previous year


def ranking_chart(
    chart_id: str, title: str, rows: Sequence[RankRow], colour: str, maximum: float = 100.0
) -> str:
    """Horizontal bars, one per city in rank order, with the score and the change of rank."""
    row_h = 24
    width = 560
    label_w, value_w, change_w, top = 178, 48, 44, 8
    height = top + row_h * max(len(rows), 1) + 10
    bar_x = label_w
    bar_max = width - label_w - value_w - change_w
    parts = [_svg_open(chart_id, width, height, title, "ranking")]
    for i, row in enumerate(rows):
        y = top + i * row_h
        rank = "—" if row.rank is None else str(row.rank)
        parts.append(_text(4, y + 16, rank, cls="rank"))
        parts.append(_text(28, y + 16, f"{row.name_zh} {row.name_en.removesuffix(' City')}", cls="name"))
        if row.value is not None:
            w = max(0.0, min(row.value, maximum)) / maximum * bar_max
            parts.append(
                f'<rect class="bar" x="{bar_x}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}"'
                f' fill="{colour}">'
                f"<title>{esc(row.name_zh)} {esc(row.name_en)}: {fmt_number(row.value, 1)}"
                f"（第 {rank} 名 rank {rank}）</title></rect>"
            )
            parts.append(_text(bar_x + w + 6, y + 16, fmt_number(row.value, 1), cls="value"))
        if row.change is None:
            change, cls = "", "muted"
        elif row.change > 0:
            change, cls = f"▲{row.change}", "up"
        elif row.change < 0:
            change, cls = f"▼{-row.change}", "down"
        else:
            change, cls = "＝", "muted"
        parts.append(_text(width - 4, y + 16, change, anchor="end", cls=cls))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Point:
    """One year of an indicator's provincial series."""

    year: int
    actual: float | None
    target: float | None
    status: str | None  # year_status


def line_chart(chart_id: str, title: str, points: Sequence[Point], years: Sequence[int], unit: str) -> str:
    """Actual values as a line (dots coloured by met / not met) and targets as diamond markers."""
    width, height = 400, 230
    left, right, top, bottom = 62, 14, 26, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for p in points for v in (p.actual, p.target) if v is not None]
    parts = [_svg_open(chart_id, width, height, title, "trajectory")]
    if not values or not years:
        parts.append(_text(width / 2, height / 2, "无数据 no data", anchor="middle", cls="muted"))
        parts.append("</svg>")
        return "".join(parts)
    low, high = min(values), max(values)
    span = high - low or (abs(high) * 0.1 or 1.0)
    low, high = low - span * 0.12, high + span * 0.12
    if min(values) >= 0 > low:
        low = 0.0
    ticks = nice_ticks(low, high, 4)
    low, high = min(ticks[0], low), max(ticks[-1], high)

    def x_of(year: int) -> float:
        if len(years) == 1:
            return left + plot_w / 2
        return left + (year - years[0]) / (years[-1] - years[0]) * plot_w

    def y_of(value: float) -> float:
        return top + plot_h - (value - low) / (high - low) * plot_h

    digits = tick_digits(ticks)
    for tick in ticks:
        if low - 1e-9 <= tick <= high + 1e-9:
            y = y_of(tick)
            parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
            parts.append(_text(left - 6, y + 4, fmt_number(tick, digits), anchor="end", cls="tick"))
    for year in years:
        parts.append(_text(x_of(year), height - bottom + 18, str(year), anchor="middle", cls="tick"))
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>'
    )
    # the actual line, broken where a year has no value
    segment: list[str] = []
    for p in sorted(points, key=lambda p: p.year):
        if p.actual is None:
            if len(segment) > 1:
                parts.append(f'<polyline class="actual" points="{" ".join(segment)}"/>')
            segment = []
            continue
        segment.append(f"{x_of(p.year):.1f},{y_of(p.actual):.1f}")
    if len(segment) > 1:
        parts.append(f'<polyline class="actual" points="{" ".join(segment)}"/>')
    for p in points:
        if p.target is not None:
            x, y = x_of(p.year), y_of(p.target)
            parts.append(
                f'<path class="target" d="M{x:.1f},{y - 6:.1f} L{x + 6:.1f},{y:.1f} L{x:.1f},{y + 6:.1f} '
                f'L{x - 6:.1f},{y:.1f} Z"><title>{p.year} 目标 target: {fmt_number(p.target)} {esc(unit)}'
                "</title></path>"
            )
    for p in points:
        if p.actual is None:
            continue
        colour = {"met": MET_COLOUR, "not_met": MISSED_COLOUR}.get(p.status or "", NEUTRAL_COLOUR)
        zh, en = label(YEAR_STATUS, p.status) if p.status else ("", "")
        parts.append(
            f'<circle class="point" cx="{x_of(p.year):.1f}" cy="{y_of(p.actual):.1f}" r="4.5"'
            f' fill="{colour}">'
            f"<title>{p.year} 实际 actual: {fmt_number(p.actual)} {esc(unit)} {esc(zh)} {esc(en)}</title>"
            "</circle>"
        )
    last = max((p for p in points if p.actual is not None), key=lambda p: p.year, default=None)
    if last is not None and last.actual is not None:
        x, y = x_of(last.year), y_of(last.actual)
        anchor = "end" if x > left + plot_w * 0.7 else "start"
        dx = -8 if anchor == "end" else 8
        parts.append(_text(x + dx, y - 8, fmt_number(last.actual), anchor=anchor, cls="value"))
    # legend
    parts.append(f'<line class="actual" x1="{left}" x2="{left + 18}" y1="12" y2="12"/>')
    parts.append(f'<circle cx="{left + 9}" cy="12" r="3.5" fill="{NEUTRAL_COLOUR}"/>')
    parts.append(_text(left + 22, 16, "实际 actual", cls="legend"))
    lx = left + 100
    parts.append(f'<path class="target" d="M{lx},6 L{lx + 6},12 L{lx},18 L{lx - 6},12 Z"/>')
    parts.append(_text(lx + 10, 16, "目标 target", cls="legend"))
    parts.append(_text(width - right, 16, unit, anchor="end", cls="unit"))
    parts.append("</svg>")
    return "".join(parts)
