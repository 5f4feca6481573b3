"""Helpers shared by the ingest tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from scorecard.core.settings import Settings


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Read the test warehouse (read-only, short connection)."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def write_inbox_file(settings: Settings, department: str, name: str, data: bytes) -> Path:
    folder = settings.inbox / department
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path
