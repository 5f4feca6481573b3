"""``scorecard summary``: the programme's 29 indicators and their 2021-2025 targets, from the warehouse.

Reads the seeded reference tables (built by ``dbt build``), not the CSV files, so what it prints is
what the rest of the pipeline joins against.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from scorecard.config import Settings, get_settings

YEARS = (2021, 2022, 2023, 2024, 2025)


@dataclass(frozen=True)
class IndicatorTargets:
    indicator_code: str
    zone_name_zh: str
    short_name_zh: str
    name_en: str
    unit: str
    targets: dict[int, float | None]


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
            select i.indicator_code, z.name_zh, i.short_name_zh, i.name_en, i.unit, t.year, t.target_value
            from reference.indicators as i
            join reference.zones as z using (zone_code)
            left join carrier as c using (indicator_code)
            left join reference.indicator_targets as t
                on t.measure_code = c.measure_code and t.target_type = 'annual'
            order by z.zone_no, i.indicator_no, t.year
            """
        ).fetchall()
    by_code: dict[str, IndicatorTargets] = {}
    for code, zone, short_name, name_en, unit, year, target in rows:
        entry = by_code.setdefault(
            code, IndicatorTargets(code, zone, short_name, name_en, unit, dict.fromkeys(YEARS))
        )
        if year is not None:
            entry.targets[int(year)] = float(target)
    return list(by_code.values())


def format_number(value: float | None) -> str:
    if value is None:
        return "——"
    return f"{value:g}"


def render(indicators: list[IndicatorTargets]) -> str:
    header = f"{'code':<6} {'指标 indicator':<28} {'unit':<14}" + "".join(f"{y:>8}" for y in YEARS)
    lines = [header, "-" * len(header)]
    zone = None
    for item in indicators:
        if item.zone_name_zh != zone:
            zone = item.zone_name_zh
            lines.append(f"[{zone}]")
        label = f"{item.short_name_zh} {item.name_en}"
        lines.append(
            f"{item.indicator_code:<6} {label[:28]:<28} {item.unit[:14]:<14}"
            + "".join(f"{format_number(item.targets[y]):>8}" for y in YEARS)
        )
    lines.append(f"{len(indicators)} indicators 项指标")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--build", action="store_true", help="run dbt build first (先构建)")


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.build or not settings.warehouse_path.exists():
        from warehouse.dbt import dbt_build

        result = dbt_build(settings)
        if not result.ok:
            print(result.stdout[-4000:], result.stderr[-2000:])
            return 1
    print(render(read_indicator_targets(settings)))
    return 0
