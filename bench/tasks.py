"""The measured units of work, each run in a fresh child process by :mod:`bench.measure`.

    python -m bench.tasks TASK --out RESULT.json [options]

Each task times its own work with ``time.perf_counter`` (so interpreter start-up and imports are
not counted in throughput figures; the parent's wall time includes them) and writes its figures
as JSON to ``--out``. Settings come from the environment (``SCORECARD_HOME``,
``SCORECARD_DBT_PROJECT_DIR``, ...), which the runner sets per scale.

Tasks: ``loader``, ``loader-profile``, ``duckdb``, ``pandas``, ``ingest``, ``dbt``, ``gate``,
``limit-peer``, ``publish``, ``alerts``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

# The raw.submissions columns, for the peers' target table (same shape as the loader's).
SUBMISSION_COLUMNS = (
    "file_id BIGINT NOT NULL, row_ref VARCHAR NOT NULL, department_code VARCHAR NOT NULL, "
    "region_code VARCHAR NOT NULL, measure_code VARCHAR NOT NULL, period VARCHAR NOT NULL, "
    "value DOUBLE, numerator DOUBLE, denominator DOUBLE, unit_submitted VARCHAR, value_text VARCHAR, "
    "note VARCHAR, loaded_at TIMESTAMP NOT NULL"
)


def _write(out: Path, data: dict[str, Any]) -> None:
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


# --- ingest and its peers ------------------------------------------------------------------------------


def warm_imports() -> None:
    """Imports the loader makes on first use, outside the timed region like every other import:
    its vectorized fast path, and pyarrow's lazy import of pandas on the first array conversion
    (when pandas is installed; about 0.8 s here, paid once per process, not per file)."""
    import pyarrow as pa

    import ingest.fastpath  # noqa: F401

    pa.array(["warm"], pa.string())


def task_loader(args: argparse.Namespace) -> dict[str, Any]:
    """``ingest.loader.load_file`` on one file (a copy, so the original stays for the next run)."""
    from ingest.loader import load_file
    from scorecard.core.settings import get_settings

    settings = get_settings()
    settings.ensure_dirs()
    warm_imports()
    started = time.perf_counter()
    result = load_file(Path(args.file), department=args.department, settings=settings)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "status": result.status,
        "rows": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
        "bytes": result.size_bytes,
        "message": result.message,
    }


def task_loader_profile(args: argparse.Namespace) -> dict[str, Any]:
    """The loader under cProfile: the functions where the time goes (by own time and cumulative)."""
    from ingest.loader import load_file
    from scorecard.core.settings import get_settings

    settings = get_settings()
    settings.ensure_dirs()
    warm_imports()
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    result = load_file(Path(args.file), department=args.department, settings=settings)
    profile.disable()
    seconds = time.perf_counter() - started
    stats = pstats.Stats(profile, stream=io.StringIO())
    # the whole call: the largest cumulative time (load_file itself)
    total = max(entry[3] for entry in stats.stats.values())  # type: ignore[attr-defined]

    def top(key: int, count: int) -> list[dict[str, Any]]:
        rows = []
        entries = sorted(stats.stats.items(), key=lambda item: item[1][key], reverse=True)  # type: ignore[attr-defined]
        for (filename, line, name), (_, calls, tottime, cumtime, _) in entries:
            if "/ingest/" not in filename and key == 3:
                continue  # cumulative: our own functions only (not the call wrappers around them)
            rows.append(
                {
                    "function": f"{Path(filename).parent.name}/{Path(filename).name}:{line}({name})",
                    "calls": calls,
                    "own_s": round(tottime, 3),
                    "cumulative_s": round(cumtime, 3),
                    "cumulative_share": round(cumtime / total, 3) if total else None,
                }
            )
            if len(rows) >= count:
                break
        return rows

    return {
        "seconds_profiled": seconds,
        "profiled_total_s": total,
        "rows": result.rows_loaded,
        "status": result.status,
        "by_own_time": top(2, 15),
        "by_cumulative_time": top(3, 20),
    }


def task_duckdb(args: argparse.Namespace) -> dict[str, Any]:
    """Bare DuckDB: ``read_csv`` + ``INSERT`` into a table of raw.submissions' shape, one transaction."""
    import duckdb

    path = Path(args.file)
    database = Path(args.database)
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(database))
    con.execute("CREATE SCHEMA raw")
    con.execute(f"CREATE TABLE raw.submissions ({SUBMISSION_COLUMNS})")
    con.execute("BEGIN TRANSACTION")
    con.execute(
        f"""INSERT INTO raw.submissions
        SELECT 1, 'row ' || (row_number() OVER () + 1), $department, region_code, measure_code, period,
               coalesce(value, numerator / denominator), numerator, denominator, unit, CAST(value AS VARCHAR),
               note, now()::TIMESTAMP
        FROM read_csv('{path}', header = true,
                      types = {{'region_code': 'VARCHAR', 'period': 'VARCHAR', 'unit': 'VARCHAR',
                                'note': 'VARCHAR', 'value': 'DOUBLE', 'numerator': 'DOUBLE',
                                'denominator': 'DOUBLE'}})""",
        {"department": args.department},
    )
    con.execute("COMMIT")
    rows = con.execute("SELECT count(*) FROM raw.submissions").fetchone()[0]
    con.close()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows, "bytes": path.stat().st_size}


def task_pandas(args: argparse.Namespace) -> dict[str, Any]:
    """A plain pandas loader: ``read_csv``, basic cleaning (trim, numbers, known codes, period
    pattern, no duplicate keys), then ``INSERT ... SELECT * FROM df`` into DuckDB."""
    try:
        import pandas as pd
    except ImportError:
        return {"skipped": "pandas is not installed in .venv"}
    import duckdb

    from ingest.reference import load_reference
    from scorecard.core.settings import get_settings

    path = Path(args.file)
    database = Path(args.database)
    database.unlink(missing_ok=True)
    reference = load_reference(get_settings())
    started = time.perf_counter()
    frame = pd.read_csv(
        path, dtype={"region_code": str, "measure_code": str, "period": str, "unit": str, "note": str}
    )
    for column in ("region_code", "measure_code", "period"):
        frame[column] = frame[column].str.strip()
    for column in ("value", "numerator", "denominator"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["value"] = frame["value"].fillna(frame["numerator"] / frame["denominator"])
    valid = (
        frame["region_code"].isin(set(reference.regions))
        & frame["measure_code"].isin(set(reference.measures))
        & frame["period"].str.fullmatch(r"\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?")
        & frame["value"].ge(0)
    )
    keys = ["region_code", "measure_code", "period"]
    valid &= ~frame.duplicated(keys, keep=False)
    clean = frame[valid]
    out = pd.DataFrame(
        {
            "file_id": 1,
            "row_ref": "row " + (clean.index + 2).astype(str),
            "department_code": args.department,
            "region_code": clean["region_code"],
            "measure_code": clean["measure_code"],
            "period": clean["period"],
            "value": clean["value"],
            "numerator": clean["numerator"],
            "denominator": clean["denominator"],
            "unit_submitted": clean["unit"],
            "value_text": clean["value"].astype(str),
            "note": clean["note"],
            "loaded_at": pd.Timestamp.now(),
        }
    )
    con = duckdb.connect(str(database))
    con.execute("CREATE SCHEMA raw")
    con.execute(f"CREATE TABLE raw.submissions ({SUBMISSION_COLUMNS})")
    con.register("incoming", out)
    con.execute("INSERT INTO raw.submissions SELECT * FROM incoming")
    rows = con.execute("SELECT count(*) FROM raw.submissions").fetchone()[0]
    con.close()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": rows,
        "rows_rejected": int((~valid).sum()),
        "bytes": path.stat().st_size,
    }


# --- pipeline stages -----------------------------------------------------------------------------------


def task_ingest(args: argparse.Namespace) -> dict[str, Any]:
    """The ingest stage: ``load_paths`` on folders (department from each file's sub-folder)."""
    from ingest.loader import load_paths
    from scorecard.core.settings import get_settings

    settings = get_settings()
    started = time.perf_counter()
    results = load_paths(args.paths, settings=settings)
    seconds = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for result in results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    problems = [f"{r.file_name}: {r.message}" for r in results if r.status not in {"loaded", "duplicate"}]
    return {
        "seconds": seconds,
        "files": len(results),
        "statuses": statuses,
        "rows": sum(r.rows_loaded for r in results),
        "rows_rejected": sum(r.rows_rejected for r in results),
        "bytes": sum(r.size_bytes for r in results),
        "problems": problems[:5],
    }


def task_dbt(args: argparse.Namespace) -> dict[str, Any]:
    """``dbt build`` in ``--mode`` (optionally ``--select``) as the pipeline runs it; the slowest
    nodes and dbt's own elapsed time from run_results.json."""
    from bench import stage_split
    from scorecard.core.settings import get_settings
    from warehouse.dbt import dbt_build, read_run_results, run_results_path

    settings = get_settings()
    results_file = run_results_path(settings)
    results_file.unlink(missing_ok=True)
    started = time.perf_counter()
    result = dbt_build(settings, select=args.select or None, mode=args.mode)
    seconds = time.perf_counter() - started
    by_status, failures = read_run_results(results_file)
    slowest: list[dict[str, Any]] = []
    dbt_elapsed = None
    if results_file.exists():
        data = json.loads(results_file.read_text(encoding="utf-8"))
        dbt_elapsed = data.get("elapsed_time")
        nodes = sorted(data.get("results", []), key=lambda r: r.get("execution_time") or 0, reverse=True)
        slowest = [
            {"node": node.get("unique_id"), "seconds": round(node.get("execution_time") or 0, 3)}
            for node in nodes[:10]
        ]
    return {
        "seconds": seconds,
        "ok": result.ok,
        "returncode": result.returncode,
        "mode": result.mode,
        "nodes": dict(by_status),
        "failures": failures[:10],
        "dbt_elapsed_s": dbt_elapsed,
        "via": result.via,
        # the file-triggered build's selector (warehouse/dbt.py, incremental_selector); None when full
        "selector": result.selector,
        # a build in the warm worker runs in the worker's child, not under this process
        "dbt_max_rss_kib": result.max_rss_kib,
        "slowest_nodes": slowest,
        # where the time went: start-up, per node type compile / execute / bookkeeping
        "stage_split": stage_split.read(results_file, wall_seconds=seconds),
        "tail": (result.stdout.strip().splitlines() or [""])[-1][-200:],
    }


def task_warm_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Have the configured dbt worker parse the project for both kinds of build (full, on the
    shadow copy; incremental, in place): the "dbt worker: parse" stage times both parses."""
    from scorecard.core.settings import get_settings
    from warehouse.dbt import warm_worker

    started = time.perf_counter()
    ok = warm_worker(get_settings())
    if not ok:
        raise SystemExit("no dbt worker answered (SCORECARD_DBT_WORKER)")
    return {"seconds": time.perf_counter() - started, "ok": ok}


def task_limit_peer(args: argparse.Namespace) -> dict[str, Any]:
    """The limit peer (bench/limit_peer.sql) on the warehouse the build just wrote: the same
    values as fct_indicator_progress in one hand-written script, the warehouse read-only."""
    from bench import limit_peer
    from scorecard.core.settings import get_settings

    settings = get_settings()
    as_of = os.environ.get("SCORECARD_AS_OF") or time.strftime("%Y-%m-%d")
    result = limit_peer.run(settings.warehouse_path, settings.seeds_dir, as_of)
    result.connection.close()
    return {"seconds": result.seconds, "rows": result.rows, "ok": result.rows > 0}


def task_gate(args: argparse.Namespace) -> dict[str, Any]:
    """The quality gate (Soda contracts); its result is saved for the publish task."""
    from quality.gate import run_gate
    from scorecard.core.settings import get_settings

    settings = get_settings()
    started = time.perf_counter()
    gate = run_gate(settings)
    seconds = time.perf_counter() - started
    Path(args.gate_file).write_text(json.dumps(gate.to_dict(), default=str), encoding="utf-8")
    return {
        "seconds": seconds,
        "ok": gate.ok,
        "counts": gate.counts(),
        "failures": [f"{r.dataset}: {r.check}" for r in gate.failures[:10]],
        "flagged_values": len(gate.anomalies),
    }


def task_publish(args: argparse.Namespace) -> dict[str, Any]:
    """Publication after the gate. When the gate failed for a benchmark-only reason (e.g. 9-digit
    township codes against the 6-digit contract), ``--force`` publishes anyway to measure the cost.
    The report and workbook are rendered from the release as orchestration does (reports.release)."""
    from quality.gate import GateResult
    from reports.release import render_release
    from scorecard.core.ids import new_run_id
    from scorecard.core.settings import get_settings
    from warehouse import publish as publication

    settings = get_settings()
    gate = GateResult.from_dict(json.loads(Path(args.gate_file).read_text(encoding="utf-8")))
    forced = False
    started = time.perf_counter()
    if gate.ok or not args.force:
        result = publication.publish(settings, gate=gate)
    else:
        forced = True
        settings.publish.mkdir(parents=True, exist_ok=True)
        result = publication._publish_locked(settings, gate, new_run_id())
    if result.published:
        render_release(settings, result.release)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "published": result.published, "reason": result.reason, "forced": forced}


def task_alerts(args: argparse.Namespace) -> dict[str, Any]:
    """Alert delivery (the pipeline's last step)."""
    from alerts.engine import deliver_alerts
    from scorecard.core.settings import get_settings

    started = time.perf_counter()
    report = deliver_alerts(get_settings())
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "ok": report.ok,
        "alerts": report.changes,
        "messages": sum(c.messages for c in report.channels.values()),
    }


TASKS = {
    "loader": task_loader,
    "loader-profile": task_loader_profile,
    "duckdb": task_duckdb,
    "pandas": task_pandas,
    "ingest": task_ingest,
    "dbt": task_dbt,
    "warm-worker": task_warm_worker,
    "limit-peer": task_limit_peer,
    "gate": task_gate,
    "publish": task_publish,
    "alerts": task_alerts,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tasks", description=__doc__)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--file")
    parser.add_argument("--department")
    parser.add_argument("--database")
    parser.add_argument("--select")
    parser.add_argument("--mode", default="full", choices=("full", "incremental", "auto"))
    parser.add_argument("--gate-file")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--path", dest="paths", action="append", default=[])
    args = parser.parse_args(argv)
    data = TASKS[args.task](args)
    _write(args.out, data)
    return 0 if data.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
