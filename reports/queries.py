"""What the report reads from a published snapshot 报告的查询: every SQL statement of the report.

``read_report(con, snapshot, manifest)`` runs them all once and returns :class:`ReportContext`, plain
dataclasses, dicts and lists; the sections (``reports/html.py``), the charts (``reports/charts.py``)
and the templates (``reports/templates/``) never see a connection. The workbook shares the small
helpers (``connect_snapshot``, ``fetch_dicts``, ``has_table``, ``load_zones``...).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports.summary import targets_met
from scorecard.core.settings import get_settings
from scorecard.core.zones import read_zones

if TYPE_CHECKING:
    import duckdb

PROVINCE_LEVEL = "province"
CITY_LEVEL = "city"
COUNTY_LEVEL = "county"


# --- reading the snapshot -------------------------------------------------------------------------


def connect_snapshot(snapshot: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a published snapshot; its tables resolve as ``marts.*``/``meta.*``.

    The file is attached READ_ONLY to a fresh in-memory database rather than opened with
    ``duckdb.connect(path)``: DuckDB caches databases by path within a process, so a plain connect
    could return a stale, already-open copy of a snapshot that publication has since replaced.
    The caller closes the connection.
    """
    import duckdb

    if not snapshot.exists():
        raise FileNotFoundError(f"no published snapshot at {snapshot}")
    con = duckdb.connect(":memory:")
    try:
        literal = "'" + str(snapshot).replace("'", "''") + "'"
        con.execute(f"ATTACH {literal} AS snapshot (READ_ONLY)")
        con.execute("USE snapshot")
    except Exception:
        con.close()
        raise
    return con


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the attached snapshot."""
    row = con.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = 'snapshot' and table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """The column names of ``schema.table`` in order (empty when the table is absent)."""
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_catalog = 'snapshot' and table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Run ``sql`` and return the rows as dicts keyed by column name."""
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quote_ident(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Zone:
    """One of the five zones 五大领域 and its index fact table."""

    code: str
    no: int
    name_zh: str
    name_en: str
    index_name_zh: str
    index_name_en: str
    index_table: str


def load_zones(con: duckdb.DuckDBPyConnection) -> list[Zone]:
    """The zones in programme order, from ``marts.dim_zone`` (or the zones seed without it)."""
    if has_table(con, "marts", "dim_zone") and "index_fact_table" in table_columns(con, "marts", "dim_zone"):
        rows = con.execute(
            "select zone_code, zone_no, name_zh, name_en, index_name_zh, index_name_en, index_fact_table "
            "from marts.dim_zone order by zone_no, zone_code"
        ).fetchall()
        zones = [Zone(*row) for row in rows]
    else:
        # A snapshot from before dim_zone: the zones seed (scorecard/core/zones.py) has the same rows.
        zones = [
            Zone(
                z.zone_code, z.zone_no, z.name_zh, z.name_en, z.index_name_zh, z.index_name_en, z.index_model
            )
            for z in read_zones(get_settings().seeds_dir)
        ]
    return [z for z in zones if has_table(con, "marts", z.index_table)]


@dataclass
class Region:
    code: str
    name_zh: str
    name_en: str
    level: str
    city_code: str | None


def load_regions(con: duckdb.DuckDBPyConnection) -> dict[str, Region]:
    """Region code -> names, level and city, from ``marts.dim_region``."""
    if not has_table(con, "marts", "dim_region"):
        return {}
    rows = con.execute("select region_code, name_zh, name_en, region_level, city_code from marts.dim_region")
    return {r[0]: Region(*r) for r in rows.fetchall()}


def load_measures(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Measure code -> its ``marts.dim_measure`` row."""
    if not has_table(con, "marts", "dim_measure"):
        return {}
    return {r["measure_code"]: r for r in fetch_dicts(con, "select * from marts.dim_measure")}


def load_departments(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """Department code -> (name_zh, name_en)."""
    if not has_table(con, "marts", "dim_department"):
        return {}
    rows = con.execute("select department_code, name_zh, name_en from marts.dim_department").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def load_manifest(
    con: duckdb.DuckDBPyConnection, snapshot: Path, manifest: dict[str, Any] | None
) -> dict[str, Any]:
    """The publication's manifest: given, else ``manifest.json`` beside the snapshot, else ``meta.*``."""
    if manifest is not None:
        return manifest
    beside = snapshot.parent / "manifest.json"
    if beside.exists():
        try:
            return json.loads(beside.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    found: dict[str, Any] = {}
    if has_table(con, "meta", "publication"):
        rows = fetch_dicts(con, "select * from meta.publication limit 1")
        if rows:
            found.update({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in rows[0].items()})
    if has_table(con, "meta", "check_results"):
        results = [
            {
                "stage": r.get("stage"),
                "contract": r.get("contract"),
                "dataset": r.get("dataset"),
                "check": r.get("check_name"),
                "outcome": r.get("outcome"),
                "diagnostic": r.get("diagnostic"),
            }
            for r in fetch_dicts(con, "select * from meta.check_results")
        ]
        found["checks"] = {"results": results, "counts": dict(Counter(r["outcome"] for r in results))}
    if has_table(con, "meta", "source_files"):
        found["source_files"] = fetch_dicts(con, "select * from meta.source_files order by file_id")
    return found


# --- what the report reads ------------------------------------------------------------------------


@dataclass
class Headline:
    """The key figures of the header for the latest assessed year (None: the mart is absent)."""

    province_targets: tuple[int, int] | None = None  # (met, judged)
    counties_missed: int | None = None
    alerts: int | None = None


@dataclass
class ReportContext:
    """Everything read from the snapshot that the sections need."""

    zones: list[Zone]
    regions: dict[str, Region]
    measures: dict[str, dict[str, Any]]
    departments: dict[str, tuple[str, str]]
    manifest: dict[str, Any]
    index_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (zone, region, year) -> the two dimensions that moved the index most: (name_zh, name_en, points)
    movers: dict[tuple[str, str, int], list[tuple[str, str, float]]] = field(default_factory=dict)
    years: list[int] = field(default_factory=list)
    index_year: int | None = None
    assessed_year: int | None = None
    headline: Headline = field(default_factory=Headline)
    # the measures with a target at province level (None: no fct_indicator_progress)
    target_measures: set[str] | None = None
    # measure -> its province rows of fct_indicator_progress, by year
    province_series: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    # fct_indicator_progress rows of the assessed year that were judged (met / not met)
    assessed_rows: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] | None = None  # None: the snapshot has no fct_alerts

    def region_name(self, code: str | None) -> tuple[str, str]:
        region = self.regions.get(code or "")
        return (region.name_zh, region.name_en) if region else (code or "—", code or "—")

    def measure_name(self, code: str | None) -> tuple[str, str]:
        measure = self.measures.get(code or "")
        return (measure["name_zh"], measure["name_en"]) if measure else (code or "—", code or "—")


def read_report(
    con: duckdb.DuckDBPyConnection, snapshot: Path, manifest: dict[str, Any] | None
) -> ReportContext:
    """Everything the report shows, read once: :func:`build_context` and the sections' facts."""
    ctx = build_context(con, snapshot, manifest)
    ctx.headline = read_headline(con, ctx.assessed_year)
    ctx.target_measures = measures_with_province_targets(con)
    ctx.province_series = province_series(con)
    ctx.milestones = milestone_rows(con)
    if ctx.assessed_year is not None:
        ctx.assessed_rows = assessed_rows(con, ctx.assessed_year)
    ctx.alerts = alert_rows(con)
    return ctx


def build_context(
    con: duckdb.DuckDBPyConnection, snapshot: Path, manifest: dict[str, Any] | None
) -> ReportContext:
    """Read the dimensions, index tables and manifest once."""
    ctx = ReportContext(
        zones=load_zones(con),
        regions=load_regions(con),
        measures=load_measures(con),
        departments=load_departments(con),
        manifest=load_manifest(con, snapshot, manifest),
    )
    years: set[int] = set()
    for zone in ctx.zones:
        rows = fetch_dicts(
            con,
            "select region_code, region_level, city_code, year, index_score, coverage_pct, rank_in_level, "
            f"regions_ranked, {_rank_interval_columns(con, zone.index_table)} "
            f"from marts.{quote_ident(zone.index_table)} order by year, region_code",
        )
        ctx.index_rows[zone.code] = rows
    if has_table(con, "marts", "fct_index_score_changes"):
        for r in fetch_dicts(
            con,
            "select zone_code, region_code, year, dimension_name_zh, dimension_name_en, contribution "
            "from marts.fct_index_score_changes where mover_rank <= 2 and contribution <> 0 "
            "order by zone_code, region_code, year, mover_rank",
        ):
            key = (r["zone_code"], r["region_code"], int(r["year"]))
            ctx.movers.setdefault(key, []).append(
                (r["dimension_name_zh"], r["dimension_name_en"], r["contribution"])
            )
        years.update(int(r["year"]) for r in rows if r["index_score"] is not None)
    if has_table(con, "marts", "fct_indicator_progress"):
        row = con.execute(
            "select min(year), max(year), max(case when year_status in ('met', 'not_met') then year end) "
            "from marts.fct_indicator_progress"
        ).fetchone()
        if row and row[0] is not None:
            years.update(range(int(row[0]), int(row[1]) + 1))
            ctx.assessed_year = None if row[2] is None else int(row[2])
    ctx.years = sorted(years)
    index_years = [
        int(r["year"]) for rows in ctx.index_rows.values() for r in rows if r["index_score"] is not None
    ]
    ctx.index_year = max(index_years) if index_years else None
    return ctx


def _rank_interval_columns(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The rank interval columns of an index table (null where a snapshot predates them)."""
    available = set(table_columns(con, "marts", table))
    return ", ".join(c if c in available else f"null as {c}" for c in ("rank_median", "rank_p05", "rank_p95"))


def read_headline(con: duckdb.DuckDBPyConnection, year: int | None) -> Headline:
    """The header's key figures for the latest assessed ``year``."""
    headline = Headline()
    if year is not None and has_table(con, "marts", "fct_indicator_progress"):
        headline.province_targets = targets_met(con, year).get(PROVINCE_LEVEL, (0, 0))
        headline.counties_missed = con.execute(
            "select count(distinct region_code) from marts.fct_indicator_progress "
            "where year = ? and region_level = ? and year_status = 'not_met'",
            [year, COUNTY_LEVEL],
        ).fetchone()[0]
    if year is not None and has_table(con, "marts", "fct_alerts"):
        # the current year's alerts; the history is in the alerts section
        headline.alerts = con.execute(
            "select count(*) from marts.fct_alerts where year = ?", [year]
        ).fetchone()[0]
    return headline


def measures_with_province_targets(con: duckdb.DuckDBPyConnection) -> set[str] | None:
    """The measures that carry a target at province level (None without fct_indicator_progress)."""
    if not has_table(con, "marts", "fct_indicator_progress"):
        return None
    rows = con.execute(
        "select measure_code, count(target_value) from marts.fct_indicator_progress "
        "where region_level = ? group by measure_code having count(target_value) > 0",
        [PROVINCE_LEVEL],
    ).fetchall()
    return {r[0] for r in rows}


def province_series(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """Measure -> its provincial rows of ``fct_indicator_progress``, by year."""
    series: dict[str, list[dict[str, Any]]] = {}
    if not has_table(con, "marts", "fct_indicator_progress"):
        return series
    for r in fetch_dicts(
        con,
        "select measure_code, year, actual_value, target_value, target_type, year_status, status_basis, "
        "trajectory_status, attainment_pct from marts.fct_indicator_progress where region_level = ? "
        "order by measure_code, year",
        [PROVINCE_LEVEL],
    ):
        series.setdefault(r["measure_code"], []).append(r)
    return series


def milestone_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """``marts.fct_milestone_status`` (empty without it)."""
    if not has_table(con, "marts", "fct_milestone_status"):
        return []
    return fetch_dicts(
        con,
        "select measure_code, region_code, region_level, year, status_name_zh, status_name_en,"
        " target_text_zh, "
        "target_text_en, year_status, status_basis from marts.fct_milestone_status order by"
        " measure_code, year, region_code",
    )


def assessed_rows(con: duckdb.DuckDBPyConnection, year: int) -> list[dict[str, Any]]:
    """The judged (met / not met) rows of ``fct_indicator_progress`` in ``year``."""
    return fetch_dicts(
        con,
        "select measure_code, region_code, region_level, actual_value, target_value, attainment_pct,"
        " year_status, "
        "status_basis, unit from marts.fct_indicator_progress where year = ? and year_status in ('met',"
        " 'not_met')",
        [year],
    )


def alert_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]] | None:
    """Every row of ``marts.fct_alerts``, latest period first (None without the table)."""
    if not has_table(con, "marts", "fct_alerts"):
        return None
    columns = set(table_columns(con, "marts", "fct_alerts"))
    order = "attainment_pct" if "attainment_pct" in columns else "alert_id"
    return fetch_dicts(con, f"select * from marts.fct_alerts order by period desc, {order}, alert_id")
