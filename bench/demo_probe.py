"""``make demo`` on a fresh clone, as a newcomer runs it (issue #22's goal: <= 90 s, <= 45 s from
the drop to publication).

    python -m bench.run --only demo

1. ``git clone`` of this repository into the work folder, checked out at the commit measured
   (uncommitted changes are not in the clone; the result says whether there were any);
2. ``make install`` there (its own ``.venv`` from ``uv.lock``; uv's download cache is the
   machine's, as on a developer's machine that has installed anything before), timed apart;
3. ``make demo PORT=<free port>`` there, with none of this process's ``SCORECARD_*``, ``DBT_*``
   or ``AIRFLOW*`` settings (the clone's defaults: ``var/`` inside the clone);
4. the demo's own figures from its last line ``timings: airflow healthy 19.2 s, drop to
   publication 50.1 s, drop to report 54.0 s, total 80.3 s`` (:func:`parse_timings`), beside the
   wall time of ``make demo`` (which adds ``make``'s check of the install and the stop of
   Airflow after the summary).

The goal is judged on the demo's own ``total`` and ``drop to publication`` (``bench.goals``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.measure import load_average, run_measured
from scorecard.core.settings import REPO_ROOT

#: The demo's last timing line (scorecard.demo.summarise): "timings: <name> <seconds> s, ...".
TIMINGS_LINE = re.compile(r"^timings: (?P<items>.+)$", re.MULTILINE)
TIMING_ITEM = re.compile(r"^(?P<name>.+?) (?P<seconds>[0-9]+(?:\.[0-9]+)?) s$")
#: Environment prefixes that would point the clone at this checkout's data, dbt project, worker
#: or Airflow home instead of its own defaults.
FOREIGN_PREFIXES = ("SCORECARD_", "DBT_", "AIRFLOW", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
#: Longer than the demo's own wait for publication (1800 s), so the demo fails and stops its
#: Airflow itself before the probe would give up on it.
TIMEOUT_SECONDS = 2400


def parse_timings(output: str) -> dict[str, float]:
    """The demo's timings (seconds by name) from its output; empty when it printed none."""
    matches = list(TIMINGS_LINE.finditer(output))
    if not matches:
        return {}
    timings: dict[str, float] = {}
    for item in matches[-1].group("items").split(", "):
        found = TIMING_ITEM.match(item.strip())
        if found:
            timings[found.group("name")] = float(found.group("seconds"))
    return timings


def clean_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without the settings that belong to this checkout (:data:`FOREIGN_PREFIXES`)."""
    environ = dict(os.environ if environ is None else environ)
    return {key: value for key, value in environ.items() if not key.startswith(FOREIGN_PREFIXES)}


def _git(*args: str, cwd: Path = REPO_ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def _tail(text: str, lines: int = 25) -> list[str]:
    return text.strip().splitlines()[-lines:]


def run(work: Path, port: int | None = None) -> dict[str, Any]:
    """The probe; returns the figures for ``bench/results/demo.json``."""
    from bench.airflow_latency import free_port

    clone = work / "clone"
    shutil.rmtree(clone, ignore_errors=True)
    clone.parent.mkdir(parents=True, exist_ok=True)
    commit = _git("rev-parse", "HEAD")
    figures: dict[str, Any] = {
        "description": (
            "make demo on a fresh git clone of the commit measured: make install (own .venv, the "
            "machine's uv cache), then make demo; the demo's own timings line, beside make's wall time"
        ),
        "commit": commit[:12],
        "uncommitted_changes_not_measured": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }
    _git("clone", "--quiet", str(REPO_ROOT), str(clone), cwd=work)
    _git("checkout", "--quiet", "--detach", commit, cwd=clone)
    env = clean_env()
    port = port or free_port(8891)
    figures["port"] = port

    load = load_average()
    install = run_measured(["make", "install"], env, cwd=clone, timeout=TIMEOUT_SECONDS)
    figures["make_install"] = {
        "seconds": install.seconds,
        "returncode": install.returncode,
        "load_average": load,
    }
    if not install.ok:
        figures["error"] = f"make install failed (exit {install.returncode})"
        figures["make_install"]["stderr_tail"] = _tail(install.stderr)
        return figures

    load = load_average()
    demo = run_measured(["make", "demo", f"PORT={port}"], env, cwd=clone, timeout=TIMEOUT_SECONDS)
    timings = parse_timings(demo.stdout)
    figures["make_demo"] = {
        "seconds": demo.seconds,
        "returncode": demo.returncode,
        "load_average_at_start": load,
        "load_average_at_end": load_average(),
        "cpu_user": demo.cpu_user,
        "cpu_system": demo.cpu_system,
    }
    figures["timings"] = timings
    figures["stdout_tail"] = [line for line in demo.stdout.splitlines() if line.startswith("[demo")][-25:]
    if not demo.ok:
        figures["error"] = f"make demo failed (exit {demo.returncode})"
        figures["stderr_tail"] = _tail(demo.stderr)
    elif "total" not in timings or "drop to publication" not in timings:
        figures["error"] = "make demo printed no timings line"
    else:
        figures["total_s"] = timings["total"]
        figures["drop_to_publication_s"] = timings["drop to publication"]
        figures["goal"] = {
            "target": "demo total <= 90 s, drop to publication <= 45 s",
            "met": timings["total"] <= 90 and timings["drop to publication"] <= 45,
        }
    if figures.get("error") is None:
        shutil.rmtree(clone, ignore_errors=True)
    return figures
