"""After a file, a generic test of a per-measure incremental table reads only the rows the build
rebuilt: the measures it recomputed, from the earliest year it recomputed
(dbt_project/macros/incremental/generic_test_scope.sql). That is sound only when a duplicate of a
rebuilt row is itself a rebuilt row: every key of such a model holds its year or period, or an id
hashed from the period. tests/dbt/test_incremental.py shows the scope on a build."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "dbt_project" / "models"
STRATEGY = re.compile(r"incremental_strategy\s*=\s*'replace_measures'")
YEAR_COLUMN = re.compile(r"measure_(?:year|period)_column\s*=\s*'(\w+)'")
ZONE_COLUMN = re.compile(r"measure_zone_column\s*=\s*'(\w+)'")


def _per_measure_models() -> dict[str, tuple[Path, set[str]]]:
    """name -> (its SQL, the columns that place a row in a year) of every replace_measures model."""
    found = {}
    for path in sorted(MODELS.rglob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        if STRATEGY.search(sql):
            found[path.stem] = (path, {"year", "period", *YEAR_COLUMN.findall(sql)})
    return found


def _keys(model: str) -> list[list[str]]:
    """The keys the model's YAML tests: unique_combination, and column_rules' unique_key."""
    keys = []
    for path in sorted(MODELS.rglob("*.yml")):
        for node in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            if node["name"] != model:
                continue
            for test in node.get("data_tests", []):
                if isinstance(test, dict) and "unique_combination" in test:
                    keys.append(test["unique_combination"]["arguments"]["combination_of_columns"])
                if isinstance(test, dict) and "column_rules" in test:
                    key = test["column_rules"]["arguments"].get("unique_key")
                    if key:
                        keys.append(key)
            for column in node.get("columns", []):
                for test in column.get("data_tests", []):
                    if test == "unique" or (isinstance(test, dict) and "unique" in test):
                        keys.append([column["name"]])
    return keys


def _hashed_from_period(sql: str, column: str) -> bool:
    """The model computes column as a hash whose parts include the period."""
    hashed = r"(?:md5|sc_hash)\((?:(?!\bas\b).)*?\)\s*(?:\}\}\s*as varchar\)\s*)?as "
    match = re.search(hashed + column + r"\b", sql, re.S)
    return bool(match) and "period" in match.group(0)


def test_every_key_of_a_per_measure_table_places_its_rows_in_a_year() -> None:
    models = _per_measure_models()
    assert {"stg_raw__submissions_latest", "fct_indicator_progress", "fct_alerts"} <= set(models)
    unplaced = {}
    for model, (path, year_columns) in models.items():
        keys = _keys(model)
        assert keys, f"{model} has no key test"
        sql = path.read_text(encoding="utf-8")
        for key in keys:
            if not year_columns & set(key) and not any(_hashed_from_period(sql, column) for column in key):
                unplaced[model] = key
    assert unplaced == {}


def test_every_key_of_a_per_zone_table_holds_its_zone() -> None:
    """A per-zone table (config measure_zone_column) is rebuilt, and its tests read, by zone and
    year: its keys must hold the zone as well as the year."""
    zoned = {}
    for model, (path, _) in _per_measure_models().items():
        found = ZONE_COLUMN.findall(path.read_text(encoding="utf-8"))
        if found:
            zoned[model] = found[0]
    assert "fct_index_score_changes" in zoned
    unplaced = {model: key for model, column in zoned.items() for key in _keys(model) if column not in key}
    assert unplaced == {}


def test_the_period_hash_check_can_fail() -> None:
    assert _hashed_from_period("md5(concat_ws('|', measure_code, period)) as some_id", "some_id")
    assert not _hashed_from_period("md5(concat_ws('|', measure_code, region_code)) as some_id", "some_id")
