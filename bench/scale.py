"""The scale generator: benchmark dbt projects and long-format submission files at three sizes.

Scales (``SCALES``):

``province``
    Zhejiang as seeded: 1 province, 11 cities, 90 counties (the project's own seeds).
``township``
    Zhejiang's 1,364 townships (乡镇/街道, NBS 2022, ``docs/source/reference``) with 9-digit codes.
    The models know three levels only (province > city > county: ``region_level_rank``,
    ``int_region_ancestors_flattened`` and ``int_measures_classified.base_level``), so a real
    ``township`` level would be dropped by the roll-ups. The benchmark therefore seeds the
    townships *as the leaf level* (``region_level = 'county'``, parent = their city): the same
    row volume through the same graph, a volume proxy rather than a fourth level (see
    ``docs/benchmarks.md`` for what a true township level needs).
``national``
    31 provinces with ~2,850 county-level units (approximate 2022 counts per province; Zhejiang
    is the real seed, the others synthetic codes ``PPCCDD`` under synthetic cities ``PPCC00``;
    the four municipalities get one pseudo-city ``PP0100`` as in NBS codes).

Each scale gets its own copy of ``dbt_project/`` with ``seeds/regions.csv`` and
``seeds/region_population.csv`` rewritten; ``SCORECARD_DBT_PROJECT_DIR`` pointing at the copy
makes the loader (``Settings.seeds_dir``) and dbt agree on the regions. The copy's
``seeds/regions.yml`` accepts every region code of the scale (the original test pins Zhejiang's
``33xxxx``) and the ``county`` level only (see above); nothing else in the project is changed.

Files are long format (``region_code, measure_code, period, value, numerator, denominator,
unit, note``), UTF-8, English headers, one file per department and year (12 monthly periods) or
one file per department for all periods (``split="department"``); values are smooth,
deterministic and valid (rates within 0-100, counts whole), written by DuckDB in seconds even at
national size.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scorecard.core.settings import REPO_ROOT

SOURCE_PROJECT = REPO_ROOT / "dbt_project"
TOWNSHIPS_CSV = REPO_ROOT / "docs" / "source" / "reference" / "zhejiang_townships_nbs2022.csv"
FIRST_YEAR, LAST_YEAR = 2021, 2025

# Approximate county-level units per province (NBS 2022), in province-code order. Zhejiang (33)
# comes from the real seed and its 90 counties.
NATIONAL_COUNTIES: dict[str, tuple[str, int]] = {
    "11": ("北京市", 16),
    "12": ("天津市", 16),
    "13": ("河北省", 167),
    "14": ("山西省", 117),
    "15": ("内蒙古自治区", 103),
    "21": ("辽宁省", 100),
    "22": ("吉林省", 60),
    "23": ("黑龙江省", 121),
    "31": ("上海市", 16),
    "32": ("江苏省", 95),
    "33": ("浙江省", 90),
    "34": ("安徽省", 104),
    "35": ("福建省", 84),
    "36": ("江西省", 100),
    "37": ("山东省", 136),
    "41": ("河南省", 157),
    "42": ("湖北省", 103),
    "43": ("湖南省", 122),
    "44": ("广东省", 122),
    "45": ("广西壮族自治区", 111),
    "46": ("海南省", 25),
    "50": ("重庆市", 38),
    "51": ("四川省", 183),
    "52": ("贵州省", 88),
    "53": ("云南省", 129),
    "54": ("西藏自治区", 74),
    "61": ("陕西省", 107),
    "62": ("甘肃省", 86),
    "63": ("青海省", 44),
    "64": ("宁夏回族自治区", 22),
    "65": ("新疆维吾尔自治区", 106),
}
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
COUNTIES_PER_CITY = 9
REGION_COLUMNS = [
    "region_code",
    "name_zh",
    "name_en",
    "name_pinyin",
    "region_level",
    "parent_code",
    "city_code",
    "division_type",
    "township_count",
    "jiedao_count",
    "zhen_count",
    "xiang_count",
    "source",
    "other_stat_unit_count",
]
POPULATION_COLUMNS = [
    "region_code",
    "year",
    "resident_population",
    "elderly_population",
    "is_estimate",
    "method",
    "source",
    "resident_is_estimate",
    "elderly_is_estimate",
]
BENCH_SOURCE = "bench/scale.py (synthetic benchmark region)"


@dataclass(frozen=True)
class Scale:
    """One benchmark size."""

    name: str
    description: str

    def regions(self) -> list[dict[str, str]]:
        return REGION_BUILDERS[self.name]()


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _region(
    code: str, name: str, level: str, parent: str, city: str, townships: int | None = None
) -> dict[str, str]:
    row = dict.fromkeys(REGION_COLUMNS, "")
    row.update(
        region_code=code,
        name_zh=name,
        name_en=f"Region {code}",
        name_pinyin=f"Region{code}",
        region_level=level,
        parent_code=parent,
        city_code=city,
        division_type={"province": "省", "city": "地级市", "county": "县"}[level],
        source=BENCH_SOURCE,
    )
    _set_township_counts(row, townships or 0)
    return row


def _set_township_counts(row: dict[str, str], townships: int, split: tuple[int, ...] | None = None) -> None:
    """township_count and its parts (街道, 镇, 乡), which the seed's tests require to add up."""
    jiedao, zhen, xiang = split or (townships // 3, townships - 2 * (townships // 3), townships // 3)
    row.update(
        township_count=str(townships),
        jiedao_count=str(jiedao),
        zhen_count=str(zhen),
        xiang_count=str(xiang),
        other_stat_unit_count="0",
    )


def _sum_township_counts(rows: list[dict[str, str]]) -> None:
    """Synthetic cities, then provinces: their counts are the sums over their children."""
    by_code = {row["region_code"]: row for row in rows}
    for level in ("city", "province"):
        totals: dict[str, list[int]] = {}
        for row in rows:
            parent = by_code.get(row["parent_code"])
            if parent is None or parent["region_level"] != level or parent["source"] != BENCH_SOURCE:
                continue
            total = totals.setdefault(parent["region_code"], [0, 0, 0])
            for index, key in enumerate(("jiedao_count", "zhen_count", "xiang_count")):
                total[index] += int(row[key] or 0)
        for code, parts in totals.items():
            _set_township_counts(by_code[code], sum(parts), tuple(parts))


def province_regions() -> list[dict[str, str]]:
    """The project's own regions seed (Zhejiang: 1 + 11 + 90)."""
    return _read_csv(SOURCE_PROJECT / "seeds" / "regions.csv")


def township_regions() -> list[dict[str, str]]:
    """Zhejiang's province and 11 cities, with its 1,364 townships as the leaf level."""
    seed = province_regions()
    keep = [row for row in seed if row["region_level"] in {"province", "city"}]
    leaves = []
    for town in _read_csv(TOWNSHIPS_CSV):
        if town["type"] not in {"jiedao", "zhen", "xiang"}:
            continue
        row = _region(town["code9"], town["name_zh"], "county", town["city_code"], town["city_code"], 1)
        row["division_type"] = {"jiedao": "街道", "zhen": "镇", "xiang": "乡"}[town["type"]]
        kind = ("jiedao", "zhen", "xiang").index(town["type"])
        _set_township_counts(row, 1, tuple(int(i == kind) for i in range(3)))
        leaves.append(row)
    return keep + leaves


def national_regions() -> list[dict[str, str]]:
    """31 provinces: Zhejiang's real seed plus synthetic cities and counties elsewhere."""
    rows: list[dict[str, str]] = []
    for prefix, (name, counties) in NATIONAL_COUNTIES.items():
        if prefix == "33":
            rows.extend(province_regions())
            continue
        province = f"{prefix}0000"
        rows.append(_region(province, name, "province", "", ""))
        cities = 1 if prefix in MUNICIPALITIES else max(1, round(counties / COUNTIES_PER_CITY))
        for index in range(counties):
            city_number = index % cities + 1
            city = f"{prefix}{city_number:02d}00"
            if index < cities:
                rows.append(_region(city, f"{name}第{city_number}市", "city", province, city))
            county_number = index // cities + 1
            code = f"{prefix}{city_number:02d}{county_number:02d}"
            rows.append(
                _region(code, f"{name}第{city_number}市第{county_number}县", "county", city, city, 12)
            )
    _sum_township_counts(rows)
    return rows


REGION_BUILDERS = {
    "province": province_regions,
    "township": township_regions,
    "national": national_regions,
}
SCALES: dict[str, Scale] = {
    "province": Scale("province", "one province: Zhejiang, 11 cities, 90 counties (the project's seeds)"),
    "township": Scale(
        "township", "Zhejiang's 1,364 townships (9-digit NBS codes) as the leaf level under 11 cities"
    ),
    "national": Scale("national", "31 provinces, ~2,850 county-level units (synthetic outside Zhejiang)"),
}


def leaf_count(regions: Sequence[dict[str, str]]) -> int:
    return sum(1 for row in regions if row["region_level"] == "county")


def population_rows(regions: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """2020 resident and 60+ population for every region: the seed's figures where the region is in
    it, else synthetic leaves (a township: its county's figure shared out) summed up the tree."""
    seed = {row["region_code"]: row for row in _read_csv(SOURCE_PROJECT / "seeds" / "region_population.csv")}
    towns = {row["code9"]: row for row in _read_csv(TOWNSHIPS_CSV)} if TOWNSHIPS_CSV.exists() else {}
    town_counts: dict[str, int] = {}
    for row in regions:
        town = towns.get(row["region_code"])
        if town is not None:
            town_counts[town["county_code"]] = town_counts.get(town["county_code"], 0) + 1
    resident: dict[str, int] = {}
    elderly: dict[str, int] = {}
    for row in regions:
        if row["region_level"] != "county":
            continue
        code = row["region_code"]
        town = towns.get(code)
        if code in seed:
            resident[code] = int(seed[code]["resident_population"])
            elderly[code] = int(seed[code]["elderly_population"])
        elif town is not None and town["county_code"] in seed:
            county = seed[town["county_code"]]
            share = town_counts[town["county_code"]]
            weight = 0.5 + _unit("town", code)
            resident[code] = max(1000, int(int(county["resident_population"]) / share * weight))
            elderly[code] = max(
                100,
                int(
                    resident[code]
                    * float(county["elderly_population"])
                    / float(county["resident_population"])
                ),
            )
        else:
            resident[code] = int(150_000 + 900_000 * _unit("resident", code))
            elderly[code] = int(resident[code] * (0.14 + 0.1 * _unit("elderly", code)))
    by_code = {row["region_code"]: row for row in regions}
    for level in ("city", "province"):
        for row in regions:
            if row["region_level"] != level:
                continue
            children = [r["region_code"] for r in regions if r["parent_code"] == row["region_code"]]
            resident[row["region_code"]] = sum(resident.get(child, 0) for child in children)
            elderly[row["region_code"]] = sum(elderly.get(child, 0) for child in children)
    out = []
    for code, row in by_code.items():
        original = seed.get(code)
        if original is not None and row["region_level"] == "county":
            out.append({key: original.get(key, "") for key in POPULATION_COLUMNS})
            continue
        out.append(
            {
                "region_code": code,
                "year": "2020",
                "resident_population": str(resident[code]),
                "elderly_population": str(elderly[code]),
                "is_estimate": "true",
                "method": "benchmark: synthetic leaves, higher levels summed from them",
                "source": BENCH_SOURCE,
                "resident_is_estimate": "true",
                "elderly_is_estimate": "true",
            }
        )
    return out


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: row.get(key, "") for key in columns} for row in rows)


def write_bench_project(scale: Scale, dest: Path) -> Path:
    """A copy of ``dbt_project/`` seeded with the scale's regions; returns the project folder."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        SOURCE_PROJECT, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml")
    )
    if scale.name == "province":
        return dest
    regions = scale.regions()
    seeds = dest / "seeds"
    _write_csv(seeds / "regions.csv", REGION_COLUMNS, regions)
    _write_csv(seeds / "region_population.csv", POPULATION_COLUMNS, population_rows(regions))
    # seeds that name Zhejiang's regions keep only the rows whose region the scale has (dbt's
    # relationships tests on them fail the build otherwise: the township scale has no counties)
    codes = {row["region_code"] for row in regions}
    for name in ("region_aliases.csv", "target_allocations.csv"):
        with (seeds / name).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            columns, rows = list(reader.fieldnames or []), list(reader)
        _write_csv(seeds / name, columns, [row for row in rows if row["region_code"] in codes])
    spec = seeds / "regions.yml"
    text = spec.read_text(encoding="utf-8")
    # the code's pattern in the seed's column_rules expressions (YAML-quoted there: '' for ')
    patched = text.replace("region_code, ''33[0-9]{4}''", "region_code, ''[0-9]{6}|[0-9]{9}''")
    if patched == text:
        raise RuntimeError("the regions seed test changed: update bench/scale.py")
    spec.write_text(patched, encoding="utf-8")
    return dest


def monthly_periods(months: int, last_year: int = LAST_YEAR) -> list[str]:
    """The last ``months`` monthly periods ending December of ``last_year`` (60: 2021-01..2025-12)."""
    out = []
    year, month = last_year, 12
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return sorted(out)


def year_end_periods(first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR) -> list[str]:
    """December of every programme year: the quick size's periods (every year present, so the
    gate's completeness checks see a whole programme)."""
    return [f"{year:04d}-12" for year in range(first_year, last_year + 1)]


# The values, by measure kind, as SQL over (h: a stable hash in [0, 1) of region x measure,
# t: months since the first period). Smooth in t (no anomaly spikes), valid for the loader.
_VALUES_SQL = """
CREATE OR REPLACE TEMP TABLE bench_rows AS
WITH grid AS (
    SELECT m.department_code, m.measure_code, m.measure_kind, m.value_scale, r.region_code,
           p.period, p.t,
           (hash(r.region_code || m.measure_code) % 1000000) / 1e6 AS h
    FROM bench_measures AS m
    JOIN bench_regions AS r ON r.region_level = m.base_level
    CROSS JOIN bench_periods AS p
)
SELECT department_code, region_code, measure_code, period, substr(period, 1, 4) AS year,
    CASE
        WHEN measure_kind = 'level' THEN round((9000 + 4000 * h) * (1 + 0.002 * t), -1)
        WHEN measure_kind = 'amount' THEN round((0.5 + 5 * h) * (1 + 0.004 * t), 2)
        WHEN measure_kind IN ('count', 'regions_meeting') THEN floor((1 + 40 * h) * (1 + 0.01 * t))
    END AS value,
    CASE
        WHEN measure_kind = 'rate' THEN floor((200 + 4000 * h) * least(0.99, 0.6 + 0.3 * h + 0.002 * t))
        WHEN measure_kind = 'density'
            THEN floor((50000 + 500000 * h) * (0.0005 + 0.002 * h) * (1 + 0.003 * t))
        WHEN measure_kind = 'ratio' THEN floor((1000 + 30000 * h) * (0.8 + 0.3 * h) * (1 + 0.002 * t))
    END::BIGINT AS numerator,
    CASE
        WHEN measure_kind = 'rate' THEN floor(200 + 4000 * h)
        WHEN measure_kind = 'density' THEN floor(50000 + 500000 * h)
        WHEN measure_kind = 'ratio' THEN floor(1000 + 30000 * h)
    END::BIGINT AS denominator
FROM grid
"""


@dataclass
class FileSet:
    """Files written for one scale: paths (``root/<department>/<name>.csv``), rows and bytes."""

    root: Path
    files: list[Path]
    rows: int
    bytes: int
    periods: list[str]
    leaves: int


def write_long_files(
    project_dir: Path,
    out: Path,
    periods: Sequence[str],
    *,
    split: str = "year",
    departments: Sequence[str] | None = None,
) -> FileSet:
    """Long-format CSVs for every value measure x leaf region x period of the project's seeds.

    ``split="year"``: ``out/<department>/<year>_<department>_values.csv`` (a department's year);
    ``split="department"``: one ``out/<department>/all_<department>_values.csv`` per department.
    """
    import duckdb

    seeds = project_dir / "seeds"
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    try:
        con.execute(
            f"""CREATE TEMP TABLE bench_measures AS
            SELECT measure_code, measure_kind, department_code,
                try_cast(value_scale AS DOUBLE) AS value_scale,
                CASE WHEN measure_kind = 'regions_meeting' AND coalesce(condition_level, '') <> ''
                     THEN condition_level
                     WHEN '|' || region_levels || '|' LIKE '%|county|%' THEN 'county'
                     WHEN '|' || region_levels || '|' LIKE '%|city|%' THEN 'city'
                     ELSE 'province' END AS base_level
            FROM read_csv('{seeds / "measures.csv"}', all_varchar = true, header = true)
            WHERE coalesce(submitted_via, 'values') = 'values' AND measure_kind <> 'milestone'"""
        )
        con.execute(
            f"""CREATE TEMP TABLE bench_regions AS SELECT region_code, region_level
            FROM read_csv('{seeds / "regions.csv"}', all_varchar = true, header = true)"""
        )
        con.execute("CREATE TEMP TABLE bench_periods (period VARCHAR, t INTEGER)")
        con.executemany("INSERT INTO bench_periods VALUES (?, ?)", [[p, i] for i, p in enumerate(periods)])
        if departments:
            con.execute(
                "DELETE FROM bench_measures WHERE NOT list_contains(?, department_code)", [list(departments)]
            )
        con.execute(_VALUES_SQL)
        leaves = con.execute("SELECT count(*) FROM bench_regions WHERE region_level = 'county'").fetchone()[0]
        groups = con.execute(
            "SELECT DISTINCT department_code, year FROM bench_rows ORDER BY 1, 2"
            if split == "year"
            else "SELECT DISTINCT department_code, 'all' FROM bench_rows ORDER BY 1"
        ).fetchall()
        files: list[Path] = []
        total_rows = 0
        for department, year in groups:
            folder = out / department
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{year}_{department}_values.csv"
            where = "department_code = $d" + (" AND year = $y" if split == "year" else "")
            params = {"d": department, **({"y": year} if split == "year" else {})}
            total_rows += con.execute(f"SELECT count(*) FROM bench_rows WHERE {where}", params).fetchone()[0]
            con.execute(
                f"""COPY (SELECT region_code, measure_code, period, value, numerator, denominator,
                           NULL::VARCHAR AS unit, NULL::VARCHAR AS note
                    FROM bench_rows WHERE {where}
                    ORDER BY period, measure_code, region_code)
                    TO '{path}' (HEADER, DELIMITER ',')""",
                params,
            )
            files.append(path)
    finally:
        con.close()
    return FileSet(
        root=out,
        files=files,
        rows=total_rows,
        bytes=sum(path.stat().st_size for path in files),
        periods=list(periods),
        leaves=int(leaves),
    )


def resubmission(fileset: FileSet, department: str, dest: Path, round_: int = 1) -> Path:
    """One department's latest-year file again with every value nudged (a corrected resubmission):
    written to ``dest/<department>/`` under a new name so that it is not a duplicate. Each
    ``round_`` nudges the values by a different amount (a second correction of the same file)."""
    import duckdb

    source = max(path for path in fileset.files if path.parent.name == department)
    prefix = "resubmitted" if round_ == 1 else f"resubmitted{round_}"
    target = dest / department / f"{prefix}_{source.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    try:
        con.execute(
            f"""COPY (SELECT region_code, measure_code, period,
                        CASE WHEN value IS NOT NULL AND value = floor(value) THEN value + {round_}
                             WHEN value IS NOT NULL THEN round(value * (1 + 0.001 * {round_}), 2)
                        END AS value,
                        numerator,
                        CASE WHEN denominator IS NOT NULL THEN denominator + {round_} END AS denominator,
                        unit, 'resubmitted' AS note
                 FROM read_csv('{source}', header = true, all_varchar = false,
                               types = {{'region_code': 'VARCHAR', 'period': 'VARCHAR'}}))
                TO '{target}' (HEADER, DELIMITER ',')"""
        )
    finally:
        con.close()
    return target
