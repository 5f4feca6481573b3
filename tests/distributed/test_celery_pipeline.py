"""The pipeline on Airflow's distributed executor, against the real loopback services: CeleryExecutor,
PostgreSQL metadata and results, Redis broker, two workers (``worker-a`` serves ``default``;
``worker-b`` serves ``warehouse`` and ``default``).

1. A month's round of submissions from every department dropped at once: every run succeeds,
   parsing runs on both workers, every warehouse task on the warehouse worker only, no DuckDB lock
   error, and the published snapshot equals a fault-free run of the same files without Airflow.
2. The warehouse worker is SIGKILLed in the middle of ``dbt build``: Airflow notices the missing
   heartbeat, a replacement warehouse worker takes the retry, and the published snapshot again
   equals the fault-free run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest

from tests.distributed.conftest import Distributed, drop

pytestmark = pytest.mark.distributed

WAREHOUSE_TASKS = {
    ("scorecard_ingest", "commit_submissions"),
    ("scorecard_build", "dbt_build"),
    ("scorecard_check_publish", "check_and_publish"),
    ("scorecard_deadlines", "deadline_tick"),
}
PUBLISH_TIMEOUT = 900


def published_with(distributed: Distributed, hashes: list[str]) -> dict | None:
    """The manifest of the current publication, if it lists every one of ``hashes``."""
    manifest_path = distributed.stack.settings.publish / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    listed = {f["sha256"] for f in manifest.get("source_files", [])}
    return manifest if set(hashes) <= listed else None


def drop_and_wait(distributed: Distributed, label: str, folder: Path) -> dict:
    stack = distributed.stack
    distributed.dropped[label] = hashes = drop(stack, folder)
    manifest = stack.wait_for(
        f"the publication of {label} ({len(hashes)} files)",
        lambda: published_with(distributed, hashes),
        timeout=PUBLISH_TIMEOUT,
    )
    # then until every run the publication started (alerts) has finished
    stack.wait_for("all runs to finish", stack.quiet, timeout=600)
    return manifest


def snapshot_differences(published: Path, reference: Path) -> list[str]:
    """Marts whose rows differ between two published Parquet folders. Timestamps aside (columns
    named ``*_at`` record when a file was received), and floating-point columns compared to 9
    significant digits: a median or a windowed regression sums floats in whatever order the rows
    come, which moves the last bits between two runs of the same data."""
    differences = []
    names = sorted(p.name for p in reference.glob("*.parquet"))
    assert names and names == sorted(p.name for p in published.glob("*.parquet"))
    con = duckdb.connect()
    total = 0
    try:
        for name in names:
            ours, theirs = str(published / name), str(reference / name)
            described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{theirs}')").fetchall()
            kept = ", ".join(
                f"printf('%.9g', \"{column}\")" if kind in ("DOUBLE", "FLOAT", "REAL") else f'"{column}"'
                for column, kind, *_ in described
                if not column.endswith("_at")
            )
            counts = con.execute(
                f"SELECT (SELECT count(*) FROM (SELECT {kept} FROM read_parquet('{ours}') EXCEPT ALL "
                f"SELECT {kept} FROM read_parquet('{theirs}'))), "
                f"(SELECT count(*) FROM (SELECT {kept} FROM read_parquet('{theirs}') EXCEPT ALL "
                f"SELECT {kept} FROM read_parquet('{ours}'))), "
                f"(SELECT count(*) FROM read_parquet('{theirs}'))"
            ).fetchone()
            if counts[0] or counts[1]:
                differences.append(
                    f"{name}: {counts[0]} rows only in Airflow's, {counts[1]} only in the reference"
                )
            total += counts[2]
    finally:
        con.close()
    assert total > 1000, f"the reference snapshot has only {total} rows"
    return differences


def assert_runs_succeeded(stack, since=None) -> list[dict]:
    runs = [r for r in stack.runs() if since is None or r["queued_at"] >= since]
    assert runs, "no DAG run at all"
    failed = [(r["dag_id"], r["run_id"], r["state"]) for r in runs if r["state"] != "success"]
    assert not failed, failed
    return runs


def test_a_round_of_submissions_runs_on_both_workers(distributed: Distributed) -> None:
    stack = distributed.stack
    manifest = drop_and_wait(distributed, "round", distributed.data.round)

    # every run succeeded, and the whole chain ran
    runs = assert_runs_succeeded(stack)
    ran = {r["dag_id"] for r in runs}
    assert {"scorecard_ingest", "scorecard_build", "scorecard_check_publish", "scorecard_alerts"} <= ran, ran

    tis = stack.task_instances()
    # parsing is spread over both workers, on the default queue and outside the pool
    parse = [t for t in tis if t["task_id"] == "parse_submissions" and t["map_index"] >= 0]
    assert parse and {t["state"] for t in parse} == {"success"}
    # an ingest run whose files another run adopted first maps no parse task and commits nothing
    unmapped = [t for t in tis if t["task_id"] == "parse_submissions" and t["map_index"] < 0]
    assert {t["state"] for t in unmapped} <= {"skipped"}
    assert {t["hostname"] for t in parse} == {"worker-a", "worker-b"}, [
        (t["map_index"], t["hostname"]) for t in parse
    ]
    assert {t["queue"] for t in parse} == {"default"} and {t["pool"] for t in parse} == {"default_pool"}
    # every task that opens the warehouse ran on the warehouse worker, from the warehouse queue, in the pool
    warehouse = [t for t in tis if (t["dag_id"], t["task_id"]) in WAREHOUSE_TASKS]
    assert {t["task_id"] for t in warehouse} >= {
        "commit_submissions",
        "dbt_build",
        "check_and_publish",
    }
    wrong = [
        (t["task_id"], t["hostname"], t["queue"], t["pool"]) for t in warehouse if t["state"] != "skipped"
    ]
    assert {(h, q, p) for _, h, q, p in wrong} == {("worker-b", "warehouse", "duckdb_writer")}, wrong
    # ... and nothing else ran on the warehouse queue
    assert {t["task_id"] for t in tis if t["queue"] == "warehouse"} <= {t for _, t in WAREHOUSE_TASKS}

    # no DuckDB lock conflict anywhere, and nothing left half-way
    assert stack.lock_errors() == []
    settings = stack.settings
    assert not [p for p in settings.inbox.rglob("*") if p.is_file()]
    assert not [p for p in settings.processing.rglob("*") if p.is_file()]
    assert not [p for p in (settings.home / "staged").rglob("*") if p.is_file()]

    # the snapshot: every file of the round, and the values of the fault-free run
    assert {f["sha256"] for f in manifest["source_files"]} >= set(distributed.dropped["round"])
    published = (settings.publish / "parquet").resolve()
    assert snapshot_differences(published, distributed.reference_snapshot("round")) == []
    cities = duckdb.execute(
        f"SELECT count(*) FROM read_parquet('{published / 'dim_region.parquet'}') WHERE region_level = 'city'"
    ).fetchone()[0]
    assert cities == 11


def test_a_worker_killed_mid_build_is_retried_on_a_live_worker(distributed: Distributed) -> None:
    stack = distributed.stack
    if "round" not in distributed.dropped:  # this test alone: the round first (no assertions)
        drop_and_wait(distributed, "round", distributed.data.round)
    started = stack.query("SELECT now() AS t")[0]["t"]

    distributed.dropped["corrections"] = hashes = drop(stack, distributed.data.corrections)

    def build_running() -> dict | None:
        rows = stack.query(
            "SELECT ti.run_id, ti.hostname, ti.try_number, ti.start_date FROM task_instance ti "
            "JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id "
            "WHERE ti.dag_id = 'scorecard_build' AND ti.task_id = 'dbt_build' AND ti.state = 'running' "
            "AND r.queued_at >= %s",
            [started],
        )
        return rows[0] if rows else None

    victim = stack.wait_for(
        "dbt build running on the warehouse worker", build_running, timeout=600, interval=0.5
    )
    assert victim["hostname"] == "worker-b" and victim["try_number"] == 1
    time.sleep(4)  # well into the build (it takes tens of seconds here)
    still = build_running()
    assert still is not None and still["run_id"] == victim["run_id"], "dbt build finished before the kill"
    stack.kill("worker-b")  # SIGKILL to the worker's process group: the host is gone
    # the warehouse host is replaced: a new worker serves the warehouse queue
    stack.start_worker("worker-c", ["warehouse", "default"])

    manifest = stack.wait_for(
        "the publication of the corrections",
        lambda: published_with(distributed, hashes),
        timeout=PUBLISH_TIMEOUT,
    )
    stack.wait_for("all runs to finish", stack.quiet, timeout=600)

    # the killed try was noticed (no heartbeat) and failed; the retry ran on the live worker
    retried = [
        t
        for t in stack.task_instances()
        if (t["dag_id"], t["task_id"], t["run_id"]) == ("scorecard_build", "dbt_build", victim["run_id"])
    ]
    assert len(retried) == 1 and retried[0]["state"] == "success", retried
    assert retried[0]["try_number"] >= 2 and retried[0]["hostname"] == "worker-c", retried
    earlier = [
        t
        for t in stack.task_history()
        if (t["dag_id"], t["task_id"], t["run_id"]) == ("scorecard_build", "dbt_build", victim["run_id"])
    ]
    first = [t for t in earlier if t["try_number"] == 1]
    assert first and first[0]["hostname"] == "worker-b" and first[0]["state"] == "failed", earlier
    assert_runs_succeeded(stack, since=started)

    # the warehouse tasks after the kill ran on the replacement only
    after = [
        t
        for t in stack.task_instances()
        if (t["dag_id"], t["task_id"]) in WAREHOUSE_TASKS
        and t["start_date"]
        and t["start_date"] > victim["start_date"]
    ]
    assert after and {t["hostname"] for t in after if t["state"] == "success"} == {"worker-c"}

    assert stack.lock_errors() == []
    assert {f["sha256"] for f in manifest["source_files"]} >= set(hashes)
    published = (stack.settings.publish / "parquet").resolve()
    assert snapshot_differences(published, distributed.reference_snapshot("corrections")) == []
