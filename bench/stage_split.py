"""Where a ``dbt build``'s time goes, from dbt's own ``run_results.json``.

dbt records for every node its ``execution_time`` and the ``compile`` and ``execute`` phases
(``timing``), and for the whole invocation ``elapsed_time``. From them and the wall time of the
process that ran dbt:

- ``startup_s``: wall time outside dbt's ``elapsed_time`` (interpreter, imports, parsing the
  project, reading the manifest, connecting);
- per resource type (model, test, seed, ...): the node count, the seconds in ``compile``, in
  ``execute`` (the materialisation: the node's SQL with dbt's statements around it: create,
  rename, drop, hooks) and the rest of ``execution_time`` (dbt's bookkeeping per node);
- ``busy_s``: the time at least one node ran (the union of the nodes' spans, each span ending
  at its last phase's end and lasting its ``execution_time``); with one thread the nodes' total;
- ``scheduling_s``: ``elapsed_time`` minus ``busy_s``, the time between nodes (the graph queue,
  events, writing results);
- ``concurrency``: the nodes' total over ``busy_s``, how many nodes ran at once on average (dbt's
  ``threads``: 1.0 with one thread);
- ``sql_floor_s`` for the nodes of the type "model": the limit peer measures the same SQL work
  without dbt in one script, so per-node overhead is best judged beside it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from statistics import median
from typing import Any


def _seconds(phase: dict[str, Any]) -> float:
    started, completed = phase.get("started_at"), phase.get("completed_at")
    if not started or not completed:
        return 0.0
    begin = datetime.fromisoformat(str(started).replace("Z", "+00:00"))
    end = datetime.fromisoformat(str(completed).replace("Z", "+00:00"))
    return max(0.0, (end - begin).total_seconds())


def _span(node: dict[str, Any]) -> tuple[float, float] | None:
    """(start, end) in epoch seconds: the node's last phase end minus its execution_time."""
    ends = [
        datetime.fromisoformat(str(phase["completed_at"]).replace("Z", "+00:00")).timestamp()
        for phase in node.get("timing") or []
        if phase.get("completed_at")
    ]
    if not ends:
        return None
    end = max(ends)
    return end - float(node.get("execution_time") or 0.0), end


def _busy_seconds(nodes: list[dict[str, Any]]) -> float:
    """Length of the union of the nodes' spans; a node without timing counts on its own."""
    busy, spans = 0.0, []
    for node in nodes:
        span = _span(node)
        if span is None:
            busy += float(node.get("execution_time") or 0.0)
        else:
            spans.append(span)
    merged_end = float("-inf")
    for start, end in sorted(spans):
        # only the part of a span past everything before it adds to the union
        busy += max(0.0, end - max(start, merged_end))
        merged_end = max(merged_end, end)
    return busy


def _resource_type(unique_id: str) -> str:
    # "model.scorecard.fct_x", "test.scorecard.not_null_...", "unit_test.scorecard..."
    return unique_id.split(".", 1)[0] if unique_id else "unknown"


def split(run_results: dict[str, Any], wall_seconds: float | None = None) -> dict[str, Any]:
    """The stage split of one invocation (see the module's docstring); figures in seconds."""
    elapsed = float(run_results.get("elapsed_time") or 0.0)
    groups: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"nodes": 0, "compile_s": 0.0, "execute_s": 0.0, "other_s": 0.0, "times": []}
    )
    for node in run_results.get("results", []):
        group = groups[_resource_type(str(node.get("unique_id") or ""))]
        total = float(node.get("execution_time") or 0.0)
        phases = {phase.get("name"): _seconds(phase) for phase in node.get("timing") or []}
        compile_s, execute_s = phases.get("compile", 0.0), phases.get("execute", 0.0)
        group["nodes"] += 1
        group["compile_s"] += compile_s
        group["execute_s"] += execute_s
        group["other_s"] += max(0.0, total - compile_s - execute_s)
        group["times"].append(total)
    by_type: dict[str, dict[str, Any]] = {}
    node_seconds = 0.0
    for name, group in sorted(groups.items(), key=lambda item: -sum(item[1]["times"])):
        times = group.pop("times")
        node_seconds += sum(times)
        by_type[name] = {
            "nodes": group["nodes"],
            "seconds": round(sum(times), 3),
            "compile_s": round(group["compile_s"], 3),
            "execute_s": round(group["execute_s"], 3),
            "other_s": round(group["other_s"], 3),
            "median_node_s": round(median(times), 4) if times else 0.0,
        }
    nodes = sum(group["nodes"] for group in by_type.values())
    busy = _busy_seconds(list(run_results.get("results", [])))
    result: dict[str, Any] = {
        "nodes": nodes,
        "elapsed_s": round(elapsed, 3),
        "node_seconds": round(node_seconds, 3),
        "busy_s": round(busy, 3),
        "concurrency": round(node_seconds / busy, 2) if busy > 0 else 0.0,
        "scheduling_s": round(max(0.0, elapsed - busy), 3),
        "by_type": by_type,
        "mean_node_s": round(node_seconds / nodes, 4) if nodes else 0.0,
    }
    if wall_seconds is not None:
        result["wall_s"] = round(wall_seconds, 3)
        result["startup_s"] = round(max(0.0, wall_seconds - elapsed), 3)
    return result


def read(path: Path, wall_seconds: float | None = None) -> dict[str, Any] | None:
    """:func:`split` of the run_results.json at ``path``; None when dbt wrote none."""
    if not path.exists():
        return None
    return split(json.loads(path.read_text(encoding="utf-8")), wall_seconds)
