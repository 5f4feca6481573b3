"""The goals of issue #22, each with its verdict from one benchmark run's figures.

A verdict is "met", "not met", or "not measured" with the reason (the size that was run does
not contain the case the goal is about, or ``make bench`` has no probe for it yet). Nothing is
judged from a size the goal does not name: the national goals need the national scale with 60
monthly periods (``make bench FULL=1``).
"""

from __future__ import annotations

from typing import Any

MET, NOT_MET = "met", "not met"
NOT_AT_SIZE = "not measured at this size"
NATIONAL_MONTHS = 60
ISSUE = 22


def median_round(rounds: list[dict[str, float]]) -> int:
    """The index of the round (``incremental_s``, ``full_s``) whose incremental / full ratio is the
    median, the lower middle for an even count: the warm worker's pair is built several times, as
    one build after a file swings by more than the goal's margin, and the two builds of a round
    ran one after the other, so the machine's speed moves them together."""
    order = sorted(range(len(rounds)), key=lambda i: rounds[i]["incremental_s"] / rounds[i]["full_s"])
    return order[(len(order) - 1) // 2]


def worker_round_suffix(number: int) -> str:
    """The suffix of the warm worker's stage names in round ``number`` (1: ", worker")."""
    return ", worker" if number == 1 else f", worker, round {number}"


def _stage(scale: dict[str, Any], name: str) -> dict[str, Any] | None:
    stages = scale.get("stages", []) + scale.get("incremental", {}).get("stages", [])
    return next((stage for stage in stages if stage.get("stage") == name), None)


def _all_stages(scale: dict[str, Any]) -> list[dict[str, Any]]:
    return (
        scale.get("stages", [])
        + scale.get("incremental", {}).get("stages", [])
        + (scale.get("worker") or {}).get("stages", [])
    )


def peer_ratio(scale: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(cold build seconds, limit peer seconds, build / peer) of one scale's result."""
    build = _stage(scale, "dbt build (cold)")
    peer = _stage(scale, "limit peer")
    build_s = build["seconds"] if build else None
    peer_s = (peer.get("figures") or {}).get("seconds") if peer and peer.get("returncode") == 0 else None
    ratio = round(build_s / peer_s, 1) if build_s and peer_s else None
    return build_s, peer_s, ratio


def _national(dbt: dict[str, Any] | None) -> dict[str, Any] | None:
    if not dbt or "scales" not in dbt:
        return None
    wanted = ("national", NATIONAL_MONTHS)
    return next((s for s in dbt["scales"] if (s.get("scale"), s.get("periods")) == wanted), None)


def _sizes_seen(dbt: dict[str, Any] | None) -> str:
    if not dbt or "scales" not in dbt:
        return "no dbt benchmark in this run"
    return "run: " + ", ".join(f"{s['scale']} x {s['periods']} periods" for s in dbt["scales"])


def _verdict(ok: bool) -> str:
    return MET if ok else NOT_MET


def evaluate(
    dbt: dict[str, Any] | None, airflow: dict[str, Any] | None, demo: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One row per goal of the issue's table: goal, today (the issue's figure), target, figure,
    verdict. ``dbt`` / ``airflow`` / ``demo``: the ``figures`` of those benchmarks (None when not
    run)."""
    rows: list[dict[str, Any]] = []
    national = _national(dbt)

    p50 = ((airflow or {}).get("total") or {}).get("p50") if airflow and "error" not in airflow else None
    rows.append(
        {
            "goal": "drop -> published snapshot, p50 under Airflow, province scale",
            "today": "21.8 s",
            "target": "<= 12 s",
            "figure": f"{p50:.1f} s" if p50 is not None else "-",
            "verdict": _verdict(p50 <= 12) if p50 is not None else "not measured (no Airflow run)",
        }
    )

    if national:
        build_s, peer_s, ratio = peer_ratio(national)
        if build_s and peer_s:
            figure = f"{build_s:.1f} s; limit peer {peer_s:.2f} s, {ratio}x"
        else:
            figure = f"{build_s:.1f} s; no limit peer figure" if build_s else "-"
        verdict = _verdict(bool(build_s and build_s <= 60 and ratio is not None and ratio <= 10))
        if build_s and build_s <= 60 and ratio is None:
            verdict = "not measured (no limit peer figure)"
    else:
        figure, verdict = _sizes_seen(dbt), NOT_AT_SIZE
    rows.append(
        {
            "goal": "full build, national 60 months (8.75 M rows)",
            "today": "104 s",
            "target": "<= 60 s and <= 10x the limit peer",
            "figure": figure,
            "verdict": verdict,
        }
    )

    if national and _stage(national, "publish"):
        publish_s = _stage(national, "publish")["seconds"]  # type: ignore[index]
        # The writer slot is a property of the DAG, shown by a test, not a figure of this run.
        figure = f"{publish_s:.1f} s (writer slot free while rendering: tests/airflow/test_writer_slot.py)"
        verdict = NOT_MET if publish_s > 30 else MET
    else:
        figure, verdict = _sizes_seen(dbt), NOT_AT_SIZE
    rows.append(
        {
            "goal": "publication at national 60 months (snapshot, Parquet, report, workbook)",
            "today": "193 s",
            "target": "<= 30 s; the writer slot released before rendering",
            "figure": figure,
            "verdict": verdict,
        }
    )

    if national:
        plain = national.get("incremental", {}).get("incremental_vs_full")
        warm = (national.get("worker") or {}).get("incremental_vs_full")
        best = min((r for r in (plain, warm) if r is not None), default=None)
        figure = f"{plain} (warm dbt worker: {warm})"
        verdict = _verdict(best <= 0.12) if best is not None else "not measured (no rebuild figure)"
    else:
        figure, verdict = _sizes_seen(dbt), NOT_AT_SIZE
    rows.append(
        {
            "goal": "incremental build after one department, national",
            "today": "0.21 of full",
            "target": "<= 0.12",
            "figure": figure,
            "verdict": verdict,
        }
    )

    if national:
        # the limit peer is the benchmark's yardstick, not a stage of the pipeline: shown, not judged
        stages = [stage for stage in _all_stages(national) if stage["stage"] != "limit peer"]
        worst = max(stages, key=lambda stage: stage.get("peak_mib") or 0)
        figure = f"{worst['peak_mib'] / 1024:.2f} GiB ({worst['stage']})"
        peer = _stage(national, "limit peer")
        if peer and peer.get("peak_mib"):
            figure += f"; not judged, the limit peer: {peer['peak_mib'] / 1024:.2f} GiB"
        verdict = _verdict(worst["peak_mib"] <= 1024)
    else:
        figure, verdict = _sizes_seen(dbt), NOT_AT_SIZE
    rows.append(
        {
            "goal": "peak memory of any stage, national 60 months",
            "today": "1.4 GiB",
            "target": "<= 1 GiB",
            "figure": figure,
            "verdict": verdict,
        }
    )

    rows.append(
        {
            "goal": "`make demo`, fresh clone",
            "today": "113 s (70 s drop to publication)",
            "target": "<= 90 s (<= 45 s)",
            **_demo_verdict(demo),
        }
    )
    return rows


def _demo_verdict(demo: dict[str, Any] | None) -> dict[str, str]:
    """The demo's own total and drop-to-publication seconds (bench/demo_probe.py), both judged;
    ``make install`` on the fresh clone and make's own wall time shown beside them."""
    if not demo:
        return {"figure": "-", "verdict": "not measured (no demo run: python -m bench.run --only demo)"}
    total, drop = demo.get("total_s"), demo.get("drop_to_publication_s")
    if "error" in demo or total is None or drop is None:
        return {"figure": "-", "verdict": f"not measured ({demo.get('error', 'no timings')})"}
    figure = f"{total:.0f} s ({drop:.0f} s drop to publication)"
    install = (demo.get("make_install") or {}).get("seconds")
    wall = (demo.get("make_demo") or {}).get("seconds")
    if install is not None and wall is not None:
        figure += f"; make install {install:.0f} s, make demo wall {wall:.0f} s"
    return {"figure": figure, "verdict": _verdict(total <= 90 and drop <= 45)}


def lines(rows: list[dict[str, Any]]) -> list[str]:
    """The goals as a Markdown table (printed by ``make bench`` and written to the report)."""
    out = [
        f"| goal (issue #{ISSUE}) | today | target | this run | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        verdict = row["verdict"]
        shown = f"**{verdict}**" if verdict in (MET, NOT_MET) else verdict
        out.append(
            f"| {row['goal']} | {row['today']} | {row['target']} | {str(row['figure']).replace('|', '/')} "
            f"| {shown} |"
        )
    return out


def peer_lines(dbt: dict[str, Any] | None) -> list[str]:
    """The limit peer beside the build, per scale."""
    if not dbt or "scales" not in dbt:
        return []
    out = [
        "| scale | periods | raw rows | dbt build s (cold) | limit peer s | build / peer |",
        "|---|---|---|---|---|---|",
    ]
    for scale in dbt["scales"]:
        build_s, peer_s, ratio = peer_ratio(scale)
        build = "-" if build_s is None else f"{build_s:.1f}"
        peer = "-" if peer_s is None else f"{peer_s:.2f}"
        times = "-" if ratio is None else f"{ratio}x"
        size = f"{scale['scale']} | {scale['periods']} | {scale['rows']:,}"
        out.append(f"| {size} | {build} | {peer} | {times} |")
    return out


def split_lines(dbt: dict[str, Any] | None) -> list[str]:
    """Where each scale's cold build spends its time (bench/stage_split.py)."""
    if not dbt or "scales" not in dbt:
        return []
    out = [
        "| scale | wall s | dbt start-up s | between nodes s | models: n, s (compile / execute / other) "
        "| tests: n, s (compile / execute / other) | other nodes: n, s | mean s per node | nodes at once |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scale in dbt["scales"]:
        build = _stage(scale, "dbt build (cold)")
        split = ((build or {}).get("figures") or {}).get("stage_split")
        if not split:
            out.append(f"| {scale['scale']} | - | - | - | - | - | - | - | - |")
            continue
        by_type = split["by_type"]

        def group(name: str, by_type: dict[str, Any] = by_type) -> str:
            g = by_type.get(name)
            if not g:
                return "-"
            phases = f"{g['compile_s']:.1f} / {g['execute_s']:.1f} / {g['other_s']:.1f}"
            return f"{g['nodes']}, {g['seconds']:.1f} ({phases})"

        others = [g for name, g in by_type.items() if name not in ("model", "test")]
        other = "-"
        if others:
            other = f"{sum(g['nodes'] for g in others)}, {sum(g['seconds'] for g in others):.1f}"
        out.append(
            f"| {scale['scale']} | {split.get('wall_s', '-')} | {split.get('startup_s', '-')} | "
            f"{split['scheduling_s']} | {group('model')} | {group('test')} | {other} | "
            f"{split['mean_node_s']} | {split.get('concurrency', '-')} |"
        )
    return out
