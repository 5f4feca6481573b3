"""Run one DAG file the way a DAG processor would and report its own cost and I/O (a test helper).

Usage: python dag_io_probe.py DAG_FILE. Airflow, its timetables and pendulum are imported first:
that is the library's fixed cost, paid once per DAG-processor process, not the DAG file's. Then the
file is executed with an audit hook that records file, directory, process, socket and database
access made by code in ``dags/`` or ``scorecard/`` (imports themselves are not counted).
Prints one JSON line: {"seconds": ..., "io": [...], "heavy_modules": [...]}.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
from pathlib import Path

import airflow.sdk
import airflow.sdk.definitions.timetables.trigger  # noqa: F401
import croniter  # noqa: F401
import pendulum  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
EXTRA_ROOT = os.environ.get("DAG_IO_PROBE_EXTRA_ROOT")  # for the probe's own test
OURS = tuple(
    root.rstrip("/") + "/" for root in (str(REPO / "dags"), str(REPO / "scorecard"), EXTRA_ROOT) if root
)
WATCHED = {
    "open",
    "os.listdir",
    "os.scandir",
    "os.walk",
    "os.mkdir",
    "os.rename",
    "os.remove",
    "os.chmod",
    "shutil.copyfile",
    "shutil.move",
    "subprocess.Popen",
    "socket.connect",
    "socket.getaddrinfo",
    "sqlite3.connect",
    "urllib.Request",
}
HEAVY = ("duckdb", "dbt", "soda_core", "pandas", "openpyxl", "pyarrow", "ingest.loader", "quality.gate")
io_calls: list[str] = []


def hook(event: str, args: tuple) -> None:
    if event not in WATCHED:
        return
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if "importlib" in filename:
            return  # part of importing a module
        if filename.startswith(OURS):
            io_calls.append(f"{event} {str(args[0])[:200] if args else ''} at {filename}:{frame.f_lineno}")
            return
        frame = frame.f_back


def main() -> None:
    dag_file = sys.argv[1]
    sys.addaudithook(hook)
    start = time.perf_counter()
    runpy.run_path(dag_file, run_name="probe_dag_module")
    seconds = time.perf_counter() - start
    heavy = [m for m in HEAVY if m in sys.modules]
    print(json.dumps({"seconds": seconds, "io": io_calls, "heavy_modules": heavy}))


if __name__ == "__main__":
    main()
