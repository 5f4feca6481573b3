"""Builds the workers of a parallel run share (`pytest -n 2`, pytest-xdist): made once per run by
the first worker that asks, read by the others. Imported by tests/conftest.py and
tests/airflow/conftest.py (a module of its own, so that no conftest imports another)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock


def xdist_worker() -> str | None:
    """This process's pytest-xdist worker id (gw0, gw1, ...), or None when pytest runs alone."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def build_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict[str, Any]]
) -> tuple[Path, dict[str, Any], bool]:
    """``build(directory)`` once per test run: (directory, what it returned, built by this process).

    Alone, pytest builds in a new directory of its session. Under pytest-xdist the workers share
    one directory of the run (``getbasetemp().parent``: this run's numbered directory, the parent
    of every worker's own basetemp), and a file lock in it: the first worker to ask builds and
    records ``build``'s JSON result (or its failure) beside it; the others wait for the lock and
    read the record (pytest-xdist's documented pattern for a session fixture run once)."""
    worker = xdist_worker()
    if worker is None:
        work = tmp_path_factory.mktemp(name)
        return work, build(work), True
    root = tmp_path_factory.getbasetemp().parent
    work, record_file = root / name, root / f"{name}.json"
    with FileLock(root / f"{name}.lock"):
        if record_file.is_file():
            record = json.loads(record_file.read_text(encoding="utf-8"))
            built_here = False
        else:
            work.mkdir()
            try:
                record = {"result": build(work)}
            except Exception as error:
                failure = {"failed": f"{type(error).__name__}: {error}", "worker": worker}
                record_file.write_text(json.dumps(failure), encoding="utf-8")
                raise
            record_file.write_text(json.dumps(record), encoding="utf-8")
            built_here = True
    if "failed" in record:
        raise RuntimeError(f"{name} failed in worker {record['worker']}: {record['failed']}")
    return work, record["result"], built_here
