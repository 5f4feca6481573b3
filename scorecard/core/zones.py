"""The five zones and the table of each zone's index, read from the zones seed.

``dbt_project/seeds/zones.csv`` column ``index_model`` is the one place that maps a zone to its
index table: dbt reads it (``dim_zone.index_fact_table``, the ``index_fact`` macro) and so does
the Python code, through :func:`read_zones`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

ZONES_SEED = "zones.csv"


@dataclass(frozen=True)
class ZoneRow:
    zone_code: str
    zone_no: int
    name_zh: str
    name_en: str
    index_name_zh: str
    index_name_en: str
    index_model: str


def read_zones(seeds_dir: Path) -> list[ZoneRow]:
    """The zones of ``seeds_dir/zones.csv`` in programme order (zone_no)."""
    with (seeds_dir / ZONES_SEED).open(encoding="utf-8", newline="") as handle:
        rows = [
            ZoneRow(
                zone_code=row["zone_code"],
                zone_no=int(row["zone_no"]),
                name_zh=row["name_zh"],
                name_en=row["name_en"],
                index_name_zh=row["index_name_zh"],
                index_name_en=row["index_name_en"],
                index_model=row["index_model"],
            )
            for row in csv.DictReader(handle)
        ]
    return sorted(rows, key=lambda zone: (zone.zone_no, zone.zone_code))


def index_models(seeds_dir: Path) -> dict[str, str]:
    """zone_code -> the marts table of its index, in programme order."""
    return {zone.zone_code: zone.index_model for zone in read_zones(seeds_dir)}
