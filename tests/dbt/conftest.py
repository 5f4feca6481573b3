"""One dbt build per session on the generated 2021-2025 sample, shared by the tests here.

The build runs in its own SCORECARD_HOME (warehouse, inbox, archive), with dbt's target/ and
logs/ in tmp, and the pipeline clock at 2026-01-15 (every programme year is over).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scorecard.core.settings import Settings, get_settings

AS_OF = "2026-01-15"


@dataclass(frozen=True)
class BuiltWarehouse:
    settings: Settings
    build_stdout: str
    build_ok: bool
    tmp: Path


def _env(monkeypatch: pytest.MonkeyPatch, home: Path, tmp: Path, project_dir: Path | None = None) -> None:
    monkeypatch.setenv("SCORECARD_HOME", str(home))
    monkeypatch.setenv("SCORECARD_AS_OF", AS_OF)
    monkeypatch.setenv("SCORECARD_MONITOR_FROM", "2026-01-01")
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp / "dbt-logs"))
    if project_dir is not None:
        monkeypatch.setenv("SCORECARD_DBT_PROJECT_DIR", str(project_dir))


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltWarehouse]:
    """Generate the sample, load it with the real loader, and run ``dbt build`` once."""
    from ingest.loader import load_paths
    from samples.generate import generate
    from warehouse.dbt import dbt_build

    tmp = tmp_path_factory.mktemp("dbt-build")
    with pytest.MonkeyPatch.context() as monkeypatch:
        _env(monkeypatch, tmp / "home", tmp)
        settings = get_settings()
        settings.ensure_dirs()
        generated = tmp / "generated"
        generate(generated, settings=settings)
        results = load_paths([generated], settings=settings)
        assert results, "the generator wrote no files"
        result = dbt_build(settings)
        yield BuiltWarehouse(settings, result.stdout + result.stderr, result.ok, tmp)
