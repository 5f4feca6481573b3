"""The raw layer: the only tables ``ingest`` writes, and the contract dbt's sources read.

Kept as plain DDL so that the loader, dbt (``source('raw', ...)``) and the tests agree on one
definition. ``ensure_raw_schema`` is idempotent and safe to call before every load or build.
"""

from __future__ import annotations

import duckdb

RAW_SCHEMA = "raw"

RAW_TABLES: dict[str, str] = {
    # One row per file received (also duplicates and rejected files): the ingest ledger.
    "file_ledger": """
        file_id        BIGINT PRIMARY KEY,
        file_name      VARCHAR NOT NULL,
        department_code VARCHAR,
        sha256         VARCHAR NOT NULL,
        size_bytes     BIGINT NOT NULL,
        file_format    VARCHAR,
        layout         VARCHAR,
        received_at    TIMESTAMP NOT NULL,
        status         VARCHAR NOT NULL,
        rows_input     INTEGER NOT NULL,
        rows_loaded    INTEGER NOT NULL,
        rows_rejected  INTEGER NOT NULL,
        periods        VARCHAR,
        message        VARCHAR,
        stored_path    VARCHAR,
        channel        VARCHAR,
        authenticated_department VARCHAR,
        submission_id  VARCHAR,
        lines_skipped  INTEGER NOT NULL DEFAULT 0
    """,
    # Measured values, in the measure's canonical unit, with lineage back to the file and cell.
    "submissions": """
        file_id        BIGINT NOT NULL,
        row_ref        VARCHAR NOT NULL,
        department_code VARCHAR NOT NULL,
        region_code    VARCHAR NOT NULL,
        measure_code   VARCHAR NOT NULL,
        period         VARCHAR NOT NULL,
        value          DOUBLE,
        numerator      DOUBLE,
        denominator    DOUBLE,
        unit_submitted VARCHAR,
        value_text     VARCHAR,
        note           VARCHAR,
        loaded_at      TIMESTAMP NOT NULL
    """,
    # Status of work items, policy items and the milestone indicator EC02, per period.
    "status_reports": """
        file_id        BIGINT NOT NULL,
        row_ref        VARCHAR NOT NULL,
        department_code VARCHAR NOT NULL,
        item_code      VARCHAR NOT NULL,
        region_code    VARCHAR NOT NULL,
        period         VARCHAR NOT NULL,
        status         VARCHAR NOT NULL,
        status_date    DATE,
        evidence       VARCHAR,
        note           VARCHAR,
        loaded_at      TIMESTAMP NOT NULL
    """,
    # Rows refused, with the raw text and a reason a clerk can act on (zh and en).
    "quarantine": """
        file_id        BIGINT NOT NULL,
        row_ref        VARCHAR NOT NULL,
        field          VARCHAR,
        reason_code    VARCHAR NOT NULL,
        reason_zh      VARCHAR NOT NULL,
        reason_en      VARCHAR NOT NULL,
        raw_record     VARCHAR,
        quarantined_at TIMESTAMP NOT NULL
    """,
}


# (table, column, type) added to a raw table after the first release (issue #25: the channel a
# file came by, file drop or API, and the department whose token sent it).
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("file_ledger", "channel", "VARCHAR"),
    ("file_ledger", "authenticated_department", "VARCHAR"),
    ("file_ledger", "submission_id", "VARCHAR"),
    # Total rows and footer lines of a report form (issue #20): 0 for the files before.
    ("file_ledger", "lines_skipped", "INTEGER DEFAULT 0"),
)


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema and its tables if they do not exist."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    for table, columns in RAW_TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{table} ({columns})")
    # Columns added after a warehouse was created: a ledger from before them gains them (empty:
    # its files all came by file drop, the only channel there was).
    for table, column, column_type in ADDED_COLUMNS:
        con.execute(f"ALTER TABLE {RAW_SCHEMA}.{table} ADD COLUMN IF NOT EXISTS {column} {column_type}")
