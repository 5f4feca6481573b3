"""Shared fixtures: every test gets its own data directory, never the developer's var/; the
generated sample is loaded and built once per session for every suite that reads it."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scorecard.core.settings import Settings, get_settings
from tests.hypothesis_profiles import register_profiles
from tests.shared_builds import build_once, xdist_worker

os.environ.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
register_profiles()  # hypothesis' `check` profile, which `make check` selects (tests/hypothesis_profiles.py)

#: The pipeline's "today" in every test: every programme year (2021-2025) is over.
AS_OF = "2026-01-15"

# --- `make check`: the tests that need no dbt build ----------------------------------------------
# A test is marked ``slow`` (and left out of `make check`) when it uses a fixture that builds a
# warehouse with dbt or sets up Airflow's database, directly or through another fixture: marked
# here at collection, so a new test that takes one of these fixtures is marked without anyone
# remembering to. Tests that run such a program themselves carry the marker in their module.
BUILD_FIXTURES = frozenset(
    {
        "sample_build",  # tests/conftest.py: generated sample, loader, full dbt build
        "built_home",  # tests/conftest.py (helpers: tests/quality/conftest.py): hand-made raw rows, dbt run
        "generated_run",  # tests/quality/test_quality_pipeline.py: `scorecard run` end to end
        "airflow_db",  # tests/airflow/conftest.py: Airflow's metadata database
        "seeded",  # tests/test_summary.py: dbt seed
    }
)
# Programs a `make check` test may not start (a test that needs one is marked slow): when
# `-m "not slow"` selects the tests, starting one fails the test with the reason, so a test that
# needs a build but is not marked cannot slip into the fast loop unnoticed.
HEAVY_PROGRAMS = frozenset(
    {
        "dbt",
        "warehouse.dbt_worker",
        "chromium",
        "soffice",
        "libreoffice",
        "alertmanager",
        "prometheus-alertmanager",
        "airflow",
    }
)
_fast_only = False


#: The builds the workers of a parallel run (`pytest -n 2`, pytest-xdist) share: made once per run
#: by the first worker that needs one (`build_once`), read by the others.
SHARED_BUILDS = frozenset({"sample_build", "built_home", "airflow_db"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if BUILD_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if xdist_worker() is not None:
        items[:] = worksteal_order(items)


def worksteal_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """The collection in the order that keeps two workers from waiting on the same build.

    `--dist worksteal` sends the first half of the collection to one worker and the second half to
    the other (a worker that runs dry steals from the end of the other's queue). The modules that
    read a shared build go first, up to half of the tests, and the modules that need none start
    the second half: one worker builds while the other runs tests that need no build (in file
    order, both would reach the same build at once and one would wait for it). Whole modules move,
    in their order, so a module's fixtures are set up once. Every worker sorts the same way
    (pytest-xdist requires the same collection on every worker)."""
    modules: dict[Path, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.path, []).append(item)
    reads = {
        path
        for path, group in modules.items()
        if any(SHARED_BUILDS.intersection(getattr(item, "fixturenames", ())) for item in group)
    }
    readers = [group for path, group in modules.items() if path in reads]
    others = [group for path, group in modules.items() if path not in reads]
    first: list[pytest.Item] = []
    rest: list[pytest.Item] = []
    for group in readers:
        (first if len(first) < len(items) // 2 else rest).extend(group)
    return first + [item for group in others for item in group] + rest


#: `scorecard` subcommands that build (or serve builds) with dbt.
HEAVY_SUBCOMMANDS = frozenset({"build", "run", "demo", "dbt-worker", "summary --build"})


def _heavy_program(argv: object) -> str | None:
    words = argv.split() if isinstance(argv, (str, bytes)) else list(argv or [])
    names = [os.path.basename(os.fsdecode(w) if isinstance(w, bytes) else str(w)) for w in words]
    for index, name in enumerate(names[:4]):
        if name in HEAVY_PROGRAMS:
            return name
        if name in ("scorecard", "scorecard.cli"):
            rest = [n for n in names[index + 1 :] if n.startswith("--build") or not n.startswith("-")]
            for command in (" ".join(rest[:2]), *rest[:1]):
                if command in HEAVY_SUBCOMMANDS:
                    return f"scorecard {command}"
    return None


def _refuse_heavy_programs(event: str, args: tuple[object, ...]) -> None:
    if _fast_only and event == "subprocess.Popen":
        program = _heavy_program(args[1]) or _heavy_program([args[0]])
        if program is not None:
            raise RuntimeError(
                f"this test starts {program}, which `make check` (-m 'not slow') leaves out: mark "
                "the test @pytest.mark.slow or take a build fixture (tests/conftest.py, BUILD_FIXTURES)"
            )


def pytest_configure(config: pytest.Config) -> None:
    global _fast_only
    _fast_only = re.search(r"\bnot\s+slow\b", config.option.markexpr or "") is not None
    if _fast_only:
        sys.addaudithook(_refuse_heavy_programs)


@pytest.fixture
def scorecard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SCORECARD_HOME for one test, with the pipeline clock fixed to 2026-01-15."""
    home = tmp_path / "home"
    monkeypatch.setenv("SCORECARD_HOME", str(home))
    monkeypatch.setenv("SCORECARD_AS_OF", AS_OF)
    # dbt writes target/ and logs/ beside the project by default; keep tests out of the tree.
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt-logs"))
    return home


@pytest.fixture
def settings(scorecard_home: Path) -> Settings:
    s = get_settings()
    s.ensure_dirs()
    return s


# --- the sample warehouse, built once per session ----------------------------------------------


def sample_env(mp: pytest.MonkeyPatch, home: Path, work: Path) -> Settings:
    """Point SCORECARD_HOME at ``home`` (clock at 2026-01-15) and dbt's target/logs into ``work``."""
    mp.setenv("SCORECARD_HOME", str(home))
    mp.setenv("SCORECARD_AS_OF", AS_OF)
    mp.setenv("SCORECARD_MONITOR_FROM", "2026-01-01")
    mp.setenv("DBT_TARGET_PATH", str(work / "dbt-target"))
    mp.setenv("DBT_LOG_PATH", str(work / "dbt-logs"))
    settings = get_settings()
    settings.ensure_dirs()
    return settings


def _file_states(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if not p.is_dir() or p.is_symlink()
    }


@dataclass(frozen=True)
class SampleBuild:
    """The default generated submissions of 2021-2025 (``scorecard demo``'s sample), loaded by the
    real loader and built by a real full ``dbt build``. Shared by the whole session: read it, or
    copy it (:meth:`copy_home`) to change anything."""

    work: Path  # generated/, home/, dbt-target/ (the build's run_results.json), dbt-logs/
    generated: Path
    home: Path
    build_ok: bool
    build_output: str
    build_seconds: float  # wall time of the full dbt build (the stage split's start-up share)

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    def copy_home(self, destination: Path) -> Path:
        """A private copy of the built data directory (symlinks kept as links)."""
        shutil.copytree(self.home, destination, symlinks=True)
        return destination

    @staticmethod
    def environment(mp: pytest.MonkeyPatch, home: Path, work: Path) -> Settings:
        """The environment the sample was built in, for the data directory ``home`` (its copy)."""
        return sample_env(mp, home, work)


def _build_sample(work: Path) -> dict[str, Any]:
    from ingest.loader import load_paths
    from samples.generate import generate
    from warehouse.dbt import dbt_build

    generated = work / "generated"
    with pytest.MonkeyPatch.context() as mp:
        settings = sample_env(mp, work / "home", work)
        generate(generated, settings=settings)
        results = load_paths([generated], settings=settings)
        assert results and all(r.status == "loaded" for r in results), [
            (r.status, r.file_name, r.message) for r in results if r.status != "loaded"
        ]
        started = time.perf_counter()
        built = dbt_build(settings)
        seconds = time.perf_counter() - started
    return {
        "home": str(settings.home),
        "build_ok": built.ok,
        "build_output": built.stdout + built.stderr,
        "build_seconds": seconds,
        "files": _file_states(settings.home),
    }


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleBuild]:
    """Generate the sample, load it and run a full ``dbt build``, once per test run (once for all
    workers of ``pytest -n``: ``build_once``).

    The build's outcome is reported, not asserted: the dbt suite asserts it with dbt's output,
    and every other user asserts it before relying on the warehouse. At the end of the session the
    data directory must be as the build left it (a test that changed it should have copied it):
    every worker compares it with the build's record when its own tests are done."""
    work, built, _ = build_once(tmp_path_factory, "sample-build", _build_sample)
    sample = SampleBuild(
        work,
        work / "generated",
        Path(built["home"]),
        built["build_ok"],
        built["build_output"],
        built["build_seconds"],
    )
    before = {name: tuple(state) for name, state in built["files"].items()}
    yield sample
    after = _file_states(sample.home)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"a test changed the shared sample build instead of a copy: {changed}"


# --- the hand-made warehouse of the quality and alerts suites, built once per session ----------
# Defined here, not in tests/quality/conftest.py: a fixture a second conftest imports is a second
# fixture to pytest, and the alerts suite built the same warehouse again (`--setup-plan` showed
# built_home set up twice).


def _build_quality_home(work: Path) -> dict[str, Any]:
    from tests.quality.conftest import _set_env, add_alerts_mart, build_anomalies, write_clean_raw

    with pytest.MonkeyPatch.context() as mp:
        settings = _set_env(mp, work / "home", work)
        write_clean_raw(settings.warehouse_path)
        build_anomalies(settings, seeds=True)
        add_alerts_mart(settings.warehouse_path)
    return {"home": str(settings.home)}


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SCORECARD_HOME with clean raw rows and the anomaly mart built (tests/quality/conftest.py),
    once per test run (once for all workers of ``pytest -n``: ``build_once``); tests copy it."""
    _, built, _ = build_once(tmp_path_factory, "quality-built", _build_quality_home)
    return Path(built["home"])


@pytest.fixture
def home_settings(built_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A private copy of the built home, with the environment pointing at it."""
    from tests.quality.conftest import _set_env

    home = tmp_path / "home"
    shutil.copytree(built_home, home, symlinks=True)
    yield _set_env(monkeypatch, home, tmp_path)
