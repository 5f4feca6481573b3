"""``published_marts.py compare-parquet``: two releases' Parquet files, compared by their rows.

Issue #21 asks that a refactoring leaves the demo's published marts identical, shown by comparing
the Parquet files of two ``make demo`` runs; this is the comparison, tested on small files."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.regression.published_marts import main


def _release(folder: Path, score: float, *, received_at: str = "2026-12-07 03:00:00") -> Path:
    folder.mkdir()
    with duckdb.connect() as con:
        con.execute(
            f"copy (select '330102' as region_code, '2024' as period, {score}::double as index_score) "
            f"to '{folder / 'fct_index_charity.parquet'}' (format parquet)"
        )
        # a run-time column (when the file was received) is not a published figure
        con.execute(
            f"copy (select 'd1' as department_code, timestamp '{received_at}' as first_received_at) "
            f"to '{folder / 'fct_submission_timeliness.parquet'}' (format parquet)"
        )
    return folder


def test_the_same_rows_compare_equal_whatever_the_run_time(tmp_path, capsys):
    before = _release(tmp_path / "before", 81.25)
    after = _release(tmp_path / "after", 81.25, received_at="2026-12-08 09:30:00")
    assert main(["compare-parquet", str(before), str(after)]) == 0
    assert "the 2 published Parquet files hold the same rows" in capsys.readouterr().out


def test_a_changed_value_is_named_with_its_mart_and_column(tmp_path, capsys):
    before = _release(tmp_path / "before", 81.25)
    after = _release(tmp_path / "after", 81.26)
    assert main(["compare-parquet", str(before), str(after)]) == 1
    assert "fct_index_charity: values changed in index_score" in capsys.readouterr().out


def test_a_missing_mart_is_named(tmp_path, capsys):
    before = _release(tmp_path / "before", 81.25)
    after = _release(tmp_path / "after", 81.25)
    (after / "fct_index_charity.parquet").unlink()
    assert main(["compare-parquet", str(before), str(after)]) == 1
    assert "fct_index_charity: no longer published" in capsys.readouterr().out
