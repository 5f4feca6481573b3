"""Concurrency: readers of the published snapshot while publications run.

A reader thread loops over the manifest and the snapshot while the main thread publishes.
Every read must succeed (no lock error, no partial JSON), every snapshot read must be one whole
publication (its tables exactly as its own release manifest lists them), and reads must keep
completing while a publication is in progress (readers never wait for the publisher).

Ingest and build serialisation through Airflow (one-slot ``duckdb_writer`` pool) is covered by
``tests/airflow/test_dag_integrity.py::test_every_warehouse_task_uses_the_one_slot_pool``; a
second ingest outside Airflow waits for the warehouse lock
(``test_crashes.py::test_a_second_ingest_waits_for_the_first``).
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from scorecard.core.settings import Settings

pytestmark = pytest.mark.slow


def test_snapshot_readers_are_never_blocked_and_never_see_half_a_publication(home_copy: Settings) -> None:
    from quality.gate import run_gate
    from warehouse.publish import open_snapshot, publish

    settings = home_copy
    gate = run_gate(settings)
    assert gate.ok
    stop = threading.Event()
    errors: list[str] = []
    reads: list[tuple[float, str]] = []  # (finished at, run id of the snapshot read)

    def read_once() -> str:
        manifest = json.loads((settings.publish / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["run_id"] and manifest["marts"]
        con = open_snapshot(settings=settings)
        try:
            (run_id,) = con.execute("SELECT run_id FROM meta.publication").fetchone()
            names = [
                row[0]
                for row in con.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_catalog = 'scorecards' AND table_schema = 'marts'"
                ).fetchall()
            ]
            counts = {
                name: con.execute(f'SELECT count(*) FROM marts."{name}"').fetchone()[0] for name in names
            }
        finally:
            con.close()
        release = settings.publish / "releases" / run_id / "manifest.json"
        if release.exists():  # (an old release may be pruned while a reader still holds its snapshot)
            listed = json.loads(release.read_text(encoding="utf-8"))
            assert listed["run_id"] == run_id
            assert counts == {mart["name"]: mart["rows"] for mart in listed["marts"]}
        return run_id

    def reader() -> None:
        while not stop.is_set():
            try:
                run_id = read_once()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            else:
                reads.append((time.monotonic(), run_id))
            time.sleep(0.02)  # a 2-core machine: leave the publisher some CPU

    threads = [threading.Thread(target=reader, daemon=True)]
    for thread in threads:
        thread.start()
    windows = []
    try:
        time.sleep(0.5)
        started = time.monotonic()
        result = publish(settings, gate=gate)
        windows.append((started, time.monotonic()))
        assert result.published, result.reason
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    for started, ended in windows:
        during = [run for at, run in reads if started < at < ended]
        assert during, "no read completed while a publication was running: readers were blocked"
    assert len({run for _, run in reads}) >= 2  # the reader saw the publication change
