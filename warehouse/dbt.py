"""Run dbt as a subprocess, and build on a shadow copy of the warehouse.

dbt's in-process runner keeps the DuckDB file locked until the Python process exits, which would
block the Soda gate and publication that follow in the same process, so dbt always runs as a
child process here: a fresh ``dbt`` subprocess, or a child forked by the warm dbt worker
(``warehouse.dbt_worker``, when ``SCORECARD_DBT_WORKER`` names its socket), which has dbt imported
and the project parsed already.

dbt builds model by model, each in its own transaction: a build killed midway would leave the
marts mixing old and new tables. ``dbt_build`` therefore builds a copy of the warehouse and swaps
it into place (``os.replace``) only when the whole build passed; a killed or failed build leaves
the warehouse exactly as it was (the failed copy is kept beside it for inspection).

Two build modes (see docs/architecture.md, "Incremental builds"):

- ``full``: ``dbt build --full-refresh`` - seeds, every model rebuilt from scratch, every data
  and unit test. After code or seed changes, daily (the deadline tick) and by default on the CLI.
- ``incremental``: ``dbt build --selector after_submission`` - only what new submissions can
  change; the incremental models recompute only the departments whose files changed.

``auto`` picks ``incremental`` only when the last successful full build was made from the same
project files and the same settings (programme window, monitoring start, "today"), recorded
beside the warehouse; anything else gets a full build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scorecard.config import Settings, get_settings
from warehouse import dbt_worker

log = logging.getLogger(__name__)

BuildMode = Literal["full", "incremental", "auto"]
BUILD_MODES: tuple[str, ...] = ("full", "incremental", "auto")
# The selector (dbt_project/selectors.yml) of a build after new submissions.
INCREMENTAL_SELECTOR = "after_submission"


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


def dbt_executable() -> str:
    """The dbt in this interpreter's environment (not whatever is first on PATH)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


SHADOW_NAME = ".warehouse.building.duckdb"
FAILED_BUILD_NAME = "warehouse.failed-build.duckdb"


def shadow_path(settings: Settings) -> Path:
    """Where a build writes before it is swapped in (beside the live warehouse)."""
    return settings.warehouse_path.with_name(SHADOW_NAME)


def prepare_warehouse(settings: Settings) -> None:
    """Create the raw schema (so sources resolve on an empty warehouse) and checkpoint, so that
    the database file alone holds everything (no write-ahead log to lose when it is copied)."""
    import duckdb

    from ingest.schema import ensure_raw_schema

    settings.home.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_raw_schema(con)
        con.execute("CHECKPOINT")


def run_dbt(
    args: list[str],
    settings: Settings | None = None,
    *,
    echo: bool = False,
    warehouse: Path | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` against the configured project and warehouse (or ``warehouse``)."""
    settings = settings or get_settings()
    if warehouse is None:  # a build on a shadow copy prepared the live warehouse before copying
        prepare_warehouse(settings)
    env = _dbt_env(settings, warehouse)
    dbt_args = _project_args(settings, args)
    command = [dbt_executable(), *dbt_args]
    if settings.dbt_worker is not None:
        reply = _run_in_worker(settings.dbt_worker, dbt_args, env, settings.dbt_project_dir)
        if reply is not None:
            if echo:
                print(reply.stdout, end="", flush=True)
                print(reply.stderr, end="", file=sys.stderr, flush=True)
            return DbtResult(
                command,
                reply.returncode,
                reply.stdout,
                reply.stderr,
                via="worker",
                max_rss_kib=reply.max_rss_kib,
            )
    proc = subprocess.run(
        command,
        cwd=settings.dbt_project_dir,
        env=env,
        capture_output=not echo,
        text=True,
        check=False,
    )
    return DbtResult(command, proc.returncode, proc.stdout or "", proc.stderr or "")


def _dbt_env(settings: Settings, warehouse: Path | None) -> dict[str, str]:
    env = settings.subprocess_env()
    if warehouse is not None:
        env["SCORECARD_WAREHOUSE"] = str(warehouse)
    return env


def _project_args(settings: Settings, args: list[str]) -> list[str]:
    project = str(settings.dbt_project_dir)
    return [*args, "--project-dir", project, "--profiles-dir", project]


def warm_worker(settings: Settings | None = None) -> bool:
    """Have the dbt worker (if one is configured and listening) parse the project now, with the
    environment of a build, so that the first build after a quiet period starts at once."""
    settings = settings or get_settings()
    if settings.dbt_worker is None:
        return False
    reply = dbt_worker.request(
        settings.dbt_worker,
        _project_args(settings, ["parse"]),
        _dbt_env(settings, shadow_path(settings)),
        settings.dbt_project_dir,
        prepare=True,
    )
    return reply is not None and reply.returncode == 0


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
    live = settings.warehouse_path
    return live.with_name(live.stem + ".full-build.json")


def resolve_mode(settings: Settings, mode: BuildMode) -> str:
    """``auto`` -> ``incremental`` when the last full build matches today's project and settings
    (and its warehouse is still here), else ``full``."""
    if mode != "auto":
        return mode
    state_path = full_build_state_path(settings)
    if not settings.warehouse_path.exists() or not state_path.exists():
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
) -> DbtResult:
    """``dbt build`` on a shadow copy that replaces the warehouse only if the build passed.

    Args:
        settings: runtime settings (default: from the environment).
        select: a dbt ``--select`` expression instead of the mode's node set.
        mode: ``full`` (``--full-refresh``, everything), ``incremental`` (the
            ``after_submission`` selector, incremental models) or ``auto`` (see
            :func:`resolve_mode`).
        echo: let dbt print to this process's stdout instead of capturing it.
    """
    settings = settings or get_settings()
    if mode not in BUILD_MODES:
        raise ValueError(f"unknown build mode {mode!r}; expected one of {', '.join(BUILD_MODES)}")
    effective = resolve_mode(settings, mode)
    args = ["build"]
    if select:
        args += ["--select", select]
    elif effective == "incremental":
        args += ["--selector", INCREMENTAL_SELECTOR]
    if effective == "full":
        args.append("--full-refresh")
    fingerprint = build_fingerprint(settings) if effective == "full" and not select else None
    prepare_warehouse(settings)
    live = settings.warehouse_path
    shadow = shadow_path(settings)
    for leftover in (shadow, shadow.with_name(shadow.name + ".wal")):
        leftover.unlink(missing_ok=True)  # a copy left by a build that was killed
    shutil.copyfile(live, shadow)
    result = run_dbt(args, settings, echo=echo, warehouse=shadow)
    result = dataclasses.replace(result, mode=effective)
    state_path = full_build_state_path(settings)
    if result.ok:
        if fingerprint is not None:
            state_path.unlink(missing_ok=True)  # a crash before the write below means "full next"
        os.replace(shadow, live)
        if fingerprint is not None:
            state_path.write_text(json.dumps({"fingerprint": fingerprint}), encoding="utf-8")
    else:
        os.replace(shadow, live.with_name(FAILED_BUILD_NAME))
    shadow.with_name(shadow.name + ".wal").unlink(missing_ok=True)
    return result
