"""The file-triggered incremental build (``dbt build`` with the selector of the raw tables that
moved, here ``after_values``: warehouse/dbt.py) against a ``--full-refresh`` rebuild of every
model from the same raw data.

Starting from the session build, one department (charity_social_work) resubmits its 2025 file
with values changed, rows and a whole region dropped and a new period (2025-Q4) added; another
department (elderly_care) sends a file whose every row is rejected (quarantined); and one row
set of the charity file of 2023 is retracted from the raw layer, so that values vanish. The
incremental build must give exactly the marts (and incremental tables) of a full rebuild, and
must have recomputed only the resubmitted department's measures, and of those only the years
from 2023 on: 2021 and 2022 were not touched and stand as they were.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from scorecard.core.settings import Settings, get_settings

pytestmark = pytest.mark.slow

AS_OF = "2026-01-15"
DEPARTMENT = "charity_social_work"
REJECTED_DEPARTMENT = "elderly_care"
NEW_PERIOD = "2025-Q4"
RETRACTED_YEAR = 2023  # the earliest year the scenario changes
INCREMENTAL_TABLES = [
    "staging.stg_raw__submissions_latest",
    "intermediate.int_measure_values_annualised",
    "intermediate.int_measure_values_rolled_up",
    "intermediate.int_measure_values_reconciled",
    "intermediate.int_targets_scoped",
    "intermediate.int_measure_trajectories_projected",
    "intermediate.int_indicator_progress_assessed",
    "marts.fct_indicator_progress",
    "marts.fct_value_anomalies",
    "intermediate.int_dimension_scores_scored",
    "marts.fct_index_dimension_scores",
    "marts.fct_alerts",
]
# Incremental per zone and year (config measure_zone_column): tables that combine a zone's
# dimensions; a build after a file rebuilds the zones its measures feed (seeds/index_dimensions.csv).
ZONE_TABLES = ["intermediate.int_index_scores_aggregated", "marts.fct_index_score_changes"]
STATE_TABLE = "intermediate.incremental_measure_versions"


@dataclass(frozen=True)
class Rebuilt:
    incremental: Settings
    full: Settings
    incremental_output: str
    incremental_selector: str | None
    full_output: str
    incremental_ok: bool
    full_ok: bool
    before: Path  # the warehouse as the session build left it
    run_results: Path  # of the incremental build
    resubmitted_measures: frozenset[str]
    load_statuses: dict[str, str]


def _settings(monkeypatch: pytest.MonkeyPatch, home: Path, tmp: Path) -> Settings:
    monkeypatch.setenv("SCORECARD_HOME", str(home))
    monkeypatch.setenv("SCORECARD_AS_OF", AS_OF)
    monkeypatch.setenv("SCORECARD_MONITOR_FROM", "2026-01-01")
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp / "dbt-logs"))
    settings = get_settings()
    settings.ensure_dirs()
    return settings


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def _bumped(cell: str) -> str:
    """A plain number + 1; a cell in any other notation (a percentage, text) as it is."""
    try:
        return str(float(cell.replace(",", "")) + 1)
    except ValueError:
        return cell


def write_resubmission(generated: Path, inbox: Path) -> set[str]:
    """The department's 2025 values file again: every other value + 1, one region and every ninth
    row left out, and the first measure also for a new period. Returns the measures in it."""
    (source,) = sorted((generated / DEPARTMENT).glob("2025_*values.csv"))
    header, body = _read_csv(source)
    region_col, measure_col, period_col, value_col, note_col = 0, 2, 3, 4, 8
    dropped_region = sorted({row[region_col] for row in body})[3]
    rows = []
    for i, row in enumerate(body):
        if row[region_col] == dropped_region or i % 9 == 4:
            continue
        row = list(row)
        if i % 2 == 0:
            row[value_col] = _bumped(row[value_col])
        row[note_col] = "resubmitted"
        rows.append(row)
    first_measure = body[0][measure_col]
    rows += [
        [*row[:period_col], NEW_PERIOD, *row[period_col + 1 :]]
        for row in body
        if row[measure_col] == first_measure
    ]
    _write_csv(inbox / DEPARTMENT / f"resubmitted_{source.name}", header, rows)

    # Another department's file whose every row names an unknown region: rejected as a whole.
    broken = [["999999", *row[1:]] for row in body[:5]]
    _write_csv(inbox / REJECTED_DEPARTMENT / f"broken_2025_{REJECTED_DEPARTMENT}_values.csv", header, broken)
    return {row[measure_col] for row in rows}


def retract_rows(settings: Settings, measures: set[str]) -> int:
    """Rows of the department's file of RETRACTED_YEAR for one county withdrawn from the raw layer
    (only of the resubmitted measures): values that had a single version vanish from the latest
    values."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        deleted = con.execute(
            """delete from raw.submissions
               where file_id = (select min(file_id) from raw.submissions
                                where department_code = $1 and period like $3 || '%')
                 and region_code = (select min(region_code) from raw.submissions where department_code = $1)
                 and list_contains($2, measure_code)""",
            [DEPARTMENT, sorted(measures), str(RETRACTED_YEAR)],
        ).fetchone()[0]
        con.execute("checkpoint")
    return int(deleted)


@pytest.fixture(scope="module")
def rebuilt(built_warehouse, tmp_path_factory: pytest.TempPathFactory) -> Rebuilt:
    from ingest.loader import load_paths
    from warehouse.dbt import dbt_build, run_dbt, sources_built_path

    assert built_warehouse.build_ok, built_warehouse.build_stdout[-4000:]
    tmp = tmp_path_factory.mktemp("dbt-incremental")
    before = tmp / "before.duckdb"
    shutil.copyfile(built_warehouse.settings.warehouse_path, before)
    with pytest.MonkeyPatch.context() as monkeypatch:
        incremental = _settings(monkeypatch, tmp / "incremental-home", tmp / "incremental")
        shutil.copyfile(before, incremental.warehouse_path)
        # what the session's full build recorded of the raw tables it read, as beside a deployment
        shutil.copyfile(sources_built_path(built_warehouse.settings), sources_built_path(incremental))
        measures = write_resubmission(built_warehouse.tmp / "generated", tmp / "inbox")
        results = load_paths([tmp / "inbox"], settings=incremental)
        statuses = {result.file_name: result.status for result in results}
        assert retract_rows(incremental, measures) > 0
        # as the pipeline builds after files: the selector of the raw tables that moved
        inc = dbt_build(incremental, mode="incremental")
    # The reference: every model rebuilt from the same raw rows (dbt run, as moved_clock's: the
    # tables are the point; the data tests and unit tests of a full build change no table).
    with pytest.MonkeyPatch.context() as monkeypatch:
        full = _settings(monkeypatch, tmp / "full-home", tmp / "full")
        shutil.copyfile(incremental.warehouse_path, full.warehouse_path)
        rebuilt_full = run_dbt(["run", "--full-refresh"], full)
    return Rebuilt(
        incremental=incremental,
        full=full,
        incremental_output=inc.stdout + inc.stderr,
        incremental_selector=inc.selector,
        full_output=rebuilt_full.stdout + rebuilt_full.stderr,
        incremental_ok=inc.ok,
        full_ok=rebuilt_full.ok,
        before=before,
        run_results=tmp / "incremental" / "dbt-target" / "run_results.json",
        resubmitted_measures=frozenset(measures),
        load_statuses=statuses,
    )


@pytest.fixture
def attached(rebuilt):
    """One connection with the incremental (inc), full-refresh (rebuilt) and earlier (before) warehouses."""
    assert rebuilt.incremental_ok, rebuilt.incremental_output[-4000:]
    assert rebuilt.full_ok, rebuilt.full_output[-4000:]
    con = duckdb.connect()
    con.execute(f"attach '{rebuilt.incremental.warehouse_path}' as inc (read_only)")
    con.execute(f"attach '{rebuilt.full.warehouse_path}' as rebuilt (read_only)")
    con.execute(f"attach '{rebuilt.before}' as before (read_only)")
    yield con
    con.close()


def _differences(
    con: duckdb.DuckDBPyConnection, left: str, right: str, where: str = "true"
) -> tuple[int, int]:
    def count(a: str, b: str) -> int:
        sql = (
            f"select count(*) from (select * from {a} where {where} "
            f"except all select * from {b} where {where})"
        )
        return con.execute(sql).fetchone()[0]

    return count(left, right), count(right, left)


def test_the_scenario_loads_and_builds_as_intended(rebuilt):
    statuses = sorted(rebuilt.load_statuses.values())
    assert statuses == ["loaded", "rejected"], rebuilt.load_statuses
    assert rebuilt.incremental_ok, rebuilt.incremental_output[-4000:]
    # The file-triggered build: models and their data tests, no seeds, no unit tests.
    results = json.loads(rebuilt.run_results.read_text(encoding="utf-8"))["results"]
    kinds = {result["unique_id"].split(".")[0] for result in results}
    assert kinds <= {"model", "test", "operation", "exposure"}, kinds
    assert {"model", "test"} <= kinds
    assert all(result["status"] in {"success", "pass", "no-op"} for result in results)
    # The staging views are not re-created (their SQL changes only with code, and code changes
    # mean a full build), but their data tests run on the new rows.
    ran = {result["unique_id"] for result in results}
    views = {"stg_raw__submissions", "stg_raw__file_ledger", "stg_raw__quarantine", "stg_raw__status_reports"}
    assert not {f"model.scorecard.{name}" for name in views} & ran
    view_tests = {uid.split(".")[2] for uid in ran if uid.startswith("test.")}
    assert {"column_rules_stg_raw__file_ledger", "column_rules_stg_raw__quarantine"} <= view_tests
    # Values and a refused file, no status report: the build of a values file, which leaves the
    # status-report chain as it was (warehouse/dbt.py, incremental_selector); the marts still
    # equal a full rebuild's (below).
    assert rebuilt.incremental_selector == "after_values"
    assert "model.scorecard.int_status_reports_carried_forward" not in ran
    assert "model.scorecard.fct_alerts" in ran


def test_incremental_build_gives_the_marts_of_a_full_rebuild(attached):
    marts = [
        row[0]
        for row in attached.execute(
            "select table_name from duckdb_tables() "
            "where database_name = 'rebuilt' and schema_name = 'marts' order by table_name"
        ).fetchall()
    ]
    assert len(marts) >= 15
    tables = [f"marts.{name}" for name in marts] + [
        t for t in INCREMENTAL_TABLES if not t.startswith("marts.")
    ]
    mismatched = {}
    for table in tables:
        columns_inc = attached.execute(f"describe inc.{table}").fetchall()
        columns_full = attached.execute(f"describe rebuilt.{table}").fetchall()
        assert columns_inc == columns_full, table
        diff = _differences(attached, f"inc.{table}", f"rebuilt.{table}")
        if diff != (0, 0):
            mismatched[table] = diff
    assert mismatched == {}


def test_the_resubmission_changed_the_department_and_nothing_else(attached, rebuilt):
    """Against the warehouse before the resubmission: the department's measures moved (values,
    a new period, vanished rows), every other department's rows are exactly as they were."""
    measures = "', '".join(sorted(rebuilt.resubmitted_measures))
    other = f"measure_code not in ('{measures}')"
    own = f"measure_code in ('{measures}')"
    for table in INCREMENTAL_TABLES:
        assert _differences(attached, f"before.{table}", f"inc.{table}", other) == (0, 0), table
    old, new = _differences(
        attached, "before.staging.stg_raw__submissions_latest", "inc.staging.stg_raw__submissions_latest", own
    )
    assert old > 0 and new > 0
    periods = attached.execute(
        "select count(*) from inc.staging.stg_raw__submissions_latest "
        f"where period = '{NEW_PERIOD}' and {own}"
    ).fetchone()[0]
    assert periods > 0
    # The anomaly screen reads the published year values (an annual value wins over the new
    # 2025-Q4 one): the department's were screened again and moved with its values.
    assert _differences(
        attached, "before.marts.fct_value_anomalies", "inc.marts.fct_value_anomalies", own
    ) != (0, 0)
    counts = attached.execute(
        f"select (select count(*) from before.staging.stg_raw__submissions_latest where {own}), "
        f"(select count(*) from inc.staging.stg_raw__submissions_latest where {own})"
    ).fetchone()
    # The retracted county's single-version rows are gone, the new period's rows are there.
    assert counts[0] != counts[1]


def test_incremental_build_recomputed_only_the_resubmitted_measures(attached, rebuilt):
    """Every incremental model records, per measure and year, the run that last recomputed it:
    after the file-triggered build only the resubmitted department's measures carry the new run,
    and only from the earliest year the scenario changed; the earlier years and the other
    departments' measures (also the one whose file was rejected) keep the session build's run."""
    owners = dict(
        attached.execute("select measure_code, department_code from rebuilt.reference.measures").fetchall()
    )
    columns = "model_name, measure_code, year, invocation_id, input_version"
    before = attached.execute(f"select {columns} from before.{STATE_TABLE}").fetchall()
    after = attached.execute(f"select {columns} from inc.{STATE_TABLE}").fetchall()
    old_runs = {row[3] for row in before}
    assert len(old_runs) == 1
    before_by_key = {(row[0], row[1], row[2]): row for row in before}
    recomputed: dict[str, set[str]] = {}
    years: dict[tuple[str, str], dict[bool, set[int]]] = {}  # (model, measure) -> kept? -> years
    for model, measure, year, run, version in after:
        kept = run in old_runs
        if kept:
            assert before_by_key[(model, measure, year)][4] == version
        else:
            recomputed.setdefault(model, set()).add(measure)
        years.setdefault((model, measure), {True: set(), False: set()})[kept].add(year)
    # ... and the index tables of the zones the measures feed (the others were left as they were)
    index_tables = {
        model for zone, model in _index_tables(attached).items() if zone in _fed_zones(attached, rebuilt)
    }
    assert set(recomputed) == {name.split(".")[1] for name in INCREMENTAL_TABLES + ZONE_TABLES} | index_tables
    for model, measures in recomputed.items():
        assert measures == set(rebuilt.resubmitted_measures), model
        assert {owners[m] for m in measures} == {DEPARTMENT}
    assert REJECTED_DEPARTMENT not in {owners[m] for ms in recomputed.values() for m in ms}
    # A measure was recomputed from its earliest changed year on, never before it: 2021 and 2022
    # stand as the session build left them; the earliest year recomputed is the retracted one.
    for (model, measure), by_kept in years.items():
        if measure in rebuilt.resubmitted_measures and model in recomputed:
            assert {2021, 2022} <= by_kept[True], (model, measure)
            assert max(by_kept[True]) < min(by_kept[False]), (model, measure)
    assert min(min(y[False]) for y in years.values() if y[False]) == RETRACTED_YEAR
    # Every model holds a version for every submitted measure and year, before and after.
    assert {key for key in before_by_key} == {(row[0], row[1], row[2]) for row in after}


# Stored in measure and year order (each model's select ends with it): a build after a file then
# deletes the changed measures' rows from few row groups, and DuckDB's checkpoint does not merge
# and rewrite the whole table (national: 0.33 s -> 0.01 s for the annualised values; bench/notes.md).
# Not the rows in force: raw-sized, their sort would cost a full build seconds, and their
# checkpoint costs the same either way. The period text stands for the year where it has none.
STORED_IN_MEASURE_ORDER = {
    table: "period" if table == "marts.fct_value_anomalies" else "year"
    for table in INCREMENTAL_TABLES
    if table != "staging.stg_raw__submissions_latest"
}


def test_per_measure_tables_keep_each_measure_and_year_together(attached):
    """In the session's full build and after the file-triggered build, the rows of each measure
    (zone, in a per-zone table) and year lie side by side (one unbroken run of row ids), so a
    build deletes them from one place; the rebuilt rows are appended in the same order."""
    scattered = {}
    stored_in_order = {
        **{table: ("measure_code", year) for table, year in STORED_IN_MEASURE_ORDER.items()},
        **{table: ("zone_code", "year") for table in ZONE_TABLES},
    }
    for database in ("before", "inc"):
        for table, (key_column, year_column) in stored_in_order.items():
            broken, groups = attached.execute(
                f"select count(*) filter (where span <> rows_held), count(*) from ("
                f"select {key_column}, {year_column}, max(rowid) - min(rowid) + 1 as span, "
                f"count(*) as rows_held from {database}.{table} group by all)"
            ).fetchone()
            assert groups > 0, (database, table)
            if broken:
                scattered[f"{database}.{table}"] = f"{broken} of {groups}"
    assert scattered == {}


def test_per_zone_tables_rebuilt_only_the_zones_and_years_the_file_fed(rebuilt, attached):
    """A per-zone table (the aggregated indices, the index changes) is rebuilt after a file for
    the zones whose dimensions score the file's measures, each from the earliest year its
    dimension scores were recomputed; the other zones' rows and the earlier years are left as they
    were. Its data tests read the same rows."""
    invocation = json.loads(rebuilt.run_results.read_text(encoding="utf-8"))["metadata"]["invocation_id"]
    fed = attached.execute(
        f"select d.zone_code, min(s.year) from inc.{STATE_TABLE} as s "
        "inner join rebuilt.reference.index_dimensions as d on s.measure_code = d.measure_code "
        "where s.model_name = 'int_dimension_scores_scored' and s.invocation_id = $1 "
        "and list_contains($2, s.measure_code) group by 1 order by 1",
        [invocation, sorted(rebuilt.resubmitted_measures)],
    ).fetchall()
    assert 0 < len(fed) < 5
    by_year: dict[int, list[str]] = {}
    for zone, year in fed:
        by_year.setdefault(year, []).append(f"'{zone}'")
    expected = {(", ".join(zones), str(year)) for year, zones in by_year.items()}
    left_alone = " and ".join(f"not (zone_code = '{zone}' and year >= {year})" for zone, year in fed)
    rebuild_filter = re.compile(r"zone_code in \(([^)]*)\) and year >= (\d+)")
    run_dir = rebuilt.run_results.parent / "run" / "scorecard" / "models"
    for table in ZONE_TABLES:
        schema, model = table.split(".")
        run_sql = (run_dir / schema / f"{model}.sql").read_text(encoding="utf-8")
        deleted = run_sql.split(";")[0]
        assert deleted.lstrip().startswith("delete from"), run_sql[:300]
        assert set(rebuild_filter.findall(deleted)) == expected, deleted
    # the index changes' tests (the aggregated indices' run in the full build only)
    _, rules_sql = _compiled_test(rebuilt, "column_rules_fct_index_score_changes")
    assert set(rebuild_filter.findall(rules_sql)) == expected, rules_sql
    for table in ZONE_TABLES:
        assert _differences(attached, f"before.{table}", f"inc.{table}", left_alone) == (0, 0), table
        assert _differences(attached, f"inc.{table}", f"rebuilt.{table}") == (0, 0), table


def _fed_zones(attached, rebuilt: Rebuilt) -> set[str]:
    """The zones whose dimensions score a resubmitted measure (seeds/index_dimensions.csv)."""
    return {
        zone
        for (zone,) in attached.execute(
            "select distinct zone_code from rebuilt.reference.index_dimensions "
            "where list_contains($1, measure_code)",
            [sorted(rebuilt.resubmitted_measures)],
        ).fetchall()
    }


def _index_tables(attached) -> dict[str, str]:
    """zone -> its index table (seeds/zones.csv)."""
    return dict(attached.execute("select zone_code, index_model from rebuilt.reference.zones").fetchall())


def test_index_tables_of_zones_the_file_did_not_feed_are_left_as_they_were(rebuilt, attached):
    """The index table of a zone (fct_index_<zone>) is rebuilt after a file when the file's
    measures feed that zone's dimensions; the others are left as they were, without a statement
    (macros/incremental/zone_tables.sql). All equal a full rebuild's."""
    fed = _fed_zones(attached, rebuilt)
    tables = _index_tables(attached)
    assert 0 < len(fed) < len(tables)
    messages = {
        r["unique_id"].split(".")[-1]: r["message"]
        for r in json.loads(rebuilt.run_results.read_text(encoding="utf-8"))["results"]
        if r["unique_id"].startswith("model.")
    }
    for zone, model in tables.items():
        kept = messages[model].startswith("kept")
        assert kept == (zone not in fed), (zone, messages[model])
        if kept:
            assert _differences(attached, f"before.marts.{model}", f"inc.marts.{model}") == (0, 0), model
        assert _differences(attached, f"inc.marts.{model}", f"rebuilt.marts.{model}") == (0, 0), model


RANK_INTERVALS = "intermediate.int_index_rank_intervals"
RANK_INTERVAL_COLUMNS = (
    "zone_code, region_code, region_level, year, draws, rank_median, rank_p05, rank_p95, input_fingerprint"
)


def test_incremental_build_redrew_only_the_rankings_whose_inputs_changed(attached):
    """The rank intervals (a Monte-Carlo over every scored value x draw) are incremental per
    ranking (zone x year; macros/incremental/rank_intervals.sql): the file-triggered build redraws
    rankings whose scored values changed, keeps every other ranking's rows as they were, and ends
    with the intervals of a full rebuild."""
    inc = f"(select {RANK_INTERVAL_COLUMNS} from inc.{RANK_INTERVALS})"
    full = f"(select {RANK_INTERVAL_COLUMNS} from rebuilt.{RANK_INTERVALS})"
    assert _differences(attached, inc, full) == (0, 0)
    (before_run,) = attached.execute(f"select distinct invocation_id from before.{RANK_INTERVALS}").fetchone()

    def rankings(where: str) -> set[tuple[str, int]]:
        sql = f"select distinct zone_code, year from inc.{RANK_INTERVALS} where {where}"
        return set(attached.execute(sql, [before_run]).fetchall())

    redrawn = rankings("invocation_id <> ?")
    kept = rankings("invocation_id = ?")
    assert redrawn and kept and not redrawn & kept
    # Redrawn only where a scored value changed (read from the dimension scores themselves).
    values = "zone_code, year, region_code, dimension_code, scored_value"
    scored = "intermediate.int_dimension_scores_scored where scored_value is not null"
    changed = set(
        attached.execute(
            f"select distinct zone_code, year from ("
            f"(select {values} from before.{scored} except select {values} from inc.{scored}) union all "
            f"(select {values} from inc.{scored} except select {values} from before.{scored}))"
        ).fetchall()
    )
    assert redrawn <= changed
    # The kept rankings' rows are the session build's rows.
    kept_rows = (
        f"concat_ws(':', zone_code, year) in (select concat_ws(':', zone_code, year) "
        f"from inc.{RANK_INTERVALS} where invocation_id = '{before_run}')"
    )
    assert _differences(attached, f"inc.{RANK_INTERVALS}", f"before.{RANK_INTERVALS}", kept_rows) == (0, 0)


def _run_hooks(run_results: Path) -> list[str]:
    """The compiled SQL of a build's on-run-start and on-run-end hooks, in order."""
    results = json.loads(run_results.read_text(encoding="utf-8"))["results"]
    return [r["compiled_code"].strip() for r in results if r["unique_id"].startswith("operation.scorecard.")]


def test_a_build_after_a_file_leaves_the_vacuum_to_the_next_full_build(rebuilt):
    """DuckDB's checkpoint merges the row groups a build's deletes left half empty (its vacuum):
    after one department's file most of the build's checkpoint, and a stall of both dbt threads
    (bench/notes.md, issue #22). A build after a file leaves that to the next full build, which
    rewrites every table (the first build of each day is one: warehouse/dbt.py, resolve_mode);
    a full build keeps DuckDB's default."""
    assert "set max_vacuum_tasks = 0" in _run_hooks(rebuilt.run_results)
    full_hooks = _run_hooks(rebuilt.run_results.parents[2] / "full" / "dbt-target" / "run_results.json")
    assert "reset max_vacuum_tasks" in full_hooks
    assert "set max_vacuum_tasks = 0" not in full_hooks


def _compiled_test(rebuilt: Rebuilt, prefix: str) -> tuple[str, str]:
    """(unique_id, compiled SQL) of the incremental build's test whose name starts with prefix."""
    results = json.loads(rebuilt.run_results.read_text(encoding="utf-8"))["results"]
    (result,) = [r for r in results if r["unique_id"].startswith(f"test.scorecard.{prefix}.")]
    return result["unique_id"], result["compiled_code"]


def test_tests_of_incremental_tables_check_only_the_rows_rebuilt(rebuilt, tmp_path):
    """After a submission the data tests of a per-measure incremental table read the rows it
    rebuilt in that build: the measures it recorded in the state table in that invocation, from
    the earliest year it recomputed (macros/incremental/generic_test_scope.sql), named in the
    test's SQL rather than looked up for every row; tests of other tables read all. Every key of
    such a table holds its period or year, so a duplicate of a rebuilt row is a rebuilt row too.
    A model's key is one of its column rules (macros/test_column_rules.sql, unique_key)."""
    _, rules_sql = _compiled_test(rebuilt, "column_rules_stg_raw__submissions_latest")
    _, ledger_rules_sql = _compiled_test(rebuilt, "column_rules_stg_raw__file_ledger")
    assert "incremental_measure_versions" not in rules_sql
    assert f"period_year >= {RETRACTED_YEAR}" in rules_sql
    assert "measure_code" not in ledger_rules_sql
    # Run the compiled test on a copy of the built warehouse with a duplicated latest value:
    # a duplicate in a rebuilt measure and year fails it; one in a year the build left alone, or
    # in a measure it left alone, does not.
    copy = tmp_path / rebuilt.incremental.warehouse_path.name  # same catalog name as compiled
    shutil.copyfile(rebuilt.incremental.warehouse_path, copy)
    resubmitted = sorted(rebuilt.resubmitted_measures)
    invocation = json.loads(rebuilt.run_results.read_text(encoding="utf-8"))["metadata"]["invocation_id"]
    with duckdb.connect(str(copy)) as con:
        other = con.execute(
            "select min(measure_code) from staging.stg_raw__submissions_latest where measure_code not in "
            "(select unnest($1::varchar[]))",
            [resubmitted],
        ).fetchone()[0]
        assert other is not None
        # the measure rebuilt from the earliest year (the retracted one), as the build recorded it
        measure, from_year = con.execute(
            f"select measure_code, min(year) from {STATE_TABLE} "
            "where model_name = 'stg_raw__submissions_latest' and invocation_id = $1 "
            "group by 1 order by 2, 1 limit 1",
            [invocation],
        ).fetchone()
        assert (measure in resubmitted, from_year) == (True, RETRACTED_YEAR)
        failing = {}
        cases = {
            "other measure": (other, from_year),
            "year left alone": (measure, from_year - 1),
            "rebuilt": (measure, from_year),
        }
        for case, (case_measure, year) in cases.items():
            assert con.execute(rules_sql).fetchall() == [], case
            inserted = con.execute(
                "insert into staging.stg_raw__submissions_latest "
                "select * from staging.stg_raw__submissions_latest "
                "where measure_code = $1 and period_year = $2 limit 1",
                [case_measure, year],
            ).fetchone()[0]
            assert inserted == 1, case
            failing[case] = con.execute(rules_sql).fetchall()
    assert failing == {
        "other measure": [],
        "year left alone": [],
        "rebuilt": [("unique_key", "measure_code, region_code, period", 1)],
    }


def test_a_reference_to_an_unknown_dimension_code_fails_the_marts_column_rules(rebuilt, tmp_path):
    """A mart's references to its dimensions are rules of its column_rules test
    (macros/test_column_rules.sql, relationships): a rebuilt row naming a region that dim_region
    does not hold fails it, counted as dbt's relationships test counts (nulls are not)."""
    _, rules_sql = _compiled_test(rebuilt, "column_rules_fct_indicator_progress")
    copy = tmp_path / rebuilt.incremental.warehouse_path.name
    shutil.copyfile(rebuilt.incremental.warehouse_path, copy)
    measure = sorted(rebuilt.resubmitted_measures)[0]
    with duckdb.connect(str(copy)) as con:
        assert con.execute(rules_sql).fetchall() == []
        con.execute(
            "insert into marts.fct_indicator_progress select * replace ('999999' as region_code) "
            "from marts.fct_indicator_progress where measure_code = $1 and year = 2025 limit 2",
            [measure],
        )
        failing = sorted(con.execute(rules_sql).fetchall())
    assert failing == [
        ("relationships", "region_code -> dim_region.region_code", 2),
        ("unique_key", "measure_code, region_code, period", 1),
    ]


def test_tests_of_alerts_also_check_the_alerts_rebuilt_in_every_build(rebuilt, tmp_path):
    """fct_alerts is incremental per measure and year for the alerts on progress, and rebuilds
    its other rows (deadline alerts, which have no measure, and milestone alerts: config
    rebuild_always) in every build; its tests read both: a duplicate milestone alert of a measure
    the build left alone fails its key test."""
    _, unique_sql = _compiled_test(rebuilt, "column_rules_fct_alerts")
    copy = tmp_path / rebuilt.incremental.warehouse_path.name
    shutil.copyfile(rebuilt.incremental.warehouse_path, copy)
    # a milestone alert of a measure the build did not recompute (the sample has no deadline alert)
    always = "alert_kind = 'milestone_missed' and measure_code not in (select unnest($1::varchar[]))"
    with duckdb.connect(str(copy)) as con:
        resubmitted = sorted(rebuilt.resubmitted_measures)
        count = f"select count(*) from marts.fct_alerts where {always}"
        assert con.execute(count, [resubmitted]).fetchone()[0]
        assert len(con.execute(unique_sql).fetchall()) == 0
        duplicate = f"insert into marts.fct_alerts select * from marts.fct_alerts where {always} limit 1"
        con.execute(duplicate, [resubmitted])
        assert len(con.execute(unique_sql).fetchall()) == 1


NEW_AS_OF = "2025-06-30"  # another year of "today": 2025 in progress, not over
AS_OF_MODELS = ["intermediate.int_indicator_progress_assessed", "marts.fct_indicator_progress"]
# the incremental models that read them, recomputed with them (through the recorded versions)
READ_AS_OF_MODELS = [
    "intermediate.int_dimension_scores_scored",
    "marts.fct_index_dimension_scores",
    "marts.fct_alerts",
    *ZONE_TABLES,
]


@pytest.fixture(scope="module")
def moved_clock(rebuilt, tmp_path_factory: pytest.TempPathFactory):
    """No new file, but the pipeline's "today" moved to another year: an incremental run and a
    full refresh (dbt run only: the data tests are not the point here) from the warehouse before
    the resubmission, attached as inc and rebuilt."""
    from warehouse.dbt import run_dbt

    tmp = tmp_path_factory.mktemp("dbt-as-of")
    homes = {}
    for name, args in (
        ("inc", ["run", "--selector", "after_submission"]),
        ("rebuilt", ["run", "--full-refresh"]),
    ):
        with pytest.MonkeyPatch.context() as monkeypatch:
            _settings(monkeypatch, tmp / f"{name}-home", tmp / name)
            monkeypatch.setenv("SCORECARD_AS_OF", NEW_AS_OF)
            settings = get_settings()
            shutil.copyfile(rebuilt.before, settings.warehouse_path)
            result = run_dbt(args, settings)
            assert result.ok, (result.stdout + result.stderr)[-4000:]
            homes[name] = settings.warehouse_path
    con = duckdb.connect()
    for name, path in homes.items():
        con.execute(f"attach '{path}' as {name} (read_only)")
    con.execute(f"attach '{rebuilt.before}' as before (read_only)")
    yield con
    con.close()


def test_a_new_year_of_as_of_recomputes_every_measure_of_the_progress_models(moved_clock):
    """year_status / progress_status depend on the year of as_of: when it moves, an incremental
    run recomputes every measure of the models that read it (and only of those), and gives the
    progress tables of a full refresh."""
    for table in AS_OF_MODELS:
        assert _differences(moved_clock, f"inc.{table}", f"rebuilt.{table}") == (0, 0), table
        assert _differences(moved_clock, f"before.{table}", f"inc.{table}") != (0, 0), table
    for table in READ_AS_OF_MODELS:
        assert _differences(moved_clock, f"inc.{table}", f"rebuilt.{table}") == (0, 0), table
    runs = dict(
        moved_clock.execute(
            f"select model_name, count(distinct invocation_id) from inc.{STATE_TABLE} group by model_name"
        ).fetchall()
    )
    before_run = moved_clock.execute(f"select any_value(invocation_id) from before.{STATE_TABLE}").fetchone()[
        0
    ]
    fresh = dict(
        moved_clock.execute(
            f"select model_name, bool_and(invocation_id <> ?) from inc.{STATE_TABLE} group by model_name",
            [before_run],
        ).fetchall()
    )
    for table in INCREMENTAL_TABLES + ZONE_TABLES:
        model = table.split(".")[1]
        assert runs[model] == 1, model
        assert fresh[model] == (table in AS_OF_MODELS + READ_AS_OF_MODELS), model
