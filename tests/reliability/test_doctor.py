"""Issue #24 point 1: a mistyped path never poisons the ledger, and ``scorecard doctor`` finds and
repairs (with a record) any raw row that breaks the raw contracts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import duckdb
import pytest
from reliability_helpers import GOOD_ROWS, HEADER, csv_text, query

from ingest.loader import load_file, load_paths
from scorecard.cli import main
from scorecard.core.settings import Settings

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _ledger(settings: Settings) -> list[tuple]:
    if not settings.warehouse_path.exists():
        return []
    return query(settings, "SELECT file_id, sha256, size_bytes, status FROM raw.file_ledger ORDER BY file_id")


def _contract_breaks(settings: Settings) -> list[tuple]:
    """Ledger rows that fail the raw contract's sha256, size and status checks."""
    return [
        row
        for row in _ledger(settings)
        if not SHA256.match(row[1] or "")
        or row[2] < 0
        or row[3] not in {"loaded", "loaded_with_rejects", "rejected", "duplicate", "superseded"}
    ]


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_missing_path_is_refused_before_anything_is_written(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    missing = tmp_path / "no" / "such" / ("file.csv" if kind == "file" else "folder")
    assert main(["ingest", str(missing)]) == 1
    out = capsys.readouterr().out
    assert "文件不存在" in out and "no such file" in out
    assert _ledger(settings) == []
    # The same with --department, and beside a good file: the good file still loads.
    good = tmp_path / "good.csv"
    good.write_text(csv_text(HEADER, GOOD_ROWS), encoding="utf-8")
    assert main(["ingest", "--department", "social_assistance", str(missing), str(good)]) == 1
    out = capsys.readouterr().out
    assert "no such file" in out
    assert [row[3] for row in _ledger(settings)] == ["loaded"]


def test_no_path_of_any_kind_leaves_a_row_that_breaks_the_raw_contracts(
    settings: Settings, tmp_path: Path
) -> None:
    folder = settings.inbox / "social_assistance"
    folder.mkdir(parents=True)
    outside = tmp_path / "outside.csv"
    outside.write_text(csv_text(HEADER, GOOD_ROWS), encoding="utf-8")
    (folder / "link.csv").symlink_to(outside)
    (folder / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    (folder / "a_folder.csv").mkdir()
    fifo = folder / "pipe.csv"
    os.mkfifo(fifo)
    load_paths(settings=settings)
    for path in (tmp_path / "missing.csv", tmp_path, folder / "a_folder.csv"):
        load_file(path, settings=settings)
    assert _contract_breaks(settings) == []
    assert main(["doctor"]) == 0


def _poison(settings: Settings) -> None:
    """The rows today's code would leave after `scorecard ingest /no/such/file.csv` and a crash."""
    from ingest.loader import warehouse_connection

    with warehouse_connection(settings) as con:
        con.execute(
            "INSERT INTO raw.file_ledger VALUES (41, 'file.csv', NULL, '', 0, NULL, NULL,"
            " TIMESTAMP '2026-01-15', 'rejected', 0, 0, 0, NULL, 'not a regular file: refused', '/x',"
            " NULL, NULL, NULL, 0)"
        )
        con.execute(
            "INSERT INTO raw.quarantine VALUES"
            " (999, 'row 2', NULL, 'X', 'x', 'x', '{}', TIMESTAMP '2026-01-15')"
        )


def test_doctor_finds_and_repairs_raw_rows_that_break_the_contracts_with_a_record(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = settings.inbox / "social_assistance" / "good.csv"
    good.parent.mkdir(parents=True)
    good.write_text(csv_text(HEADER, GOOD_ROWS), encoding="utf-8")
    assert [r.status for r in load_paths(settings=settings)] == ["loaded"]
    _poison(settings)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "sha256" in out and "file_id 41" in out and "file_id is in the ledger" in out
    assert len(_ledger(settings)) == 2  # finding changes nothing

    assert main(["doctor", "--repair"]) == 0
    capsys.readouterr()
    assert [row[0] for row in _ledger(settings)] == [1]
    assert query(settings, "SELECT count(*) FROM raw.quarantine WHERE file_id = 999") == [(0,)]
    assert query(settings, "SELECT count(*) FROM raw.submissions") == [(3,)]
    repairs = query(settings, "SELECT table_name, check_name, action, row_json FROM raw.repairs ORDER BY 1")
    assert [(r[0], r[2]) for r in repairs] == [("file_ledger", "removed"), ("quarantine", "removed")]
    assert json.loads(repairs[0][3])["file_id"] == 41  # the removed row is kept in the record
    assert "sha256" in repairs[0][1]
    assert main(["doctor"]) == 0
    # The repaired warehouse opens and reads as ever.
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.file_ledger").fetchall() == [(1,)]
