"""The suite on two pytest-xdist workers (`make test`: ``pytest -n 2``): a shared build is made once
for all workers (``build_once`` in tests/shared_builds.py), and `make check`'s refusal of heavy programs
holds in every worker. Each test runs a small pytest of its own, with two workers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scorecard.core.settings import REPO_ROOT

# Each test starts a pytest with two workers: about 6 s of wall time each at load average 8, too
# long for `make check`'s loop (they start no heavy program; `make test` runs them).
pytestmark = pytest.mark.slow

#: The inner run's conftest: the fixtures and hooks of tests/conftest.py under test.
CONFTEST = """
import os
from pathlib import Path

import pytest

from tests.conftest import build_once, pytest_collection_modifyitems, pytest_configure  # noqa: F401


def _build(work: Path) -> dict:
    with open(os.environ["BUILDS"], "a") as log:
        log.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
    if os.environ.get("FAIL"):
        raise ValueError("the build broke")
    (work / "built.txt").write_text("built")
    return {"file": str(work / "built.txt")}


@pytest.fixture(scope="session")
def shared(tmp_path_factory):
    return build_once(tmp_path_factory, "shared", _build)
"""

TESTS = """
import os


def test_reads_the_shared_build(shared):
    work, result, built_here = shared
    with open(os.environ["SEEN"], "a") as log:
        log.write(f"{os.environ['PYTEST_XDIST_WORKER']} {work} {result['file']} {built_here}\\n")
    assert open(result["file"]).read() == "built"
"""


def run_inner(tmp_path: Path, tests: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(textwrap.dedent(CONFTEST), encoding="utf-8")
    (project / "test_inner.py").write_text(textwrap.dedent(tests), encoding="utf-8")
    # the inner pytest is a run of its own, not a worker of this one
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "-p", "no:cacheprovider", "-n", "2", *args, project],
        cwd=project,
        env={**clean, "PYTHONPATH": str(REPO_ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_both_workers_read_one_build(tmp_path: Path) -> None:
    builds, seen = tmp_path / "builds.log", tmp_path / "seen.log"
    # --dist each: every worker runs the test, so both ask for the build
    result = run_inner(tmp_path, TESTS, "--dist", "each", BUILDS=str(builds), SEEN=str(seen))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(builds.read_text().split()) == 1  # built once, by one worker
    lines = [line.split() for line in seen.read_text().splitlines()]
    assert sorted(worker for worker, *_ in lines) == ["gw0", "gw1"]
    assert len({(work, file) for _, work, file, _ in lines}) == 1  # the same directory for both
    assert sorted(built_here for *_, built_here in lines) == ["False", "True"]


def test_a_failed_build_fails_every_worker_and_is_not_repeated(tmp_path: Path) -> None:
    builds, seen = tmp_path / "builds.log", tmp_path / "seen.log"
    result = run_inner(tmp_path, TESTS, "--dist", "each", BUILDS=str(builds), SEEN=str(seen), FAIL="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 errors" in result.stdout, result.stdout
    assert "ValueError: the build broke" in result.stdout  # the worker that built
    assert "shared failed in worker gw" in result.stdout  # the other one, without building again
    assert len(builds.read_text().split()) == 1
    assert not seen.exists()


def test_make_check_refuses_heavy_programs_in_every_worker(tmp_path: Path) -> None:
    starts_dbt = """
    import subprocess

    import pytest

    def test_starts_dbt():
        with pytest.raises(RuntimeError, match="this test starts dbt, which `make check`"):
            subprocess.run(["dbt", "--version"], check=False)
    """
    # --dist each: the test runs in both workers, and passes only where dbt is refused
    result = run_inner(tmp_path, starts_dbt, "--dist", "each", "-m", "not slow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout, result.stdout
