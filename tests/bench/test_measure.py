"""bench.measure: a stage's peak memory is its own, never the benchmark runner's.

Linux carries a process's peak resident set across exec, so a command forked straight from a
runner that had once grown large reported the runner's peak as its own (the national 60-month run
showed exactly 964.0 MiB for several small stages). Each scenario runs in a fresh interpreter so
that the pytest process's own peak plays no part.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from scorecard.core.settings import REPO_ROOT

MIB = 1024 * 1024


def _measure_from_a_large_parent(command: str, parent_mib: int) -> dict[str, float]:
    """In a fresh interpreter: grow to ``parent_mib`` MiB, free it, then measure ``command`` (Python
    code run by a child interpreter) with bench.measure.run_measured; its figures."""
    script = f"""
import json, sys
from pathlib import Path
ballast = b"x" * ({parent_mib} * 1024 * 1024)  # written, so resident
del ballast
hwm = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
           if line.startswith("VmHWM:"))
from bench.measure import run_measured
measured = run_measured([sys.executable, "-c", {command!r}])
print(json.dumps({{"parent_hwm_mib": hwm / 1024, "peak_rss_mib": measured.peak_rss_bytes / 2**20,
                  "tree_rss_mib": (measured.tree_rss_bytes or 0) / 2**20,
                  "peak_mib": measured.peak_mib, "returncode": measured.returncode}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=300
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_small_command_is_not_charged_the_parents_peak() -> None:
    figures = _measure_from_a_large_parent("pass", parent_mib=600)
    assert figures["parent_hwm_mib"] >= 600  # the scenario holds: the parent did peak high
    assert figures["returncode"] == 0
    # a bare interpreter is a few tens of MiB; before the launcher it was charged >= 600 MiB
    assert 0 < figures["peak_rss_mib"] < 150, figures
    assert figures["peak_mib"] < 150, figures


def test_the_commands_own_memory_and_its_descendants_are_counted() -> None:
    grandchild = "b = b'y' * (300 * 1024 * 1024)"
    command = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}], check=True)"
    figures = _measure_from_a_large_parent(command, parent_mib=50)
    assert figures["returncode"] == 0
    assert figures["peak_rss_mib"] >= 300, figures


def test_exit_status_and_signals_come_through(tmp_path: Path) -> None:
    from bench.measure import run_measured

    assert run_measured([sys.executable, "-c", "raise SystemExit(3)"]).returncode == 3
    killed = run_measured([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"])
    assert killed.returncode == -15
    out = tmp_path / "payload.json"
    code = f"import json; open({str(out)!r}, 'w').write(json.dumps({{'rows': 7}}))"
    assert run_measured([sys.executable, "-c", code], payload_path=out).payload == {"rows": 7}


def test_a_command_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    import psutil

    from bench.measure import run_measured

    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-I', '-S', '-c', 'import time; time.sleep(600)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid)); time.sleep(600)"
    )
    # -I -S: an interpreter without site starts in a fraction of a second even on a loaded machine,
    # well inside the timeout, so the command has spawned its child and written its pid when killed
    measured = run_measured([sys.executable, "-I", "-S", "-c", code], timeout=10)
    assert measured.returncode != 0
    assert pid_file.is_file(), "the command was killed before it started its child: raise the timeout"
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the command's child {grandchild} outlived the timeout")
