"""``scorecard summary``: the programme's 29 indicators and their 2021-2025 targets, from the warehouse.

Reads the seeded reference tables (built by ``dbt build``), not the CSV files, so what it prints is
what the rest of the pipeline joins against.
"""

from __future__ import annotations

import argparse
import unicodedata
from dataclasses import dataclass
from typing import Any

from scorecard.core.settings import Settings, get_settings

YEARS = (2021, 2022, 2023, 2024, 2025)


@dataclass(frozen=True)
class IndicatorTargets:
    indicator_code: str
    zone_name_zh: str
    short_name_zh: str
    name_en: str
    unit: str
    targets: dict[int, float | str | None]


def read_indicator_targets(settings: Settings | None = None) -> list[IndicatorTargets]:
    """One entry per indicator, with the annual targets of the measure that carries its series."""
    import duckdb

    settings = settings or get_settings()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            """
            with carrier as (
                -- the first measure of an indicator (PP03A for PP03) carries the annual series
                select indicator_code, min(measure_code) as measure_code
                from reference.measures
                where indicator_code is not null and has_annual_targets
                group by indicator_code
            )
            select i.indicator_code, z.name_zh, i.short_name_zh, i.name_en, i.unit_zh,
                coalesce(t.year, m.year),
                coalesce(cast(t.target_value as varchar), m.target_level_code)
            from reference.indicators as i
            join reference.zones as z using (zone_code)
            left join carrier as c using (indicator_code)
            left join reference.indicator_targets as t
                on t.measure_code = c.measure_code and t.target_type = 'annual'
            -- the milestone indicator (EC02) has an ordered status as its yearly target
            left join reference.milestone_targets as m
                on m.measure_code = i.indicator_code and t.year is null
            order by z.zone_no, i.indicator_no, coalesce(t.year, m.year)
            """
        ).fetchall()
    by_code: dict[str, IndicatorTargets] = {}
    for code, zone, short_name, name_en, unit, year, target in rows:
        entry = by_code.setdefault(
            code, IndicatorTargets(code, zone, short_name, name_en, unit, dict.fromkeys(YEARS))
        )
        if year is None:
            continue
        try:
            entry.targets[int(year)] = float(target)
        except ValueError:
            entry.targets[int(year)] = target
    return list(by_code.values())


def format_target(value: float | str | None) -> str:
    if value is None:
        return "——"
    return f"{value:g}" if isinstance(value, float) else value


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def fit(text: str, width: int, *, right: bool = False) -> str:
    """Cut and pad to a terminal width, counting CJK characters as two columns."""
    while display_width(text) > width:
        text = text[:-1]
    padding = " " * (width - display_width(text))
    return padding + text if right else text + padding


OPENING = "（「『【《“‘"
CLOSING = "）」』】》”’，。、；：！？·"


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` into lines of at most ``width`` display columns, between words (a CJK run
    may break between characters, as Chinese text does); a word longer than a line is cut."""
    tokens: list[str] = []
    for word in text.split():
        if all(display_width(ch) == 2 for ch in word):
            # Chinese: a break may fall between any two characters, except before a closing or
            # after an opening bracket or mark
            glued = False
            for ch in word:
                if tokens and (glued or ch in CLOSING):
                    tokens[-1] += ch
                else:
                    tokens.append(ch)
                glued = ch in OPENING
        else:
            tokens.append(word)
    lines: list[str] = []
    current = ""
    for token in tokens:
        joiner = "" if (current and display_width(current[-1]) == 2 and display_width(token[0]) == 2) else " "
        candidate = f"{current}{joiner}{token}" if current else token
        if display_width(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = token
        while display_width(current) > width:
            head = fit(current, width).rstrip()
            lines.append(head)
            current = current[len(head) :]
    if current:
        lines.append(current)
    return lines or [""]


LABEL_WIDTH = 40
UNIT_WIDTH = 12


def render(indicators: list[IndicatorTargets]) -> str:
    header = f"{fit('code', 6)} {fit('指标 indicator', LABEL_WIDTH)} {fit('单位 unit', UNIT_WIDTH)}"
    header += "".join(fit(str(y), 13, right=True) for y in YEARS)
    lines = [header, "-" * display_width(header)]
    zone = None
    for item in indicators:
        if item.zone_name_zh != zone:
            zone = item.zone_name_zh
            lines.append(f"[{zone}]")
        label = wrap(f"{item.short_name_zh} {item.name_en}", LABEL_WIDTH)
        unit = wrap(item.unit, UNIT_WIDTH)
        lines.append(
            f"{fit(item.indicator_code, 6)} {fit(label[0], LABEL_WIDTH)} {fit(unit[0], UNIT_WIDTH)}"
            + "".join(fit(format_target(item.targets[y]), 13, right=True) for y in YEARS)
        )
        for extra in range(1, max(len(label), len(unit))):
            more_label = label[extra] if extra < len(label) else ""
            more_unit = unit[extra] if extra < len(unit) else ""
            lines.append(f"{'':6} {fit(more_label, LABEL_WIDTH)} {more_unit}".rstrip())
    lines.append(f"{len(indicators)} indicators 项指标")
    return "\n".join(lines)


def targets_met(con: Any, year: int) -> dict[str, tuple[int, int]]:
    """Per region level, how many targets of ``year`` were met and how many were judged (met or
    not met; a year without a target or not over yet is not counted). The report's headline and
    the demo's summary both print this, so they always agree."""
    rows = con.execute(
        "select region_level, count(*) filter (where year_status = 'met'),"
        " count(*) filter (where year_status in ('met', 'not_met'))"
        " from marts.fct_indicator_progress where year = ? group by region_level",
        [year],
    ).fetchall()
    return {str(level): (int(met), int(judged)) for level, met, judged in rows}


def configure(parser: argparse.ArgumentParser) -> None:
    """No options: a read command never builds (the builder is ``scorecard build``)."""


def run(args: argparse.Namespace) -> int:
    import sys

    settings = get_settings()
    if not settings.warehouse_path.exists():
        print(
            f"还没有数据仓库 no warehouse yet: {settings.warehouse_path}\n"
            "先运行 run `scorecard build` first.",
            file=sys.stderr,
        )
        return 1
    print(render(read_indicator_targets(settings)))
    return 0
