"""dbt exposures for the report and the workbook: they name real marts, and every mart the code
reads (so ``dbt ls --select +exposure:...`` and the docs site tell the truth)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from scorecard.core.settings import REPO_ROOT
from scorecard.core.zones import index_models

MARTS = REPO_ROOT / "dbt_project" / "models" / "marts"
SEEDS = REPO_ROOT / "dbt_project" / "seeds"
#: The code of each exposure that reads marts (the report's statements live in reports/queries.py).
SOURCES = {
    "scorecard_report": (REPO_ROOT / "reports" / "queries.py", REPO_ROOT / "reports" / "html.py"),
    "scorecard_workbook": (REPO_ROOT / "reports" / "workbook.py",),
}


def exposures() -> dict[str, set[str]]:
    data = yaml.safe_load((MARTS / "_exposures.yml").read_text(encoding="utf-8"))
    found = {}
    for exposure in data["exposures"]:
        refs = {re.fullmatch(r"ref\('([a-z0-9_]+)'\)", d).group(1) for d in exposure["depends_on"]}
        found[exposure["name"]] = refs
    return found


def marts_read_by(paths: tuple[Path, ...]) -> set[str]:
    text = "\n".join(path.read_text(encoding="utf-8") for path in paths)
    names = set(re.findall(r"marts\.([a-z][a-z0-9_]*[a-z0-9])(?![\w<])", text))
    names |= set(re.findall(r'has_table\(con, "marts", "([a-z0-9_]+)"\)', text))
    return names | set(index_models(SEEDS).values())  # the five index tables, named by dim_zone


def test_exposures_name_existing_marts() -> None:
    found = exposures()
    assert set(found) == set(SOURCES)
    for name, refs in found.items():
        for ref in refs:
            assert (MARTS / f"{ref}.sql").exists(), f"{name}: no mart {ref}"


def test_exposures_cover_what_the_code_reads() -> None:
    found = exposures()
    for name, source in SOURCES.items():
        read = marts_read_by(source)
        assert read, source
        assert read <= found[name], (
            f"{name} reads marts its exposure does not list: {sorted(read - found[name])}"
        )
