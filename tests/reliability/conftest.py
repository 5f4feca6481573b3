"""Shared fixtures of the reliability suite: a data directory loaded, built and published once."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.loader import load_paths
from scorecard.core.settings import Settings, get_settings


@pytest.fixture(scope="session")
def published_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data directory with the sample set loaded, built and published (made once; tests copy it)."""
    from samples.generate import generate
    from warehouse.dbt import dbt_build
    from warehouse.publish import publish

    root = tmp_path_factory.mktemp("published")
    home = root / "home"
    saved = {
        k: os.environ.get(k) for k in ("SCORECARD_HOME", "SCORECARD_AS_OF", "DBT_TARGET_PATH", "DBT_LOG_PATH")
    }
    os.environ.update(
        SCORECARD_HOME=str(home),
        SCORECARD_AS_OF="2026-01-15",
        DBT_TARGET_PATH=str(root / "dbt-target"),
        DBT_LOG_PATH=str(root / "dbt-logs"),
    )
    try:
        settings = get_settings()
        settings.ensure_dirs()
        generate(settings.inbox, settings=settings)  # the default sample set, as `scorecard demo`
        assert all(r.status == "loaded" for r in load_paths(settings=settings))
        build = dbt_build(settings)
        assert build.ok, build.stdout[-3000:]
        publication = publish(settings)
        assert publication.published, publication.reason
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield home


@pytest.fixture
def home_copy(published_home: Path, scorecard_home: Path, settings: Settings) -> Settings:
    """A private copy of the published data directory (symlinks kept as links)."""
    shutil.rmtree(scorecard_home)
    shutil.copytree(published_home, scorecard_home, symlinks=True)
    return get_settings()
