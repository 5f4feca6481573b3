"""``make bench`` / ``python -m bench.run [--full] [--only NAME] [--months N]``.

Runs the benchmarks, each figure beside its peer measured in the same run on the same machine,
writes ``bench/results/<name>.json`` (``<name>-full.json`` with ``--full``, ``<name>-custom.json``
for quick sizes cut down by ``--scales`` / ``--months``) and regenerates
``docs/benchmarks.md`` from every result file
(:mod:`bench.report`).

Benchmarks (``--only`` takes any of them; default: all):

``ingest``
    ``ingest.loader.load_file`` on one large long CSV, beside a bare DuckDB ``read_csv`` + ``INSERT``
    of the same file into a table of the same shape, and beside a plain pandas loader; plus the
    ``scorecard ingest`` CLI's wall time and a cProfile of the loader (the hot spots).
``dbt``
    Per scale (province, township, national): generate files, ingest them, ``dbt build`` (with its
    stage split from run_results.json, :mod:`bench.stage_split`), the limit peer
    (:mod:`bench.limit_peer`: the same values in one hand-written DuckDB script), gate,
    publish, alerts, each in a fresh child with its peak memory; then one department's
    resubmission, the incremental rebuild the pipeline runs after it (``dbt build --selector
    after_submission``: incremental models recompute that department only) beside a full rebuild
    (``--full-refresh``) of the same state; then the same pair through a warm dbt worker
    (``warehouse.dbt_worker``), three times, each after another correction (the median round
    stands for it).
``airflow``
    :mod:`bench.airflow_latency`: 10 drops into the inbox under ``airflow standalone``, file
    landing to published snapshot, p50/p95 and per stage.
``demo``
    :mod:`bench.demo_probe`: ``make demo`` on a fresh ``git clone`` of the commit measured
    (``make install`` timed apart), judged on the demo's own total and drop-to-publication
    seconds. The demo runs at one size (the sample set); ``--full`` does not change it.

Quick sizes (default; ~12-23 minutes on an idle 2-core machine: ~6.5-11 for the Airflow run,
~5-11 for dbt at three scales, most of it publication; the demo probe adds a fresh clone's
``make install`` and one ``make demo``: 4 minutes at load average 9-12, 50 s and 189 s of it): the
ingest comparison on one
department's province-scale file (70,200 rows, 60 monthly periods), the dbt benchmark at the
three scales with 5 periods (December of each programme year). ``--full``: the ingest comparison
on a township-scale file (1.06 M rows, 38 MB), the dbt benchmark with 60 monthly periods
(national: 8.75 M rows, ~5-12 minutes for that scale alone). ``--months`` / ``--scales`` override.
All runtime state goes under ``--work`` (default: a fresh ``$TMPDIR/scorecard-bench-*``, removed
afterwards), each scale with its own ``SCORECARD_HOME`` and dbt target/log paths, never ``var/``.

At the end every goal of issue #22 is printed with its verdict from this run's figures
(:mod:`bench.goals`: met / not met / not measured at this size), the limit peer beside the
build per scale, and the stage split.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import goals
from bench import scale as scales
from bench.measure import Measured, load_average, machine, run_measured, run_task
from scorecard.core.settings import REPO_ROOT
from warehouse import dbt_worker

RESULTS_DIR = REPO_ROOT / "bench" / "results"
AS_OF = "2026-01-15"
INGEST_DEPARTMENT = "elderly_care"  # the department with the most value measures (13)
RESUBMITTING_DEPARTMENT = "community_governance"
# What the pipeline builds after a submission (warehouse.dbt, mode "incremental").
INCREMENTAL_SELECTOR = "after_submission"
# The warm worker's incremental and full builds, repeated (bench_worker_rebuilds).
WORKER_ROUNDS = 3


@dataclass(frozen=True)
class Sizes:
    """What ``--full`` changes."""

    label: str
    ingest_scale: str
    ingest_months: int
    ingest_repeats: int
    scales: tuple[str, ...]
    months: int  # monthly periods per scale; 0: December of every programme year (5 periods)

    def periods(self) -> list[str]:
        return scales.monthly_periods(self.months) if self.months else scales.year_end_periods()


QUICK = Sizes("quick", "province", 60, 3, ("province", "township", "national"), 0)
FULL = Sizes("full", "township", 60, 2, ("province", "township", "national"), 60)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def base_env(home: Path, project: Path, work: Path) -> dict[str, str]:
    """The environment of every child: its own SCORECARD_HOME, the scale's dbt project, dbt's
    target and logs in the work folder, the pipeline clock fixed, no file size limit."""
    env = dict(os.environ)
    env.update(
        SCORECARD_HOME=str(home),
        SCORECARD_DBT_PROJECT_DIR=str(project),
        DBT_TARGET_PATH=str(work / "dbt" / "target"),
        DBT_LOG_PATH=str(work / "dbt" / "logs"),
        SCORECARD_AS_OF=AS_OF,
        SCORECARD_MAX_FILE_BYTES=str(10**12),
        SODA_CORE_TELEMETRY_ENABLED="false",
        DO_NOT_TRACK="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    env.pop("SCORECARD_WAREHOUSE", None)
    return env


def _stage(measured: Measured, **extra: Any) -> dict[str, Any]:
    data = measured.summary()
    data.update(extra)
    return data


def _rate(rows: int, size: int, seconds: float) -> dict[str, float]:
    return {
        "rows_per_s": round(rows / seconds, 1) if seconds > 0 else 0.0,
        "mb_per_s": round(size / 1e6 / seconds, 3) if seconds > 0 else 0.0,
    }


# --- ingest -------------------------------------------------------------------------------------------


PROFILE_MAX_ROWS = 250_000  # cProfile slows the loader ~2-3x: profile a slice of a large file


def _head(path: Path, dest: Path, rows: int) -> Path:
    """``path`` itself when it has at most ``rows`` data rows, else its first ``rows`` rows."""
    with path.open(encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(rows + 2), handle, strict=False)]
    if len(lines) <= rows + 1:
        return path
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("".join(lines[: rows + 1]), encoding="utf-8")
    return dest


def bench_ingest(sizes: Sizes, work: Path) -> dict[str, Any]:
    """Loader vs bare DuckDB vs pandas on one large long CSV (one department, every period)."""
    scale = scales.SCALES[sizes.ingest_scale]
    root = work / "ingest"
    project = scales.write_bench_project(scale, root / "dbt_project")
    files = scales.write_long_files(
        project,
        root / "files",
        scales.monthly_periods(sizes.ingest_months),
        split="department",
        departments=[INGEST_DEPARTMENT],
    )
    (csv_path,) = files.files
    size = csv_path.stat().st_size
    say(f"ingest: {csv_path.name}: {files.rows:,} rows, {size / 1e6:.1f} MB ({scale.name} scale)")
    runs: dict[str, list[dict[str, Any]]] = {"loader": [], "duckdb": [], "pandas": [], "cli": []}
    for repeat in range(sizes.ingest_repeats):
        for peer in ("loader", "duckdb", "pandas", "cli"):
            home = root / f"home-{peer}-{repeat}"
            shutil.rmtree(home, ignore_errors=True)
            env = base_env(home, project, root)
            load = load_average()
            if peer == "cli":
                argv = [str(Path(sys.executable).with_name("scorecard")), "ingest", str(csv_path)]
                measured = run_measured([*argv, "--department", INGEST_DEPARTMENT], env, cwd=REPO_ROOT)
                seconds = measured.seconds
                rows = files.rows if measured.ok else 0
            else:
                args = ["--file", str(csv_path), "--department", INGEST_DEPARTMENT]
                args += ["--database", str(home / "peer.duckdb")]
                home.mkdir(parents=True, exist_ok=True)
                measured = run_task(peer, args, env, root)
                if measured.payload.get("skipped"):
                    runs[peer].append({"skipped": measured.payload["skipped"]})
                    continue
                seconds = float(measured.payload.get("seconds") or 0)
                rows = int(measured.payload.get("rows") or 0)
            entry = _stage(measured, rows=rows, seconds_inside=round(seconds, 3), load_average=load)
            entry.update(_rate(rows, size, seconds))
            runs[peer].append(entry)
            say(f"  {peer:<7} run {repeat + 1}: {seconds:.2f} s, {rows:,} rows, peak {measured.peak_mib} MiB")
            shutil.rmtree(home, ignore_errors=True)
    profile_path = _head(csv_path, root / "profile" / csv_path.name, PROFILE_MAX_ROWS)
    say(f"  loader under cProfile ({profile_path.name})")
    home = root / "home-profile"
    env = base_env(home, project, root)
    profile = run_task(
        "loader-profile", ["--file", str(profile_path), "--department", INGEST_DEPARTMENT], env, root
    )
    shutil.rmtree(home, ignore_errors=True)

    def best(peer: str) -> dict[str, Any] | None:
        done = [run for run in runs[peer] if "skipped" not in run and run.get("returncode") == 0]
        return min(done, key=lambda run: run["seconds_inside"]) if done else None

    loader, duck, pandas, cli = best("loader"), best("duckdb"), best("pandas"), best("cli")
    figures: dict[str, Any] = {
        "file": {"name": csv_path.name, "rows": files.rows, "bytes": size, "scale": scale.name},
        "loader": loader,
        "duckdb": duck,
        "pandas": pandas or (runs["pandas"][0] if runs["pandas"] else None),
        "cli": cli,
        "runs": runs,
        "profile": profile.payload | {"file": profile_path.name},
    }
    if loader and duck:
        figures["loader_vs_duckdb"] = round(loader["rows_per_s"] / duck["rows_per_s"], 4)
        figures["goal_loader_vs_duckdb"] = {"target": ">= 0.5", "met": figures["loader_vs_duckdb"] >= 0.5}
    if loader and pandas:
        figures["loader_vs_pandas"] = round(loader["rows_per_s"] / pandas["rows_per_s"], 4)
        figures["goal_loader_vs_pandas"] = {"target": "> 1 (faster)", "met": figures["loader_vs_pandas"] > 1}
    else:
        figures["goal_loader_vs_pandas"] = {
            "target": "> 1 (faster)",
            "met": None,
            "note": "pandas not installed",
        }
    return figures


# --- dbt per scale, stages, incremental ---------------------------------------------------------------


def _measure_stage(
    name: str, task: str, args: list[str], env: dict[str, str], work: Path, **extra: Any
) -> dict[str, Any]:
    load = load_average()
    measured = run_task(task, args, env, work)
    entry = _stage(measured, stage=name, load_average=load, **extra)
    entry["figures"] = measured.payload
    child_kib = (measured.payload or {}).get("dbt_max_rss_kib")
    if child_kib:  # a build in the dbt worker ran in the worker's child, not under the task
        entry["peak_mib"] = max(entry["peak_mib"], round(child_kib / 1024, 1))
    ok = "ok" if measured.ok else f"FAILED rc {measured.returncode}"
    say(f"  {name:<18} {measured.seconds:7.1f} s  peak {measured.peak_mib:7.1f} MiB  {ok}")
    if not measured.ok and not measured.payload:
        say("    " + " | ".join(measured.stderr.strip().splitlines()[-3:]))
    return entry


def _say_limit_and_split(stages: list[dict[str, Any]]) -> None:
    """The cold build beside the limit peer, and where the build's time went."""
    build_s, peer_s, ratio = goals.peer_ratio({"stages": stages})
    if ratio is not None:
        say(f"  build / limit peer: {build_s:.1f} s / {peer_s:.2f} s = {ratio}x")
    build = next(stage for stage in stages if stage["stage"] == "dbt build (cold)")
    split = (build.get("figures") or {}).get("stage_split")
    if split:
        parts = ", ".join(
            f"{group['nodes']} {name}s {group['seconds']:.1f} s" for name, group in split["by_type"].items()
        )
        say(
            f"  stage split: start-up {split.get('startup_s')} s, between nodes {split['scheduling_s']} s, "
            f"{parts} (mean {split['mean_node_s']} s per node, {split.get('concurrency')} at once)"
        )


def bench_scale(name: str, sizes: Sizes, work: Path) -> dict[str, Any]:
    scale = scales.SCALES[name]
    root = work / "dbt" / name
    shutil.rmtree(root, ignore_errors=True)
    project = scales.write_bench_project(scale, root / "dbt_project")
    periods = sizes.periods()
    started = time.perf_counter()
    files = scales.write_long_files(project, root / "files", periods)
    generated = time.perf_counter() - started
    say(
        f"scale {name}: {files.leaves:,} leaf regions x {len(periods)} months: {len(files.files)} files, "
        f"{files.rows:,} rows, {files.bytes / 1e6:.1f} MB (generated in {generated:.1f} s)"
    )
    home = root / "home"
    env = base_env(home, project, root)
    gate_file = root / "gate.json"
    stages = [
        _measure_stage("ingest", "ingest", ["--path", str(files.root)], env, root),
        _measure_stage("dbt build (cold)", "dbt", ["--mode", "full"], env, root),
        _measure_stage("limit peer", "limit-peer", [], env, root),
        _measure_stage("gate", "gate", ["--gate-file", str(gate_file)], env, root),
        _measure_stage("publish", "publish", ["--gate-file", str(gate_file), "--force"], env, root),
        _measure_stage("alerts", "alerts", [], env, root),
    ]
    _say_limit_and_split(stages)
    # One department's resubmission: ingest it, then the incremental rebuild, then a full one.
    inbox = root / "resubmission"
    resubmitted = scales.resubmission(files, RESUBMITTING_DEPARTMENT, inbox)
    incremental = [
        _measure_stage(
            "ingest resubmission", "ingest", ["--path", str(inbox)], env, root, file=resubmitted.name
        ),
        _measure_stage("dbt build (incremental)", "dbt", ["--mode", "incremental"], env, root),
        _measure_stage("dbt build (full)", "dbt", ["--mode", "full"], env, root),
    ]
    rebuilt, full = incremental[1], incremental[2]
    ratio = round(rebuilt["seconds"] / full["seconds"], 3) if full["seconds"] else None
    warm = bench_worker_rebuilds(files, env, root)
    shutil.rmtree(root / "files", ignore_errors=True)
    return {
        "scale": name,
        "description": scale.description,
        "leaf_regions": files.leaves,
        "periods": len(periods),
        "files": len(files.files),
        "rows": files.rows,
        "bytes": files.bytes,
        "generate_seconds": round(generated, 2),
        "stages": stages,
        "incremental": {
            "department": RESUBMITTING_DEPARTMENT,
            # the selector the build chose (a values file: after_values), as the pipeline would
            "selector": (rebuilt.get("figures") or {}).get("selector") or INCREMENTAL_SELECTOR,
            "stages": incremental,
            "incremental_vs_full": ratio,
            "goal": {"target": "<= 0.25", "met": ratio is not None and ratio <= 0.25},
        },
        "worker": warm,
    }


def bench_worker_rebuilds(files: scales.FileSet, env: dict[str, str], root: Path) -> dict[str, Any]:
    """The same pair of rebuilds through a warm dbt worker (warehouse.dbt_worker: dbt imported and
    the project parsed once, each build in a forked child), as a deployment that runs
    ``scorecard dbt-worker`` beside Airflow builds: another correction of the same department's
    file, the incremental rebuild after it, then a full rebuild; ``WORKER_ROUNDS`` times, each with
    a correction of its own. The round whose ratio is the median stands for the pair
    (``goals.median_round``): one build after a file swings by more than the goal's margin."""
    socket_path = root / "dbt-worker.sock"
    env = {**env, "SCORECARD_DBT_WORKER": str(socket_path)}
    worker = dbt_worker.WorkerProcess(socket_path, env=env, log_path=root / "dbt-worker.log")
    try:
        worker.start()
    except RuntimeError as exc:
        return {"error": str(exc)[-500:]}
    try:
        stages = [_measure_stage("dbt worker: parse", "warm-worker", [], env, root)]
        rounds = []
        for number in range(1, WORKER_ROUNDS + 1):
            suffix = goals.worker_round_suffix(number)
            inbox = root / f"resubmission-{number + 1}"
            file = scales.resubmission(files, RESUBMITTING_DEPARTMENT, inbox, round_=number + 1).name
            ingest = ["--path", str(inbox)]
            pair = [
                _measure_stage(f"ingest resubmission{suffix}", "ingest", ingest, env, root, file=file),
                *(
                    _measure_stage(f"dbt build ({mode}{suffix})", "dbt", ["--mode", mode], env, root)
                    for mode in ("incremental", "full")
                ),
            ]
            stages += pair
            rounds.append({"incremental_s": pair[1]["seconds"], "full_s": pair[2]["seconds"]})
        resident_mib = worker.resident_mib()
    finally:
        worker.stop()
    median = goals.median_round(rounds)
    ratios = [round(r["incremental_s"] / r["full_s"], 3) for r in rounds]
    say(f"  warm worker rounds: incremental / full {ratios}, median {ratios[median]}")
    return {
        "department": RESUBMITTING_DEPARTMENT,
        "stages": stages,
        "rounds": [{**r, "ratio": ratio} for r, ratio in zip(rounds, ratios, strict=True)],
        # the stages of this round are the pair the report shows (goals.worker_round_suffix)
        "median_round": median + 1,
        "worker_resident_mib": resident_mib,
        "incremental_vs_full": ratios[median],
        "goal": {"target": "<= 0.25", "met": ratios[median] <= 0.25},
    }


def bench_dbt(sizes: Sizes, work: Path) -> dict[str, Any]:
    results = [bench_scale(name, sizes, work) for name in sizes.scales]
    by_scale = {result["scale"]: result for result in results}
    growth = []
    base = by_scale.get("province")
    for result in results:
        build = next(stage for stage in result["stages"] if stage["stage"].startswith("dbt build"))
        warm = result["incremental"]["stages"][2]
        growth.append(
            {
                "scale": result["scale"],
                "rows": result["rows"],
                "build_seconds_cold": build["seconds"],
                "build_seconds_warm": warm["seconds"],
                "build_peak_mib": max(build["peak_mib"], warm["peak_mib"]),
            }
        )
    if base:
        base_row = growth[0]
        for row in growth:
            row["rows_x"] = round(row["rows"] / base_row["rows"], 2)
            row["time_x"] = round(row["build_seconds_warm"] / base_row["build_seconds_warm"], 2)
    national = next((row for row in growth if row["scale"] == "national"), None)
    goals = {
        "national_under_2_gib": {
            "target": "dbt build peak < 2048 MiB at national county level",
            "met": national is not None and national["build_peak_mib"] < 2048,
            "value_mib": national["build_peak_mib"] if national else None,
        },
        "near_linear": {
            "target": "build time grows no faster than the rows (time_x <= rows_x)",
            # needs the province baseline and another scale to compare with
            "met": (
                all(row.get("time_x", 0) <= max(1.0, row.get("rows_x", 1)) * 1.1 for row in growth)
                if base and len(growth) > 1
                else None
            ),
        },
    }
    selectors = [result["incremental"]["selector"] for result in results if "incremental" in result]
    selector = selectors[0] if selectors else INCREMENTAL_SELECTOR
    return {"scales": results, "growth": growth, "goals": goals, "incremental_selector": selector}


# --- airflow ------------------------------------------------------------------------------------------


def bench_airflow(sizes: Sizes, work: Path) -> dict[str, Any]:
    from bench import airflow_latency

    return airflow_latency.run(work / "airflow", drops=10)


def bench_demo(sizes: Sizes, work: Path) -> dict[str, Any]:
    from bench import demo_probe

    return demo_probe.run(work / "demo")


BENCHMARKS: dict[str, Callable[[Sizes, Path], dict[str, Any]]] = {
    "ingest": bench_ingest,
    "dbt": bench_dbt,
    "airflow": bench_airflow,
    "demo": bench_demo,
}


def result_name(name: str, sizes: Sizes) -> str:
    """``<name>`` for the quick sizes, ``<name>-full`` for the full ones (both kept), and
    ``<name>-custom`` for quick sizes cut down by ``--scales`` / ``--months``, so that a partial
    run never replaces the figures of a whole ``make bench``."""
    if sizes.label.startswith("full"):
        return f"{name}-full"
    return name if sizes.label == "quick" else f"{name}-custom"


def write_result(
    name: str,
    sizes: Sizes,
    figures: dict[str, Any],
    info: dict[str, Any],
    seconds: float,
    results_dir: Path = RESULTS_DIR,
) -> Path:
    """``<results_dir>/<name>.json``: the figures with the machine, the load and the sizes."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{result_name(name, sizes)}.json"
    document = {
        "benchmark": name,
        "sizes": sizes.label,
        "machine": info,
        "load_average_at_end": load_average(),
        "seconds": round(seconds, 1),
        "figures": figures,
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="full sizes (slow)")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--months", type=int, help="monthly periods per scale for the dbt benchmark")
    parser.add_argument("--scales", help="comma-separated scales for the dbt benchmark")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--no-report", action="store_true", help="do not regenerate docs/benchmarks.md")
    args = parser.parse_args(argv)
    sizes = FULL if args.full else QUICK
    if args.months is not None or args.scales:
        sizes = Sizes(
            f"{sizes.label}+custom",
            sizes.ingest_scale,
            sizes.ingest_months,
            sizes.ingest_repeats,
            tuple(args.scales.split(",")) if args.scales else sizes.scales,
            args.months if args.months is not None else sizes.months,
        )
    work = args.work or Path(tempfile.mkdtemp(prefix="scorecard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say(f"sizes: {sizes.label}; work folder {work}; load {load_average()}")
    status = 0
    measured: dict[str, dict[str, Any]] = {}
    try:
        for name in args.only or list(BENCHMARKS):
            info = machine()
            started = time.perf_counter()
            try:
                figures = BENCHMARKS[name](sizes, work)
            except Exception as exc:  # a benchmark that cannot run is reported, not hidden
                say(f"{name}: FAILED: {type(exc).__name__}: {exc}")
                figures = {"error": f"{type(exc).__name__}: {exc}"}
                status = 1
            measured[name] = figures
            path = write_result(name, sizes, figures, info, time.perf_counter() - started)
            say(f"{name}: wrote {path.relative_to(REPO_ROOT)}")
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    say(f"goals of issue #22 ({sizes.label} sizes, this run; load {load_average()}):")
    for line in goals.lines(
        goals.evaluate(measured.get("dbt"), measured.get("airflow"), measured.get("demo"))
    ):
        print(line, flush=True)
    for line in [*goals.peer_lines(measured.get("dbt")), "", *goals.split_lines(measured.get("dbt"))]:
        print(line, flush=True)
    if not args.no_report:
        from bench import report

        say(f"wrote {report.write_report().relative_to(REPO_ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
