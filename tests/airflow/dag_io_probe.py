"""Run DAG files the way a DAG processor would and report each one's own cost and I/O (a test helper).

Usage: python dag_io_probe.py DAG_FILE [DAG_FILE...]. Airflow, its timetables and pendulum are
imported first: that is the library's fixed cost, paid once per DAG-processor process, not the DAG
file's. Then each file is executed in a child forked from that process (as Airflow's DAG processor
forks one per file), so no file sees the modules another one imported, with an audit hook that
records file, directory, process, socket and database access made by code in ``dags/`` or
``scorecard/`` (imports themselves are not counted).
Prints one JSON line per file, in order: {"file": ..., "seconds": ..., "io": [...],
"heavy_modules": [...]}, or {"file": ..., "error": ...} for a file that raised; exit 1 then.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
import traceback
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


def probe(dag_file: str) -> dict:
    sys.addaudithook(hook)
    start = time.perf_counter()
    runpy.run_path(dag_file, run_name="probe_dag_module")
    seconds = time.perf_counter() - start
    heavy = [m for m in HEAVY if m in sys.modules]
    return {"file": dag_file, "seconds": seconds, "io": io_calls, "heavy_modules": heavy}


def probe_in_child(dag_file: str) -> bool:
    """Probe one file in a forked child, which prints its line; True when it did not raise."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            print(json.dumps(probe(dag_file)))
            code = 0
        except BaseException:
            print(json.dumps({"file": dag_file, "error": traceback.format_exc()[-3000:]}))
            code = 1
        sys.stdout.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status):
        print(json.dumps({"file": dag_file, "error": f"the child ended with status {status}"}))
        return False
    return os.WEXITSTATUS(status) == 0


def main() -> None:
    ok = [probe_in_child(dag_file) for dag_file in sys.argv[1:]]
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
