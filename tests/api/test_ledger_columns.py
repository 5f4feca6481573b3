"""A warehouse from before the API gains the ledger's channel columns (empty for its old rows: they
all came by file drop) the first time the loader or a build opens it."""

from __future__ import annotations

from pathlib import Path

import duckdb

from scorecard.core.raw_layer import ADDED_COLUMNS, RAW_TABLES, ensure_raw_schema


def test_an_older_ledger_gains_the_channel_columns(tmp_path: Path) -> None:
    added = {column for table, column, _ in ADDED_COLUMNS if table == "file_ledger"}
    channel_columns = ["channel", "authenticated_department", "submission_id"]
    assert set(channel_columns) <= added
    old_columns = ",\n".join(
        line
        for line in RAW_TABLES["file_ledger"].strip().rstrip(",").split(",\n")
        if line.split()[0] not in added
    )
    with duckdb.connect(str(tmp_path / "old.duckdb")) as con:
        con.execute("CREATE SCHEMA raw")
        con.execute(f"CREATE TABLE raw.file_ledger ({old_columns})")
        con.execute(
            "INSERT INTO raw.file_ledger (file_id, file_name, sha256, size_bytes, received_at, status,"
            " rows_input, rows_loaded, rows_rejected) VALUES (1, 'old.csv', 'x', 1, now(), 'loaded', 1, 1, 0)"
        )
        ensure_raw_schema(con)
        ensure_raw_schema(con)  # idempotent
        columns = [row[0] for row in con.execute("DESCRIBE raw.file_ledger").fetchall()]
        assert [c for c in columns if c in channel_columns] == channel_columns
        assert con.execute("SELECT channel, submission_id FROM raw.file_ledger").fetchall() == [(None, None)]
