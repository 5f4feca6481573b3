"""Run dbt as a subprocess.

dbt's in-process runner keeps the DuckDB file locked until the Python process exits, which would
block the Soda gate and publication that follow in the same process, so dbt always runs as a
child process here.
"""

from __future__ import annotations

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


def run_dbt(args: list[str], settings: Settings | None = None, *, echo: bool = False) -> DbtResult:
    """Run ``dbt <args>`` against the configured project and warehouse.

    The raw schema is created first so that sources resolve on an empty warehouse.
    """
    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_raw_schema(con)
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
        env=settings.subprocess_env(),
        capture_output=not echo,
        text=True,
        check=False,
    )
    return DbtResult(command, proc.returncode, proc.stdout or "", proc.stderr or "")


def dbt_build(
    settings: Settings | None = None, *, select: str | None = None, echo: bool = False
) -> DbtResult:
    """``dbt build`` (seeds, models, tests, unit tests), optionally restricted by ``--select``."""
    args = ["build"]
    if select:
        args += ["--select", select]
    return run_dbt(args, settings, echo=echo)
