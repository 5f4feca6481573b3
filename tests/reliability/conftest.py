"""Shared fixtures of the reliability suite: a data directory loaded, built and published once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scorecard.core.settings import Settings, get_settings


@pytest.fixture(scope="session")
def published_home(sample_build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's sample build (tests/conftest.py: the default sample set, as `scorecard demo`,
    loaded and built) published, in a copy of its data directory (made once; tests copy it)."""
    from quality.gate import run_gate
    from reports.release import render_release
    from warehouse.publish import publish

    assert sample_build.build_ok, sample_build.build_output[-3000:]
    root = tmp_path_factory.mktemp("published")
    home = sample_build.copy_home(root / "home")
    with pytest.MonkeyPatch.context() as mp:
        settings = sample_build.environment(mp, home, root)
        publication = publish(settings, gate=run_gate(settings))
        assert publication.published, publication.reason
        render_release(settings, publication.release)
    return home


@pytest.fixture
def home_copy(published_home: Path, scorecard_home: Path, settings: Settings) -> Settings:
    """A private copy of the published data directory (symlinks kept as links)."""
    shutil.rmtree(scorecard_home)
    shutil.copytree(published_home, scorecard_home, symlinks=True)
    return get_settings()
