"""Run a pipeline step in a child process and freeze it at a chosen point, for the crash tests.

    python fault_runner.py load    <point> <sentinel> [PATH...]
    python fault_runner.py publish <point> <sentinel>

At the point, the step writes ``<sentinel>`` and sleeps; the test then SIGKILLs the process, so the
crash happens exactly there. The production code has no fault hook: the points are wrapped here.

Loader points: ``rows_written`` (submissions inserted, quarantine and ledger not yet, transaction
open), ``before_commit`` (everything written, COMMIT not yet run), ``after_commit`` (committed, the
file not yet moved). The second file of the batch is the one frozen, so the first is committed.
Publish points: ``copying_marts`` (the temporary snapshot is half written), ``before_manifest``
(the new snapshot and ``current`` are in place, ``manifest.json`` not yet rewritten).
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path


def freeze(sentinel: Path) -> None:
    sentinel.write_text("frozen", encoding="utf-8")
    time.sleep(600)


def after_nth_call(module: object, name: str, n: int, sentinel: Path, *, before: bool = False) -> None:
    original = getattr(module, name)
    calls = {"count": 0}

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        calls["count"] += 1
        if before and calls["count"] == n:
            freeze(sentinel)
        value = original(*args, **kwargs)
        if not before and calls["count"] == n:
            freeze(sentinel)
        return value

    setattr(module, name, wrapper)


def run_load(point: str, sentinel: Path, paths: list[str]) -> None:
    import ingest.commit as commit
    import ingest.loader as loader

    if point == "rows_written":
        # _insert_arrow is called for submissions, status_reports, quarantine in this order; the
        # second file's submissions insert is call 4.
        after_nth_call(commit, "_insert_arrow", 4, sentinel)
    elif point == "before_commit":
        after_nth_call(commit, "_mark_superseded", 2, sentinel)
    elif point == "after_commit":
        after_nth_call(commit, "_store", 2, sentinel, before=True)
    else:
        raise SystemExit(f"unknown point {point}")
    results = loader.load_paths(paths or None)
    print([result.status for result in results])


def run_publish(point: str, sentinel: Path) -> None:
    import warehouse.publish as publish
    from quality.gate import run_gate

    if point == "copying_marts":
        original = publish._copy_marts

        def half_copied(con, parquet_dir, *args, **kwargs):
            con.execute("CREATE SCHEMA marts")
            con.execute("CREATE TABLE marts.half_written AS SELECT 1 AS x")
            con.execute("CHECKPOINT")
            freeze(sentinel)
            return original(con, parquet_dir, *args, **kwargs)

        publish._copy_marts = half_copied
    elif point == "before_manifest":
        after_nth_call(publish, "replace_symlink", 1, sentinel)  # the flip of `current`
    else:
        raise SystemExit(f"unknown point {point}")
    print(publish.publish(gate=run_gate()))  # orchestration runs the gate, publication takes it


if __name__ == "__main__":
    step, point, sentinel_path, *rest = sys.argv[1:]
    if step == "load":
        run_load(point, Path(sentinel_path), rest)
    elif step == "publish":
        run_publish(point, Path(sentinel_path))
    else:
        raise SystemExit(f"unknown step {step}")
