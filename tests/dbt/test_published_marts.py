"""The published marts of the session's sample build are those of the committed fingerprints.

A refactoring of the dbt project (or of anything before it) must leave every published figure as
it was; ``tests/regression/published_marts.py`` says how the fingerprints are taken and how a
deliberate change regenerates them. The test lives beside the session build it reads
(``built_warehouse`` in ``tests/dbt/conftest.py``).
"""

from __future__ import annotations

import shutil

import duckdb
import pytest

from tests.regression.published_marts import (
    differences,
    fingerprint_mart,
    fingerprint_warehouse,
    read_fingerprints,
)

pytestmark = pytest.mark.slow


def test_the_published_marts_are_unchanged(built_warehouse):
    assert built_warehouse.build_ok, built_warehouse.build_stdout[-4000:]
    changed = differences(read_fingerprints(), fingerprint_warehouse(built_warehouse.settings.warehouse_path))
    assert changed == [], (
        "published marts differ from tests/regression/published_marts.json; if this is deliberate, "
        "regenerate it (python tests/regression/published_marts.py write) in a commit saying why:\n"
        + "\n".join(changed)
    )


def test_one_changed_value_in_a_mart_is_named(built_warehouse, tmp_path):
    """The fingerprint is not blind: one score moved by 0.01 points shows, with its mart and column."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(built_warehouse.settings.warehouse_path, copy)
    with duckdb.connect(str(copy)) as con:
        updated = con.execute(
            "update marts.fct_index_charity set index_score = index_score + 0.01 "
            "where region_code = '330102' and period = '2024'"
        ).fetchone()
        assert updated == (1,)
        changed_mart = fingerprint_mart(con, "fct_index_charity")
    expected = read_fingerprints()
    actual = {**expected, "marts": {**expected["marts"], "fct_index_charity": changed_mart}}
    assert differences(expected, actual) == ["fct_index_charity: values changed in index_score"]
