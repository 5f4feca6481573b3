"""Each rule is checked in one place (docs/quality.md, "Where each rule is checked").

Keys, not-null, known codes and vocabularies of a mart are dbt's (tests and contract constraints
in ``dbt_project/models/marts/<model>.yml``); a Soda contract of the same mart must not check them
again. The same for the raw tables whose staging view is a plain projection (every row, cast):
what a dbt test of the view checks, the raw contract does not.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "dbt_project" / "models"
CONTRACTS = REPO / "quality" / "contracts"
#: Raw tables and their staging views that select every row of them (no filter, no join).
PLAIN_VIEWS = {"file_ledger": "stg_raw__file_ledger", "quarantine": "stg_raw__quarantine"}
#: The columns a staging view renames.
RENAMED = {("file_ledger", "status"): "file_status"}


@cache
def _model_nodes() -> tuple[dict[str, Any], ...]:
    """Every model node of the YAML files under dbt_project/models (read once per session)."""
    return tuple(
        node
        for path in sorted(MODELS.rglob("*.yml"))
        for node in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", [])
    )


def _dbt_rules(model: str) -> set[tuple[str, ...]]:
    """(rule, column...) of a model: not_null, unique, accepted_values, relationships, key (a
    column's own tests, and the model's column_rules test of its not-null columns, vocabularies,
    references and key)."""
    rules: set[tuple[str, ...]] = set()
    for node in _model_nodes():
        if node["name"] != model:
            continue
        for test in node.get("data_tests", []):
            if isinstance(test, dict) and "unique_combination" in test:
                columns = test["unique_combination"]["arguments"]["combination_of_columns"]
                rules.add(("key", *sorted(columns)))
            if isinstance(test, dict) and "column_rules" in test:  # macros/test_column_rules.sql
                arguments = test["column_rules"]["arguments"]
                key = arguments.get("unique_key") or []
                if key:  # the model's key, folded into its column rules
                    rules.add(("key", *sorted(key)))
                if len(key) == 1:
                    rules.add(("unique", key[0]))
                rules.update(("not_null", name) for name in arguments.get("not_null", []))
                vocabularies = arguments.get("accepted_values", [])
                rules.update(("accepted_values", rule["column"]) for rule in vocabularies)
                references = arguments.get("relationships", [])
                rules.update(("relationships", rule["column"]) for rule in references)
        for column in node.get("columns", []):
            name = column["name"]
            if {"type": "not_null"} in column.get("constraints", []):
                rules.add(("not_null", name))
            for test in column.get("data_tests", []):
                kind = test if isinstance(test, str) else next(iter(test))
                rules.add((kind, name))
                if kind == "unique":
                    rules.add(("key", name))
    return rules


def _soda_rules(contract: dict[str, Any], rename: dict[str, str]) -> list[tuple[str, ...]]:
    """The Soda checks of a contract that are rules dbt owns, in dbt's terms."""
    found: list[tuple[str, ...]] = []
    for column in contract.get("columns", []):
        name = rename.get(column["name"], column["name"])
        for check in column.get("checks") or []:
            ((kind, body),) = check.items()
            body = body or {}
            if kind == "missing":
                found.append(("not_null", name))
            elif kind == "duplicate":
                found.append(("key", name))
            elif kind == "invalid" and "valid_values" in body:
                found.append(("accepted_values", name))
            elif kind == "invalid" and "valid_reference_data" in body:
                found.append(("relationships", name))
    for check in contract.get("checks") or []:
        ((kind, body),) = check.items()
        if kind == "duplicate":
            found.append(("key", *sorted(body["columns"])))
    return found


def _twice(contract_path: Path, model: str, rename: dict[str, str]) -> list[str]:
    contract = yaml.safe_load(contract_path.read_text(encoding="utf-8"))
    dbt = _dbt_rules(model)
    return [
        f"{contract_path.relative_to(REPO)}: {' '.join(rule)} is also a dbt rule of {model}"
        for rule in _soda_rules(contract, rename)
        if rule in dbt or (rule[0] == "not_null" and ("not_null", rule[1]) in dbt)
    ]


def test_no_soda_contract_of_a_mart_repeats_a_dbt_rule():
    twice = []
    for path in sorted((CONTRACTS / "marts").glob("*.contract.yml")):
        twice += _twice(path, path.name.removesuffix(".contract.yml"), {})
    assert twice == []


def test_no_raw_contract_repeats_a_dbt_rule_of_its_plain_staging_view():
    twice = []
    for table, view in PLAIN_VIEWS.items():
        rename = {raw: staged for (t, raw), staged in RENAMED.items() if t == table}
        twice += _twice(CONTRACTS / "raw" / f"{table}.contract.yml", view, rename)
    assert twice == []


def test_the_rule_reader_sees_the_dbt_rules_it_compares_with():
    """Guards the guard: the dbt side is read (a typo in a path would make every check pass)."""
    rules = _dbt_rules("fct_indicator_progress")
    assert ("key", "measure_code", "period", "region_code") in rules
    assert ("not_null", "region_code") in rules
    assert ("relationships", "measure_code") in rules
    assert ("accepted_values", "year_status") in rules
    assert ("key", "file_id") in _dbt_rules("stg_raw__file_ledger")
    assert ("not_null", "file_status") in _dbt_rules("stg_raw__file_ledger")
