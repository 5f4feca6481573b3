"""Measuring a child process: wall time, CPU time and peak memory, plus the machine it ran on.

Every figure is taken in a fresh child process so that one measurement's memory never leaks into
the next: ``os.wait4`` returns the child's resource usage, whose ``ru_maxrss`` on Linux is the
peak resident set of the child *or any descendant it waited for* (dbt under a task, DuckDB inside
dbt). The whole tree's resident memory is also sampled with psutil (sum over the tree, every
0.1 s) when psutil is installed, since two processes of one stage may be alive at once.

The child is started through a launcher (:data:`LAUNCHER`, a bare interpreter of a few MiB) that
spawns the command and reports the command's ``ru_maxrss``: Linux carries a process's peak
resident set across ``exec`` (the program that execs inherits the high-water mark of the memory
it replaces, i.e. of the forking parent's), so a command forked straight from the benchmark runner
reported the runner's own peak as its floor: after generating the national files in-process the
runner had peaked at 964 MiB, and the ingest, alerts and worker-parse stages of the national
60-month run all showed exactly 964.0 MiB (``tests/bench/test_measure.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scorecard.core.settings import REPO_ROOT

MIB = 1024 * 1024


@dataclass
class Measured:
    """One child process, measured."""

    argv: list[str]
    returncode: int
    seconds: float
    peak_rss_bytes: int  # largest single process (the child or a waited-for descendant)
    tree_rss_bytes: int | None  # peak of the sampled sum over the process tree (psutil), if known
    cpu_user: float
    cpu_system: float
    stdout: str = ""
    stderr: str = ""
    payload: dict[str, Any] = field(default_factory=dict)  # the JSON a bench task wrote, if any

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def peak_mib(self) -> float:
        return round(max(self.peak_rss_bytes, self.tree_rss_bytes or 0) / MIB, 1)

    def summary(self) -> dict[str, Any]:
        """The figures kept in a result file (no output text beyond a short tail on failure)."""
        data = asdict(self)
        data.pop("stdout")
        data.pop("stderr")
        data["peak_mib"] = self.peak_mib
        if not self.ok:
            data["stderr_tail"] = self.stderr.strip().splitlines()[-15:]
            data["stdout_tail"] = self.stdout.strip().splitlines()[-15:]
        return data


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is in the environment
            return
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop_event.is_set():
            total = 0
            try:
                # the root is the launcher: its descendants are the command's tree
                processes = root.children(recursive=True)
            except psutil.Error:
                break
            for process in processes:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()


# Spawns argv[2:], waits for it and writes its resource usage as JSON to argv[1]; exits as the
# command did. Run with -I -S: no site-packages, so the launcher stays a few MiB and the command
# inherits only that as its floor (module docstring).
LAUNCHER = """
import json, os, signal, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"maxrss_kib": usage.ru_maxrss, "utime": usage.ru_utime, "stime": usage.ru_stime}, out)
code = os.waitstatus_to_exitcode(status)
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def _kill_tree(pid: int) -> None:
    """Kill a launcher and everything under it (a command that ran past its timeout)."""
    import psutil

    with contextlib.suppress(psutil.Error):
        for process in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                process.kill()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def run_measured(
    argv: list[str],
    env: dict[str, str] | None = None,
    *,
    cwd: Path | None = None,
    payload_path: Path | None = None,
    timeout: float | None = None,
) -> Measured:
    """Run ``argv`` to completion and measure it. ``payload_path``: a JSON file the child writes
    (a bench task's own figures), read back into ``Measured.payload``."""
    if payload_path is not None:
        payload_path.unlink(missing_ok=True)
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.monotonic_ns()}"
    usage_path = Path(f"{out_path}.usage")
    launched = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(usage_path), *[str(part) for part in argv]]
    with open(f"{out_path}.out", "w+b") as out, open(f"{out_path}.err", "w+b") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(launched, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        deadline = None if timeout is None else started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                _kill_tree(proc.pid)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        sampler.stop()
        sampler.join(timeout=2)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", errors="replace")
        stderr = err.read().decode("utf-8", errors="replace")
    # The command's own usage from the launcher; the launcher's (floored by this process's peak)
    # only when the command never ran to completion (killed on timeout).
    try:
        reported = json.loads(usage_path.read_text(encoding="utf-8"))
        maxrss_kib, cpu_user, cpu_system = reported["maxrss_kib"], reported["utime"], reported["stime"]
    except (OSError, ValueError, KeyError):
        maxrss_kib, cpu_user, cpu_system = usage.ru_maxrss, usage.ru_utime, usage.ru_stime
    for suffix in (".out", ".err", ".usage"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    payload: dict[str, Any] = {}
    if payload_path is not None and payload_path.exists():
        payload = json.loads(payload_path.read_text(encoding="utf-8"))
    return Measured(
        argv=[str(part) for part in argv],
        returncode=proc.returncode,
        seconds=round(seconds, 3),
        peak_rss_bytes=maxrss_kib * 1024,  # KiB on Linux
        tree_rss_bytes=sampler.peak or None,
        cpu_user=round(cpu_user, 3),
        cpu_system=round(cpu_system, 3),
        stdout=stdout,
        stderr=stderr,
        payload=payload,
    )


def run_task(
    task: str, args: list[str], env: dict[str, str], work: Path, *, timeout: float | None = None
) -> Measured:
    """``python -m bench.tasks <task> --out <json> <args>`` in a fresh child, measured."""
    work.mkdir(parents=True, exist_ok=True)
    payload_path = work / f"{task}-{time.monotonic_ns()}.json"
    argv = [sys.executable, "-m", "bench.tasks", task, "--out", str(payload_path), *args]
    measured = run_measured(argv, env, cwd=REPO_ROOT, payload_path=payload_path, timeout=timeout)
    payload_path.unlink(missing_ok=True)
    return measured


# --- the machine ---------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return None


def code_state() -> dict[str, Any]:
    """Which code was measured: the commit, and when the (possibly uncommitted) loader, models and
    warehouse sources last changed - the figures move when they do."""
    state: dict[str, Any] = {}
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        state["git_head"] = head.stdout.strip() or None
    except OSError:
        state["git_head"] = None
    for name, pattern in (
        ("ingest", "ingest/*.py"),
        ("dbt_models", "dbt_project/models/**/*.sql"),
        ("warehouse", "warehouse/*.py"),
    ):
        mtimes = [path.stat().st_mtime for path in REPO_ROOT.glob(pattern)]
        state[f"{name}_changed"] = (
            datetime.fromtimestamp(max(mtimes), UTC).isoformat(timespec="seconds") if mtimes else None
        )
    return state


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (others' work on a shared machine shows here)."""
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, OS and the versions that matter to the figures."""
    memory = _memory_bytes()
    return {
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(memory / 1024**3, 1) if memory else None,
        "cpu_model": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": _version("duckdb"),
        "dbt_core": _version("dbt-core"),
        "dbt_duckdb": _version("dbt-duckdb"),
        "airflow": _version("apache-airflow"),
        "pandas": _version("pandas"),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code_state(),
        "load_average_at_start": load_average(),
    }
