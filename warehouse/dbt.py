"""Run dbt as a subprocess, and build on a shadow copy of the warehouse; ``scorecard build``.

dbt's in-process runner keeps the DuckDB file locked until the Python process exits, which would
block the Soda gate and publication that follow in the same process, so dbt always runs as a
child process here: a fresh ``dbt`` subprocess, or a child forked by the warm dbt worker
(``warehouse.dbt_worker``, when ``SCORECARD_DBT_WORKER`` names its socket), which has dbt imported
and the project parsed already.

dbt builds model by model, each in its own transaction: a build killed midway leaves the marts
mixing old and new tables. Readers never see that (they read published snapshots, and nothing is
published from an unfinished build), and the two build modes deal with it differently:

- a **full** build runs on a copy of the warehouse that is swapped into place (``os.replace``)
  only when the whole build passed; a killed or failed full build leaves the warehouse exactly as
  it was (the failed copy is kept beside it for inspection);
- an **incremental** build runs in place: copying the whole warehouse would cost more than the
  build itself at national size (issue #8). Every incremental model writes its rows and its
  per-measure state in one transaction, and every other model it runs is rebuilt whole, so what a
  killed build leaves is consistent model by model; but a data test that failed may have passed
  judgement on rows that are now in place and recorded as done. So an incremental build first
  leaves a marker beside the warehouse (:func:`unfinished_build_path`) and removes it only when
  the build passed. While the marker is there, ``auto`` builds are full (from scratch, every
  test), publication is refused (``warehouse.publish``), and only a full build that passed
  removes it.

Two build modes (see docs/architecture.md, "Incremental builds"):

- ``full``: ``dbt build --full-refresh`` - seeds, every model rebuilt from scratch, every data
  test. After code or seed changes, daily (the deadline tick) and by default on the CLI.
- ``incremental``: ``dbt build --selector after_submission`` - only what new submissions can
  change; the incremental models recompute only the departments whose files changed. When the
  raw tables' versions that the last build that passed read are recorded beside the warehouse
  (:func:`sources_built_path`), a narrower selector: only what the tables that moved since feed
  (:func:`incremental_selector`: a values file leaves the status-report chain alone).

Neither runs dbt's unit tests (:data:`WITHOUT_UNIT_TESTS`): they test the SQL, not the data, and
the test suite runs them (``dbt test --select test_type:unit``, tests/dbt/test_unit_tests.py).

``auto`` picks ``incremental`` only when the last successful full build was made from the same
project files and the same settings (programme window, monitoring start, "today"), recorded
beside the warehouse; anything else gets a full build.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from scorecard.core.durable import write_atomic
from scorecard.core.settings import Settings, get_settings
from warehouse import dbt_worker

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

BuildMode = Literal["full", "incremental", "auto"]
BUILD_MODES: tuple[str, ...] = ("full", "incremental", "auto")
# The selector (dbt_project/selectors.yml) of a build after new submissions: everything a file
# can change, the build when it is not known which raw tables moved since the last build.
INCREMENTAL_SELECTOR = "after_submission"
# The raw tables the loader writes (dbt's sources raw.*), whose versions a build records.
RAW_SOURCES: tuple[str, ...] = ("submissions", "status_reports", "quarantine", "file_ledger")
# The file-triggered build's selector by (raw.submissions moved, raw.status_reports moved) since
# the last build that passed: each of the narrower ones is after_submission less the models fed
# only by the data tables that did not move (a values file leaves the status-report chain alone).
# The file ledger and the quarantine move with nearly every file and feed little: always in.
INCREMENTAL_SELECTORS: dict[tuple[bool, bool], str] = {
    (True, True): INCREMENTAL_SELECTOR,
    (True, False): "after_values",
    (False, True): "after_status_reports",
    (False, False): "after_ledger",
}
# Every build of the pipeline leaves out dbt's unit tests: they test the models' SQL, not the data,
# and change only with the project (dbt's docs: run them in development and CI, exclude them in
# production). tests/dbt/test_unit_tests.py runs every one of them against the sample build.
WITHOUT_UNIT_TESTS: tuple[str, ...] = ("--exclude-resource-type", "unit_test")


@dataclass(frozen=True)
class DbtResult:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    mode: str = "full"
    # "worker" when a warm dbt worker ran it (warehouse.dbt_worker), else "subprocess"
    via: str = "subprocess"
    # the dbt process's peak resident memory, when the worker measured it
    max_rss_kib: int | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def selector(self) -> str | None:
        """The YAML selector the build ran (``--selector``), if any."""
        return dbt_worker.option_value(self.command, "--selector")


def dbt_executable() -> str:
    """The dbt in this interpreter's environment (not whatever is first on PATH)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


SHADOW_NAME = ".warehouse.building.duckdb"
FAILED_BUILD_NAME = "warehouse.failed-build.duckdb"


def shadow_path(settings: Settings) -> Path:
    """Where a full build writes before it is swapped in (beside the live warehouse)."""
    return settings.warehouse_path.with_name(SHADOW_NAME)


def _beside_warehouse(settings: Settings, suffix: str) -> Path:
    """``warehouse<suffix>`` in the warehouse's folder: the build's records about that file."""
    live = settings.warehouse_path
    return live.with_name(live.stem + suffix)


def unfinished_build_path(settings: Settings) -> Path:
    """Beside the warehouse while an incremental build runs in place, and after one that did not
    pass: the warehouse may hold a partial build until a full build passes."""
    return _beside_warehouse(settings, ".unfinished-build.json")


def unfinished_build(settings: Settings) -> dict[str, str] | None:
    """What the marker records (when the build started, its mode), or None when there is none."""
    path = unfinished_build_path(settings)
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"started_at": "?", "mode": "?"}  # unreadable: still unfinished


def prepare_warehouse(settings: Settings) -> dict[str, str]:
    """Create the raw schema (so sources resolve on an empty warehouse) and checkpoint, so that
    the database file alone holds everything (no write-ahead log to lose when it is copied).
    Returns the version of each raw table as the build will read it (:func:`raw_source_versions`)."""
    import duckdb

    from scorecard.core.raw_layer import ensure_raw_schema

    settings.home.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_raw_schema(con)
        con.execute("CHECKPOINT")
        return raw_source_versions(con)


def raw_source_versions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """``rows:max file_id:sum of file_ids`` of each raw table: the raw layer is append-only and
    file ids grow, so any row added or withdrawn moves it (as the per-measure versions of
    dbt_project/macros/incremental/measure_versions.sql). Read under the writer's lock, before
    dbt opens the file, so a build never records more than it read."""
    union = " union all ".join(
        f"select '{table}', concat_ws(':', count(*), max(file_id), sum(file_id)) from raw.{table}"
        for table in RAW_SOURCES
    )
    return {str(table): str(version) for table, version in con.execute(union).fetchall()}


def sources_built_path(settings: Settings) -> Path:
    """Beside the warehouse: the raw tables' versions that the last build that passed read."""
    return _beside_warehouse(settings, ".sources-built.json")


def incremental_selector(settings: Settings, versions: dict[str, str]) -> str:
    """The file-triggered build's selector: what the raw tables that moved since the last build
    that passed can change; everything (:data:`INCREMENTAL_SELECTOR`) without a readable record."""
    try:
        recorded = json.loads(sources_built_path(settings).read_text(encoding="utf-8"))["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return INCREMENTAL_SELECTOR
    moved = {table for table in RAW_SOURCES if recorded.get(table) != versions.get(table)}
    return INCREMENTAL_SELECTORS[("submissions" in moved, "status_reports" in moved)]


def record_sources_built(settings: Settings, versions: dict[str, str]) -> None:
    """After a build that passed: every model of it reflects these raw versions."""
    write_atomic(sources_built_path(settings), json.dumps({"sources": versions}, sort_keys=True))


def run_dbt(
    args: list[str],
    settings: Settings | None = None,
    *,
    echo: bool = False,
    warehouse: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` against the configured project and warehouse (or ``warehouse``).

    ``on_line`` is called with each line dbt prints, as it prints it (a subprocess; the warm
    worker answers only at the end, so its lines come then). Captured output has no colour codes.
    """
    settings = settings or get_settings()
    if warehouse is None:  # dbt_build prepared the live warehouse before building (or copying) it
        prepare_warehouse(settings)
    env = _dbt_env(settings, warehouse)
    if not (echo and sys.stdout.isatty()):
        env["DBT_USE_COLORS"] = "false"  # a log, a pipe or a summary line: no ANSI escapes
    dbt_args = _project_args(settings, args)
    command = [dbt_executable(), *dbt_args]
    if settings.dbt_worker is not None:
        reply = _run_in_worker(settings.dbt_worker, dbt_args, env, settings.dbt_project_dir)
        if reply is not None:
            if echo:
                print(reply.stdout, end="", flush=True)
                print(reply.stderr, end="", file=sys.stderr, flush=True)
            if on_line is not None:
                for line in reply.stdout.splitlines():
                    on_line(line)
            return DbtResult(
                command,
                reply.returncode,
                reply.stdout,
                reply.stderr,
                via="worker",
                max_rss_kib=reply.max_rss_kib,
            )
    if on_line is not None and not echo:
        return _run_streaming(command, settings, env, on_line)
    proc = subprocess.run(
        command,
        cwd=settings.dbt_project_dir,
        env=env,
        capture_output=not echo,
        text=True,
        check=False,
    )
    return DbtResult(command, proc.returncode, proc.stdout or "", proc.stderr or "")


def _run_streaming(
    command: list[str], settings: Settings, env: dict[str, str], on_line: Callable[[str], None]
) -> DbtResult:
    """A dbt subprocess whose stdout lines are handed to ``on_line`` as they come."""
    proc = subprocess.Popen(
        command,
        cwd=settings.dbt_project_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    stderr: list[str] = []
    drain = threading.Thread(target=lambda: stderr.extend(proc.stderr or []), daemon=True)
    drain.start()
    stdout: list[str] = []
    try:
        for line in proc.stdout or []:
            stdout.append(line)
            on_line(line.rstrip("\n"))
    finally:
        returncode = proc.wait()
        drain.join()
    return DbtResult(command, returncode, "".join(stdout), "".join(stderr))


def _dbt_env(settings: Settings, warehouse: Path | None) -> dict[str, str]:
    env = settings.subprocess_env()
    if warehouse is not None:
        env["SCORECARD_WAREHOUSE"] = str(warehouse)
    return env


def _project_args(settings: Settings, args: list[str]) -> list[str]:
    project = str(settings.dbt_project_dir)
    return [*args, "--project-dir", project, "--profiles-dir", project]


def warm_worker(settings: Settings | None = None) -> bool:
    """Have the dbt worker (if one is configured and listening) parse the project now for both
    kinds of build (a full build names the shadow copy, an incremental one the live warehouse;
    the worker keeps a manifest for each), so that the next build starts at once."""
    settings = settings or get_settings()
    if settings.dbt_worker is None:
        return False
    for warehouse in (shadow_path(settings), settings.warehouse_path):
        reply = dbt_worker.request(
            settings.dbt_worker,
            _project_args(settings, ["parse"]),
            _dbt_env(settings, warehouse),
            settings.dbt_project_dir,
            prepare=True,
        )
        if reply is None or reply.returncode != 0:
            return False
    return True


def _run_in_worker(
    socket_path: Path, args: list[str], env: dict[str, str], cwd: Path
) -> dbt_worker.WorkerReply | None:
    """The worker's answer; None (run dbt in a subprocess) when no worker listens there."""
    try:
        reply = dbt_worker.request(socket_path, args, env, cwd)
    except dbt_worker.WorkerError as exc:
        # It may have started the build: report a failure rather than building the same shadow
        # copy a second time; the caller (Airflow's retry, the next file) builds again.
        return dbt_worker.WorkerReply(returncode=2, stdout="", stderr=f"{exc}\n", parsed=False, max_rss_kib=0)
    if reply is None:
        log.warning("no dbt worker listens on %s; running dbt in a subprocess", socket_path)
    return reply


def build_fingerprint(settings: Settings) -> str:
    """A digest of everything a full build's output depends on besides the raw data: the dbt
    project's files and the settings the models read (window, monitoring start, "today")."""
    digest = hashlib.sha256(dbt_worker.project_digest(settings.dbt_project_dir).encode())
    clock = {
        "first_year": settings.first_year,
        "last_year": settings.last_year,
        "monitor_from": settings.monitor_from.isoformat(),
        "today": settings.today().isoformat(),
    }
    digest.update(json.dumps(clock, sort_keys=True).encode())
    return digest.hexdigest()


def full_build_state_path(settings: Settings) -> Path:
    """Beside the warehouse: the fingerprint of the last successful full build."""
    return _beside_warehouse(settings, ".full-build.json")


def resolve_mode(settings: Settings, mode: BuildMode) -> str:
    """``auto`` -> ``incremental`` when the last full build matches today's project and settings
    (and its warehouse is still here) and no build was left unfinished since, else ``full``."""
    if mode != "auto":
        return mode
    state_path = full_build_state_path(settings)
    if not settings.warehouse_path.exists() or not state_path.exists():
        return "full"
    if unfinished_build(settings) is not None:
        return "full"
    try:
        recorded = json.loads(state_path.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError):
        return "full"
    return "incremental" if recorded == build_fingerprint(settings) else "full"


def dbt_build(
    settings: Settings | None = None,
    *,
    select: str | None = None,
    mode: BuildMode = "full",
    echo: bool = False,
    on_line: Callable[[str], None] | None = None,
) -> DbtResult:
    """``dbt build``: a full build on a shadow copy that replaces the warehouse only if the build
    passed; an incremental build in place, marked unfinished until it passed (module docstring).

    Args:
        settings: runtime settings (default: from the environment).
        select: a dbt ``--select`` expression instead of the mode's node set (on a shadow copy).
        mode: ``full`` (``--full-refresh``, everything), ``incremental`` (the
            ``after_submission`` selector, incremental models) or ``auto`` (see
            :func:`resolve_mode`).
        echo: let dbt print to this process's stdout instead of capturing it.
        on_line: called with each line of dbt's output as it comes (progress).
    """
    settings = settings or get_settings()
    if mode not in BUILD_MODES:
        raise ValueError(f"unknown build mode {mode!r}; expected one of {', '.join(BUILD_MODES)}")
    effective = resolve_mode(settings, mode)
    if effective == "incremental" and not select:
        return dataclasses.replace(_build_in_place(settings, echo=echo, on_line=on_line), mode=effective)
    args = ["build"]
    if select:
        args += ["--select", select]
    if effective == "full":
        args.append("--full-refresh")
    args += WITHOUT_UNIT_TESTS
    fingerprint = build_fingerprint(settings) if effective == "full" and not select else None
    versions = prepare_warehouse(settings)
    live = settings.warehouse_path
    shadow = shadow_path(settings)
    for leftover in (shadow, shadow.with_name(shadow.name + ".wal")):
        leftover.unlink(missing_ok=True)  # a copy left by a build that was killed
    shutil.copyfile(live, shadow)
    result = run_dbt(args, settings, echo=echo, warehouse=shadow, on_line=on_line)
    result = dataclasses.replace(result, mode=effective)
    state_path = full_build_state_path(settings)
    if result.ok:
        if fingerprint is not None:
            state_path.unlink(missing_ok=True)  # a crash before the write below means "full next"
        os.replace(shadow, live)
        if fingerprint is not None:
            write_atomic(state_path, json.dumps({"fingerprint": fingerprint}))
            record_sources_built(settings, versions)
            # everything rebuilt from scratch and tested: nothing left of an unfinished build
            unfinished_build_path(settings).unlink(missing_ok=True)
    else:
        os.replace(shadow, live.with_name(FAILED_BUILD_NAME))
    shadow.with_name(shadow.name + ".wal").unlink(missing_ok=True)
    return result


def _build_in_place(
    settings: Settings, *, echo: bool, on_line: Callable[[str], None] | None = None
) -> DbtResult:
    """Run an incremental build on the live warehouse, marked unfinished until it passed. A
    marker left by an earlier build stays whatever this one does: only a full build clears it.
    It builds what the raw tables that moved since the last build can change
    (:func:`incremental_selector`), and records them when it passed."""
    versions = prepare_warehouse(settings)
    args = ["build", "--selector", incremental_selector(settings, versions), *WITHOUT_UNIT_TESTS]
    marker = unfinished_build_path(settings)
    earlier = unfinished_build(settings)
    if earlier is None:
        started = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "mode": "incremental"}
        write_atomic(marker, json.dumps(started))
    result = run_dbt(args, settings, echo=echo, warehouse=settings.warehouse_path, on_line=on_line)
    if result.ok:
        record_sources_built(settings, versions)
        if earlier is None:
            marker.unlink()
    return result


# --- the `scorecard build` command: run dbt build, follow its progress, summarise it ------------
# (formerly warehouse/build.py, folded here unchanged: it was only this module's command line)

MARTS_SCHEMA = "marts"
# run_results statuses that count as a failure of the build.
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# "12:00:01  7 of 412 OK created sql table model marts.fct_x .... [OK in 0.1s]"
_NODE_LINE = re.compile(r"^(?:\d\d:\d\d:\d\d\s+)?(\d+) of (\d+) (\S+) (.*?)(?:\s\.+\s*\[.*)?$")
# dbt's lines before the first node: the project was found and parsed
_PREAMBLE = re.compile(r"^(?:\d\d:\d\d:\d\d\s+)?(Running with dbt|Found \d+ |Concurrency: )")


def strip_ansi(text: str) -> str:
    return ANSI_ESCAPE.sub("", text)


class BuildProgress:
    """Turns dbt's output lines into a few progress lines 构建进度: the project found, every tenth of
    the nodes done, and every node that did not pass (as it happens, not at the end)."""

    def __init__(self, emit: Callable[[str], None], *, step_percent: int = 10) -> None:
        self.emit = emit
        self.step = step_percent
        self.next_percent = step_percent

    def __call__(self, line: str) -> None:
        text = strip_ansi(line).strip()
        match = _NODE_LINE.match(text)
        if match is None:
            if _PREAMBLE.match(text):
                self.emit(f"  dbt: {_PREAMBLE.sub(lambda m: m.group(1), text)}")
            return
        done, total, status, what = int(match[1]), int(match[2]), match[3], match[4].strip()
        if status == "START" or total == 0:
            return
        percent = done * 100 // total
        if status in {"OK", "PASS"} and percent < self.next_percent and done != total:
            return
        self.emit(f"  dbt {done}/{total} ({percent}%) {status} {what}")
        while self.next_percent <= percent:
            self.next_percent += self.step


@dataclass
class BuildSummary:
    ok: bool
    returncode: int
    by_status: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    mart_rows: dict[str, int] = field(default_factory=dict)
    mode: str = "full"

    @property
    def passed(self) -> int:
        return sum(n for status, n in self.by_status.items() if status not in FAILED_STATUSES | {"skipped"})

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.by_status.items() if status in FAILED_STATUSES)


def run_results_path(settings: Settings) -> Path:
    """Where dbt wrote run_results.json: DBT_TARGET_PATH when set, else the project's target/."""
    return dbt_worker.run_results_path(settings.dbt_project_dir, os.environ)


def read_run_results(path: Path) -> tuple[Counter, list[str]]:
    """Count node results by status and list the failed nodes (name: message)."""
    if not path.exists():
        return Counter(), []
    results = json.loads(path.read_text(encoding="utf-8")).get("results", [])
    by_status: Counter = Counter()
    failures: list[str] = []
    for result in results:
        status = str(result.get("status", "")).lower()
        by_status[status] += 1
        if status in FAILED_STATUSES:
            node = result.get("unique_id", "?")
            message = (result.get("message") or "").strip().splitlines()
            failures.append(f"{node}: {message[0] if message else status}")
    return by_status, failures


def mart_row_counts(settings: Settings) -> dict[str, int]:
    """Row count of every table in the marts schema (empty if the warehouse has none yet)."""
    import duckdb

    if not settings.warehouse_path.exists():
        return {}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = ? order by table_name",
                [MARTS_SCHEMA],
            ).fetchall()
        ]
        return {
            table: con.execute(f'select count(*) from "{MARTS_SCHEMA}"."{table}"').fetchone()[0]
            for table in tables
        }


def build(
    settings: Settings | None = None,
    *,
    select: str | None = None,
    mode: BuildMode = "full",
    on_line: Callable[[str], None] | None = None,
) -> BuildSummary:
    """Run ``dbt build`` in ``mode`` (see :func:`warehouse.dbt.dbt_build`) and summarise it;
    ``on_line`` gets dbt's output lines as they come (see :class:`BuildProgress`)."""
    settings = settings or get_settings()
    results_file = run_results_path(settings)
    results_file.unlink(missing_ok=True)  # never summarise a previous run
    result = dbt_build(settings, select=select, mode=mode, on_line=on_line)
    by_status, failures = read_run_results(results_file)
    if not result.ok and not failures:
        tail = strip_ansi(result.stdout + result.stderr).strip().splitlines()[-5:]
        failures = tail or [f"dbt exited with {result.returncode}"]
    return BuildSummary(
        ok=result.ok,
        returncode=result.returncode,
        by_status=by_status,
        failures=failures,
        mart_rows=mart_row_counts(settings),
        mode=result.mode,
    )


def format_summary(summary: BuildSummary) -> str:
    lines = [
        f"dbt build ({summary.mode}) {'OK' if summary.ok else 'FAILED'} (exit {summary.returncode}): "
        f"{summary.passed} passed, {summary.failed} failed"
        + (f", {summary.by_status['skipped']} skipped" if summary.by_status.get("skipped") else "")
        + (f", {summary.by_status['warn']} warnings" if summary.by_status.get("warn") else ""),
    ]
    lines += [f"  FAILED {failure}" for failure in summary.failures[:20]]
    if summary.mart_rows:
        lines.append("marts (rows):")
        width = max(len(name) for name in summary.mart_rows)
        lines += [f"  {name:<{width}}  {rows:>8}" for name, rows in summary.mart_rows.items()]
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--select", "-s", default=None, help="dbt node selection (default: everything)")
    parser.add_argument(
        "--mode",
        choices=BUILD_MODES,
        default="full",
        help="full: rebuild everything (default); incremental: only what new submissions change; "
        "auto: incremental when the last full build matches the project and settings",
    )


def run(args: argparse.Namespace) -> int:
    mode = getattr(args, "mode", "full")
    print(f"dbt build ({mode}) 开始构建 started: seeds, models and tests", flush=True)
    progress = BuildProgress(lambda text: print(text, flush=True))
    summary = build(select=getattr(args, "select", None), mode=mode, on_line=progress)
    print(format_summary(summary), flush=True)
    return 0 if summary.ok else 1
