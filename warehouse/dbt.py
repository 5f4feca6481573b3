"""Run dbt as a subprocess, and build on a shadow copy of the warehouse.

dbt's in-process runner keeps the DuckDB file locked until the Python process exits, which would
block the Soda gate and publication that follow in the same process, so dbt always runs as a
child process here.

dbt builds model by model, each in its own transaction: a build killed midway would leave the
marts mixing old and new tables. ``dbt_build`` therefore builds a copy of the warehouse and swaps
it into place (``os.replace``) only when the whole build passed; a killed or failed build leaves
the warehouse exactly as it was (the failed copy is kept beside it for inspection).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ingest.schema import ensure_raw_schema
from scorecard.config import Settings, get_settings


@dataclass(frozen=True)
class DbtResult:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_executable() -> str:
    """The dbt in this interpreter's environment (not whatever is first on PATH)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


SHADOW_NAME = ".warehouse.building.duckdb"
FAILED_BUILD_NAME = "warehouse.failed-build.duckdb"


def prepare_warehouse(settings: Settings) -> None:
    """Create the raw schema (so sources resolve on an empty warehouse) and checkpoint, so that
    the database file alone holds everything (no write-ahead log to lose when it is copied)."""
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
    prepare_warehouse(settings)
    env = settings.subprocess_env()
    if warehouse is not None:
        env["SCORECARD_WAREHOUSE"] = str(warehouse)
    command = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_project_dir),
    ]
    proc = subprocess.run(
        command,
        cwd=settings.dbt_project_dir,
        env=env,
        capture_output=not echo,
        text=True,
        check=False,
    )
    return DbtResult(command, proc.returncode, proc.stdout or "", proc.stderr or "")


def dbt_build(
    settings: Settings | None = None, *, select: str | None = None, echo: bool = False
) -> DbtResult:
    """``dbt build`` (seeds, models, tests, unit tests), optionally restricted by ``--select``,
    on a shadow copy that replaces the warehouse only if the build passed."""
    settings = settings or get_settings()
    args = ["build"]
    if select:
        args += ["--select", select]
    prepare_warehouse(settings)
    live = settings.warehouse_path
    shadow = live.with_name(SHADOW_NAME)
    for leftover in (shadow, shadow.with_name(shadow.name + ".wal")):
        leftover.unlink(missing_ok=True)  # a copy left by a build that was killed
    shutil.copyfile(live, shadow)
    result = run_dbt(args, settings, echo=echo, warehouse=shadow)
    if result.ok:
        os.replace(shadow, live)
    else:
        os.replace(shadow, live.with_name(FAILED_BUILD_NAME))
    shadow.with_name(shadow.name + ".wal").unlink(missing_ok=True)
    return result
