"""Helpers shared by the ingest tests (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import openpyxl

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


def rows_csv(rows: list[list[object]], title: str | None = None) -> bytes:
    """A UTF-8 CSV of ``rows`` as they stand (header included), with an optional title line above."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    if title:
        writer.writerow([title])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[list[object]], sheet: str = "Sheet1") -> bytes:
    """A one-sheet workbook holding ``rows``."""
    workbook = openpyxl.Workbook()
    workbook.active.title = sheet
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
