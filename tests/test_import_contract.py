"""The import contract (``[tool.importlinter]`` in pyproject.toml, run by ``make lint``) holds for the
repository, and it fails when a part imports upward: each case copies the packages, adds one
forbidden import to the copy and runs ``lint-imports`` on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from scorecard.core.settings import REPO_ROOT

CONFIG = REPO_ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def root_packages() -> list[str]:
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["root_packages"]


def copy_packages(target: Path) -> None:
    def not_python(folder: str, names: list[str]) -> list[str]:
        keep = [n for n in names if n.endswith(".py") or ((Path(folder) / n).is_dir() and n != "__pycache__")]
        return [n for n in names if n not in keep]

    for package in root_packages():
        shutil.copytree(REPO_ROOT / package, target / package, ignore=not_python)


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of the repository's editable install.
    # COLUMNS: the report's lines unwrapped, so a contract's name and verdict share a line.
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "250"}
    return subprocess.run(
        [str(LINT_IMPORTS), str(CONFIG), "--no-cache", "--no-logo"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_scorecard_module_is_placed_in_the_layers() -> None:
    """A new module of the application package must be given a layer, or no contract sees it."""
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    (layers,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    named = {m.strip() for layer in layers["layers"] for m in layer.replace("|", ":").split(":")}
    modules = {
        f"scorecard.{p.stem if p.is_file() else p.name}"
        for p in (REPO_ROOT / "scorecard").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert modules <= named, modules - named


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("contract") / "tree"
    copy_packages(tree)
    return tree


def test_the_repository_keeps_the_contract(clean_copy: Path) -> None:
    result = lint_imports(clean_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


UPWARD = [
    # (file in the copy, the import added, the contract that must break)
    ("scorecard/core/settings.py", "import scorecard.pipeline", "core-imports-nothing"),
    ("ingest/rules.py", "import warehouse.dbt", "ingest-alone"),
    ("warehouse/dbt.py", "import ingest.loader", "warehouse-not-ingest"),
    ("quality/gate.py", "import warehouse.publish", "quality-alone"),
    ("reports/html.py", "import scorecard.pipeline", "layers"),
    ("reports/charts.py", "import duckdb", "charts-pure"),
]


@pytest.mark.parametrize(("module", "statement", "contract"), UPWARD, ids=[u[0] for u in UPWARD])
def test_an_upward_import_breaks_the_contract(
    clean_copy: Path, tmp_path: Path, module: str, statement: str, contract: str
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(clean_copy, tree)
    with (tree / module).open("a", encoding="utf-8") as handle:
        handle.write(f"\n{statement}  # deliberate upward import\n")
    result = lint_imports(tree)
    assert result.returncode != 0, result.stdout
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    (name,) = [c["name"] for c in config["tool"]["importlinter"]["contracts"] if c["id"] == contract]
    assert f"{name} BROKEN" in result.stdout, result.stdout
    imported = statement.split()[1]
    assert imported in result.stdout, result.stdout
