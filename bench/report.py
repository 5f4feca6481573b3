"""Regenerate ``docs/benchmarks.md`` from ``bench/results/*.json``.

    python -m bench.report

One table per benchmark: each figure beside its peer and its goal (met or not), the machine, the
date and the load average while it ran (the machine is shared: a high load means noisy figures).
The hand-written analysis (hot spots and what to change) lives in ``bench/notes.md`` and is
appended verbatim, so that regenerating the tables never loses it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench import goals as issue_goals
from scorecard.core.settings import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "bench" / "results"
NOTES = REPO_ROOT / "bench" / "notes.md"
DOC = REPO_ROOT / "docs" / "benchmarks.md"


def _met(goal: dict[str, Any] | None) -> str:
    if not goal:
        return "-"
    met = goal.get("met")
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _machine(document: dict[str, Any]) -> str:
    m = document.get("machine", {})
    return (
        f"{m.get('date', '?')} · {m.get('cores', '?')} cores ({m.get('cpu_model', '?')}), "
        f"{m.get('memory_gib', '?')} GiB · Python {m.get('python')}, DuckDB {m.get('duckdb')}, "
        f"dbt-core {m.get('dbt_core')} / dbt-duckdb {m.get('dbt_duckdb')}, Airflow {m.get('airflow')} · "
        + (
            f"code: commit {m['code'].get('git_head')}, "
            f"ingest/ last changed {m['code'].get('ingest_changed')} · "
            if m.get("code")
            else ""
        )
        + f"sizes: {document.get('sizes')} · load average at start {m.get('load_average_at_start')}, "
        f"at end {document.get('load_average_at_end')} · took {document.get('seconds')} s"
    )


def render_ingest(document: dict[str, Any]) -> list[str]:
    f = document["figures"]
    if "error" in f:
        return [f"Failed: `{f['error']}`"]
    file = f["file"]
    lines = [
        f"File: `{file['name']}`, {file['rows']:,} rows, {file['bytes'] / 1e6:.1f} MB, long format, "
        f"one department ({file['scale']} scale, every monthly period). Best of "
        f"{len(f['runs']['loader'])} runs each, every run in a fresh process writing a fresh DuckDB file; "
        "throughput is timed inside the process (no interpreter start-up), except the CLI row (wall time).",
        "",
    ]
    rows = []
    peers = [
        ("`ingest.loader.load_file`", f.get("loader")),
        ("`scorecard ingest` (CLI, wall time)", f.get("cli")),
        ("bare DuckDB `read_csv` + `INSERT`", f.get("duckdb")),
        ("plain pandas loader", f.get("pandas")),
    ]
    for label, run in peers:
        if not run:
            rows.append([label, "-", "-", "-", "-", "not run"])
            continue
        if "skipped" in run:
            rows.append([label, "-", "-", "-", "-", run["skipped"]])
            continue
        rows.append(
            [
                label,
                _num(run.get("seconds_inside"), 2),
                _num(run.get("rows_per_s"), 0),
                _num(run.get("mb_per_s"), 2),
                _num(run.get("peak_mib")),
                f"load {run.get('load_average', ['?'])[0]}",
            ]
        )
    lines += _table(["loader", "seconds", "rows/s", "MB/s", "peak MiB", "note"], rows)
    lines.append("")
    goal_duck = f.get("goal_loader_vs_duckdb")
    goal_pandas = f.get("goal_loader_vs_pandas")
    lines += _table(
        ["goal", "figure", "verdict"],
        [
            [
                "loader >= 0.5 x bare DuckDB (rows/s)",
                _num(f.get("loader_vs_duckdb"), 3) + " x",
                _met(goal_duck),
            ],
            [
                "loader faster than pandas",
                _num(f.get("loader_vs_pandas"), 2) + " x" if f.get("loader_vs_pandas") else "-",
                _met(goal_pandas)
                + (f" ({goal_pandas['note']})" if goal_pandas and goal_pandas.get("note") else ""),
            ],
        ],
    )
    profile = f.get("profile") or {}
    if profile.get("by_cumulative_time"):
        sliced = profile.get("rows") and profile["rows"] < file["rows"]
        scope = f", on the file's first {profile['rows']:,} rows" if sliced else ""
        lines += ["", f"Where the loader's time goes (cProfile, cumulative, ingest/ functions{scope}):", ""]
        rows = [
            [
                f"`{entry['function']}`",
                _num(entry["calls"]),
                _num(entry["cumulative_s"], 2),
                f"{entry['cumulative_share'] * 100:.0f}%"
                if entry.get("cumulative_share") is not None
                else "-",
            ]
            for entry in profile["by_cumulative_time"][:14]
        ]
        lines += _table(["function", "calls", "cumulative s", "share"], rows)
    return lines


def _stage_rows(stages: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for stage in stages:
        figures = stage.get("figures") or {}
        detail = ""
        if "rows" in figures and stage["stage"].startswith("ingest"):
            detail = f"{figures['rows']:,} rows, {figures.get('files')} files"
        elif "nodes" in figures:
            detail = ", ".join(f"{n} {s}" for s, n in sorted(figures["nodes"].items()))
        elif "counts" in figures:
            detail = (
                ("passed" if figures.get("ok") else "FAILED")
                + ": "
                + ", ".join(f"{n} {s}" for s, n in sorted(figures["counts"].items()))
            )
            if figures.get("failures"):
                detail += f" (first: {figures['failures'][0]})"
        elif "published" in figures:
            detail = ("forced (gate failed) " if figures.get("forced") else "") + str(figures.get("reason"))[
                :80
            ]
        elif "alerts" in figures:
            detail = f"{figures['alerts']:,} alerts"
        if stage.get("returncode") not in (0, None) and not figures:
            detail = "FAILED: " + " ".join(stage.get("stderr_tail", [])[-1:])[:100]
        rows.append(
            [
                stage["stage"],
                _num(stage["seconds"]),
                _num(stage["peak_mib"]),
                _num(stage.get("cpu_user")),
                stage.get("load_average", ["?"])[0],
                detail.replace("|", "/"),
            ]
        )
    return rows


def _elapsed_ratio(incremental: dict[str, Any], full: dict[str, Any]) -> str:
    """dbt's own elapsed time (run_results.json: no interpreter start-up, no parsing) as a ratio."""
    inc_s = (incremental.get("figures") or {}).get("dbt_elapsed_s")
    full_s = (full.get("figures") or {}).get("dbt_elapsed_s")
    if not inc_s or not full_s:
        return "-"
    return f"{inc_s:.1f} s / {full_s:.1f} s = {inc_s / full_s:.2f}"


def _node_count(stage: dict[str, Any]) -> str:
    nodes = (stage.get("figures") or {}).get("nodes") or {}
    return str(sum(nodes.values())) if nodes else "-"


def _rebuild_row(label: str, pair: dict[str, Any], suffix: str) -> list[Any]:
    """One row of the incremental table: the incremental and the full rebuild of ``pair``."""
    stages = {stage["stage"]: stage for stage in pair["stages"]}
    if pair.get("median_round"):  # the warm worker's repeated pair: the round with the median ratio
        suffix = issue_goals.worker_round_suffix(pair["median_round"])
        ratios = ", ".join(_num(r["ratio"], 3) for r in pair["rounds"])
        label += f" (median of {len(pair['rounds'])} rounds: {ratios})"
    rebuilt, full = stages[f"dbt build (incremental{suffix})"], stages[f"dbt build (full{suffix})"]
    return [
        label,
        pair["department"],
        _num(rebuilt["seconds"]),
        _num(full["seconds"]),
        _num(pair["incremental_vs_full"], 2),
        _met(pair["goal"]),
        _elapsed_ratio(rebuilt, full),
        f"{_node_count(rebuilt)} / {_node_count(full)}",
    ]


def render_dbt(document: dict[str, Any]) -> list[str]:
    f = document["figures"]
    if "error" in f:
        return [f"Failed: `{f['error']}`"]
    lines = ["### `dbt build` per scale", ""]
    rows = []
    for scale, growth in zip(f["scales"], f["growth"], strict=True):
        rows.append(
            [
                f"{scale['scale']} ({scale['leaf_regions']:,} leaves x {scale['periods']} months)",
                _num(scale["rows"]),
                _num(growth["build_seconds_cold"]),
                _num(growth["build_seconds_warm"]),
                _num(growth["build_peak_mib"]),
                _num(growth.get("rows_x"), 2),
                _num(growth.get("time_x"), 2),
            ]
        )
    lines += _table(
        ["scale", "raw rows", "build s (cold)", "build s (warm)", "peak MiB", "rows x", "time x (warm)"], rows
    )
    lines.append("")
    goals = f["goals"]
    lines += _table(
        ["goal", "figure", "verdict"],
        [
            ["near-linear growth", "time x vs rows x above", _met(goals["near_linear"])],
            [
                "national county level < 2 GiB",
                f"{_num(goals['national_under_2_gib'].get('value_mib'))} MiB",
                _met(goals["national_under_2_gib"]),
            ],
        ],
    )
    lines += [
        "",
        "### The limit peer beside the build",
        "",
        "The limit peer (`bench/limit_peer.sql`) computes what `fct_indicator_progress` holds "
        "(annualised values, roll-ups, targets, attainment, year status; not the trajectory columns) "
        "straight from `raw.submissions` and the seed files in one DuckDB process, the warehouse "
        "attached read-only; `tests/bench/test_limit_peer.py` checks it agrees with the model on the "
        "province sample. Its time is measured inside its process (no interpreter start-up); the "
        "build's is the wall time of `dbt build`.",
        "",
    ]
    lines += issue_goals.peer_lines(f) or ["No limit peer figure in this result."]
    lines += [
        "",
        "### Stage split of the cold build (run_results.json)",
        "",
        "start-up: wall time outside dbt's `elapsed_time` (interpreter, imports, parsing); between "
        "nodes: `elapsed_time` minus the nodes' `execution_time` (one thread); per node type: the "
        "`compile` phase, the `execute` phase (the node's SQL with dbt's statements around it) and "
        "the rest of `execution_time` (bookkeeping). `bench/stage_split.py`.",
        "",
    ]
    lines += issue_goals.split_lines(f)
    lines += ["", "### Incremental rebuild after one department's resubmission", ""]
    rows = []
    for scale in f["scales"]:
        rows.append(_rebuild_row(scale["scale"], scale["incremental"], ""))
        if (scale.get("worker") or {}).get("stages"):
            rows.append(_rebuild_row(f"{scale['scale']}, warm dbt worker", scale["worker"], ", worker"))
    lines += _table(
        [
            "scale",
            "department",
            "incremental s",
            "full s",
            "incremental / full",
            "goal <= 0.25",
            "dbt's own elapsed: incremental / full",
            "nodes",
        ],
        rows,
    )
    lines += [
        "",
        f"Incremental: `dbt build --selector {f['incremental_selector']}` (what the pipeline runs after "
        "one department's values file: warehouse/dbt.py picks the selector by the raw tables that "
        "moved); full: `dbt build --full-refresh`. Both wall time, dbt start-up included. "
        '"warm dbt worker": the same pair after another correction of the same file, each build '
        "sent to `scorecard dbt-worker` (dbt imported and the project parsed once; every build in a "
        "forked child), as a deployment with `SCORECARD_DBT_WORKER` runs them; repeated, each round "
        "with a correction of its own, and shown by the round whose ratio is the median.",
        "",
    ]
    lines += ["### Every stage: time and peak memory", ""]
    for scale in f["scales"]:
        lines += [
            f"**{scale['scale']}**: {scale['rows']:,} rows in {scale['files']} files "
            f"({scale['bytes'] / 1e6:.1f} MB)",
            "",
        ]
        lines += _table(
            ["stage", "seconds", "peak MiB", "CPU user s", "load", "outcome"],
            _stage_rows(
                scale["stages"]
                + scale["incremental"]["stages"]
                + (scale.get("worker") or {}).get("stages", [])
            ),
        )
        slow = next((s for s in scale["stages"] if s["stage"].startswith("dbt build")), {}).get("figures", {})
        if slow.get("slowest_nodes"):
            nodes = ", ".join(
                f"`{n['node'].split('.')[-1]}` {n['seconds']:.1f} s" for n in slow["slowest_nodes"][:5]
            )
            lines += ["", f"Slowest dbt nodes (cold build): {nodes}."]
        lines.append("")
    return lines


def render_airflow(document: dict[str, Any]) -> list[str]:
    f = document["figures"]
    if "error" in f:
        return [f"Not measured: `{f['error']}`"]
    lines = [f.get("description", ""), ""]
    total = f.get("total", {})
    rows = [
        [
            "file landed -> published snapshot",
            _num(total.get("p50")),
            _num(total.get("p95")),
            _num(total.get("max")),
            total.get("n"),
        ]
    ]
    for stage, figures in f.get("stages", {}).items():
        rows.append(
            [
                stage,
                _num(figures.get("p50")),
                _num(figures.get("p95")),
                _num(figures.get("max")),
                figures.get("n"),
            ]
        )
    lines += _table(["stage", "p50 s", "p95 s", "max s", "drops"], rows)
    lines.append("")
    goal = f.get("goal", {})
    lines += _table(
        ["goal", "figure", "verdict"], [["p50 <= 30 s on 2 cores", f"{_num(total.get('p50'))} s", _met(goal)]]
    )
    if f.get("tasks"):
        lines += ["", "Task run times inside those stages (Airflow task instances):", ""]
        lines += _table(
            ["task", "p50 s", "p95 s", "max s"],
            [
                [f"`{name}`", _num(v.get("p50")), _num(v.get("p95")), _num(v.get("max"))]
                for name, v in f["tasks"].items()
                if (v.get("max") or 0) > 0
            ],
        )
    extra = []
    if f.get("warm_up_latency_s") is not None:
        extra.append(f"warm-up drop (not counted) {_num(f['warm_up_latency_s'])} s")
    if f.get("startup_seconds") is not None:
        extra.append(f"standalone start to DAGs registered {_num(f['startup_seconds'])} s")
    if extra:
        lines += ["", "Also: " + "; ".join(extra) + "."]
    if f.get("peak_memory_mib"):
        lines += ["", f"Peak memory of the Airflow process tree (sampled): {_num(f['peak_memory_mib'])} MiB."]
    if f.get("dbt_worker_peak_memory_mib"):
        lines += [
            "",
            "Peak memory of the dbt worker and its build children (sampled): "
            f"{_num(f['dbt_worker_peak_memory_mib'])} MiB; the worker alone between builds: "
            f"{_num(f.get('dbt_worker_resident_mib'))} MiB.",
        ]
    return lines


def render_demo(document: dict[str, Any]) -> list[str]:
    """``make demo`` on a fresh clone (bench/demo_probe.py)."""
    f = document["figures"]
    lines = [f.get("description", ""), ""]
    if "error" in f:
        lines.append(f"Not measured: `{f['error']}`")
        lines += [f"    {line}" for line in f.get("stdout_tail", [])[-8:]]
        return lines
    timings = f.get("timings", {})
    rows = [[name, _num(seconds)] for name, seconds in timings.items()]
    rows.append(["`make install` on the fresh clone", _num((f.get("make_install") or {}).get("seconds"))])
    rows.append(
        [
            "`make demo` wall (install checked, Airflow stopped)",
            _num((f.get("make_demo") or {}).get("seconds")),
        ]
    )
    lines += _table(["what (the demo's own timings line, then make's)", "seconds"], rows)
    load = (f.get("make_demo") or {}).get("load_average_at_start")
    lines += ["", f"Commit {f.get('commit')}; load average at the demo's start {load}."]
    return lines


RENDERERS = {
    "ingest": ("Ingest throughput: the loader beside bare DuckDB and pandas", render_ingest),
    "dbt": ("dbt build per scale, incremental rebuild, memory of every stage", render_dbt),
    "airflow": (
        "Latency from the inbox to the published snapshot under `airflow standalone`",
        render_airflow,
    ),
    "demo": ("`make demo` on a fresh clone", render_demo),
}


def _figures(name: str, suffix: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}{suffix}.json"
    if not path.exists():
        return None
    figures: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["figures"]
    return figures


def render_goals() -> list[str]:
    """Every goal of issue #22 with its verdict, from the quick and from the full results."""
    lines = [f"## Goals of issue #{issue_goals.ISSUE}", ""]
    sizes = (
        ("", "quick sizes (`make bench`)"),
        ("-full", "full sizes (`make bench FULL=1`)"),
        ("-custom", "quick sizes cut down (`--scales` / `--months`)"),
    )
    for suffix, label in sizes:
        dbt, airflow, demo = _figures("dbt", suffix), _figures("airflow", suffix), _figures("demo", suffix)
        if dbt is None and airflow is None and demo is None:
            continue
        lines += [f"From the results of the {label}:", ""]
        lines += issue_goals.lines(issue_goals.evaluate(dbt, airflow, demo))
        lines.append("")
    return lines


def render() -> str:
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python -m bench.report` (run by `make bench`) from bench/results/*.json; "
        "the analysis at the end comes from bench/notes.md. Do not edit by hand. -->",
        "",
        "`make bench` runs the quick sizes (about 20 minutes on the machine of these results: ~8 for "
        "the Airflow latency run, ~12 for dbt at three scales, most of that publication, and the "
        "`make demo` probe on a fresh clone, 4 minutes at load average 9-12; `python -m "
        "bench.run --only ingest --only dbt --scales province` takes about 3); `make bench FULL=1` the "
        "full ones (the national scale with 60 months alone, `--full --only dbt --scales national`, "
        "about 11). "
        "Each figure is measured beside its peer in the same run, on the same machine, every "
        "measurement in a fresh child process started through a small launcher (peak memory: the "
        "largest resident set of the command or any descendant, e.g. dbt, and the sampled sum over "
        "the process tree, whichever is larger; the launcher keeps the runner's own peak out, "
        "`bench/measure.py`). The memory goal judges the pipeline's stages, not the limit peer. "
        "Benchmarks never run as timed assertions in the tests; `tests/bench/` only smoke-tests the "
        "quick path.",
        "",
    ]
    lines += render_goals()
    for name, (title, renderer) in RENDERERS.items():
        lines += [f"## {title}", ""]
        found = False
        for suffix, label in (("", "quick sizes"), ("-full", "full sizes"), ("-custom", "custom sizes")):
            path = RESULTS_DIR / f"{name}{suffix}.json"
            if not path.exists():
                continue
            found = True
            document = json.loads(path.read_text(encoding="utf-8"))
            if name not in ("airflow", "demo"):
                lines += [f"### {title.split(':')[0]}, {label}", ""]
            lines += [f"Machine and run: {_machine(document)}.", ""]
            lines += [line.replace("### ", "#### ") for line in renderer(document)]
            lines.append("")
        if not found:
            lines += [f"No result yet (`python -m bench.run --only {name}`).", ""]
    if NOTES.exists():
        lines += [NOTES.read_text(encoding="utf-8").rstrip(), ""]
    return "\n".join(lines)


def write_report(path: Path = DOC) -> Path:
    path.write_text(render(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_report())
