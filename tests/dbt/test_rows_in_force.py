"""The staging layer's tables carry what the models after them read (issue #22): the rows in force
(stg_raw__submissions_latest) are written for every value in force, 8.75 M rows at national size,
so a column nobody reads costs every build its window, its writes and its checkpoint."""

from __future__ import annotations

import re

import duckdb

from scorecard.core.settings import REPO_ROOT

MODELS = REPO_ROOT / "dbt_project" / "models"


def _columns(settings, relation: str) -> list[str]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return [row[0] for row in con.execute(f"describe {relation}").fetchall()]


def test_every_column_of_the_rows_in_force_is_read_by_a_model_after_it(built_warehouse):
    readers = [
        path
        for path in MODELS.rglob("*.sql")
        if re.search(r"ref\(\s*'stg_raw__submissions_latest'\s*\)", path.read_text(encoding="utf-8"))
    ]
    assert readers, "no model reads the rows in force"
    text = "\n".join(path.read_text(encoding="utf-8") for path in readers)
    columns = _columns(built_warehouse.settings, "staging.stg_raw__submissions_latest")
    unread = [column for column in columns if not re.search(rf"\b{column}\b", text)]
    assert unread == [], f"read by none of {[p.name for p in readers]}"


def test_what_the_rows_in_force_leave_out_stays_in_the_all_versions_view(built_warehouse):
    """Nothing is lost: a version's department, unit and text as written, note and load time are
    read from stg_raw__submissions (and raw.submissions under it)."""
    in_force = set(_columns(built_warehouse.settings, "staging.stg_raw__submissions_latest"))
    every_version = set(_columns(built_warehouse.settings, "staging.stg_raw__submissions"))
    assert in_force < every_version
    left_out = every_version - in_force
    assert {"department_code", "unit_submitted", "value_text", "note", "loaded_at"} <= left_out
