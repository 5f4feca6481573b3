"""Helpers for the reliability suite (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import openpyxl

from scorecard.core.settings import Settings

HEADER = ["region_code", "measure_code", "period", "value", "numerator", "denominator", "unit", "note"]
GOOD_ROWS = [
    ["330102", "PP03A", "2023", "90", "", "", "", ""],
    ["330105", "PP03A", "2023", "", "45", "50", "", ""],
    ["330106", "PP03A", "2023", "92.5%", "", "", "", "按季度汇总"],
]


def csv_text(header: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def xlsx_bytes(rows: list[list[object]], sheets: dict[str, list[list[object]]] | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.title = "数据"
    for row in rows:
        workbook.active.append(row)
    for name, other in (sheets or {}).items():
        sheet = workbook.create_sheet(name)
        for row in other:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def patch_zip(
    data: bytes,
    replace: dict[str, Callable[[bytes], bytes]] | None = None,
    add: dict[str, bytes] | None = None,
) -> bytes:
    """Rewrite members of an XLSX (zip): ``replace`` maps a member to a function of its bytes."""
    source, target = io.BytesIO(data), io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in original.infolist():
            content = original.read(item.filename)
            if replace and item.filename in replace:
                content = replace[item.filename](content)
            out.writestr(item.filename, content)
        for name, content in (add or {}).items():
            out.writestr(name, content)
    return target.getvalue()


def query(settings: Settings, sql: str, params: list | dict | None = None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def table_accounting(settings: Settings, file_id: int) -> tuple[int, int, int]:
    """(ledger rows_input, rows in submissions + status_reports, distinct rows in quarantine)."""
    return query(
        settings,
        "SELECT (SELECT rows_input FROM raw.file_ledger WHERE file_id = $id),"
        " (SELECT count(*) FROM raw.submissions WHERE file_id = $id)"
        " + (SELECT count(*) FROM raw.status_reports WHERE file_id = $id),"
        " (SELECT count(DISTINCT row_ref) FROM raw.quarantine WHERE file_id = $id)",
        {"id": file_id},
    )[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tables_checksum(settings: Settings, schema: str) -> dict[str, tuple]:
    """Row count and an order-independent content hash of every table in a schema."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?"
                " AND table_type = 'BASE TABLE' ORDER BY 1",
                [schema],
            ).fetchall()
        ]
        out = {}
        for name in names:
            relation = f'"{schema}"."{name}"'
            out[name] = con.execute(
                f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {relation} AS t"
            ).fetchone()
        return out
