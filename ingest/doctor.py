"""``scorecard doctor [--repair]``: find, and on request repair, raw rows that break the raw contracts.

The loader never writes such a row (tests/reliability/test_doctor.py), but a warehouse written by an
older version, or edited by hand, may hold one, and one bad ledger row stops every quality gate.
The doctor checks what the raw contracts (``quality/contracts/raw/``) check of each row, row by
row: required columns present, the ledger's sha256 a 64-digit hex digest, sizes and row counts
not negative and adding up, statuses from the ledger's vocabulary, departments known, periods in
the canonical form and every row's ``file_id`` in the ledger.

``--repair`` removes each offending row in one transaction and records it, whole, as JSON in
``raw.repairs`` (when, which table, which check, the action): nothing is lost, and the record says
what was done. A removed ledger row takes the rows that name its file id with it (recorded alike).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from scorecard.core.raw_layer import RAW_SCHEMA, RAW_TABLES
from scorecard.core.settings import Settings, get_settings

REPAIRS_DDL = f"""CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.repairs (
    repair_id    BIGINT NOT NULL,
    repaired_at  TIMESTAMP NOT NULL,
    table_name   VARCHAR NOT NULL,
    file_id      BIGINT,
    check_name   VARCHAR NOT NULL,
    action       VARCHAR NOT NULL,
    row_json     VARCHAR NOT NULL
)"""

LEDGER_STATUSES = ("loaded", "loaded_with_rejects", "rejected", "duplicate", "superseded")
_PERIOD = r"^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$"


def _required(table: str) -> list[str]:
    return [line.split()[0] for line in RAW_TABLES[table].strip().splitlines() if "NOT NULL" in line]


def _checks(departments: list[str]) -> list[tuple[str, str, str]]:
    """(table, check name as in the contract, SQL condition true for a row that breaks it)."""
    known = "NOT list_contains($departments, department_code)"
    statuses = "(" + ", ".join(f"'{status}'" for status in LEDGER_STATUSES) + ")"
    checks: list[tuple[str, str, str]] = []
    for table in RAW_TABLES:
        for column in _required(table):
            checks.append((table, f"{column} is present", f"{column} IS NULL"))
    checks += [
        (
            "file_ledger",
            "sha256 is 64 hex digits",
            "NOT regexp_full_match(coalesce(sha256, ''), '[0-9a-f]{64}')",
        ),
        ("file_ledger", "size_bytes is not negative", "size_bytes < 0"),
        ("file_ledger", "status is a ledger status", f"status NOT IN {statuses}"),
        (
            "file_ledger",
            "row counts add up (loaded + rejected <= input)",
            "rows_loaded < 0 OR rows_rejected < 0 OR rows_loaded + rows_rejected > rows_input",
        ),
        (
            "file_ledger",
            "file_id is unique",
            "file_id IN (SELECT file_id FROM raw.file_ledger GROUP BY 1 HAVING count(*) > 1)",
        ),
    ]
    if departments:
        checks.append(("file_ledger", "department_code is a known department", known))
    for table in ("submissions", "status_reports", "quarantine"):
        checks.append(
            (table, "file_id is in the ledger", "file_id NOT IN (SELECT file_id FROM raw.file_ledger)")
        )
    for table in ("submissions", "status_reports"):
        checks.append(
            (table, "period is YYYY, YYYY-Qn or YYYY-MM", f"NOT regexp_full_match(period, '{_PERIOD}')")
        )
        if departments:
            checks.append((table, "department_code is a known department", known))
    return checks


@dataclass
class Finding:
    table: str
    check: str
    file_id: int | None
    row: dict[str, Any]

    def describe(self) -> str:
        return f"raw.{self.table}: file_id {self.file_id}: {self.check}"


def _rows(con: Any, table: str, condition: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    # The SQL is ours: a raw table's name and a condition from ``_checks``; values are parameters.
    if table not in RAW_TABLES:
        raise ValueError(f"not a raw table: {table}")
    used = {name: value for name, value in (params or {}).items() if f"${name}" in condition}
    cursor = con.execute(f"SELECT * FROM {RAW_SCHEMA}.{table} WHERE {condition}", used)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _columns(table: str) -> set[str]:
    return {line.split()[0] for line in RAW_TABLES[table].strip().splitlines() if line.strip()}


def find(con: Any, departments: list[str]) -> list[Finding]:
    """Every raw row that breaks a check (a row once, under its first broken check)."""
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for table, check, condition in _checks(departments):
        for row in _rows(con, table, condition, {"departments": departments}):
            key = (table, json.dumps(row, default=str, sort_keys=True))
            if key in seen:
                continue
            seen.add(key)
            findings.append(Finding(table, check, row.get("file_id"), row))
    return findings


def repair(con: Any, findings: list[Finding], now: Any) -> int:
    """Remove the offending rows (and the rows of a removed ledger row's file) in one transaction,
    each recorded in ``raw.repairs``. Returns the number of rows removed."""
    con.execute(REPAIRS_DDL)
    con.execute("BEGIN TRANSACTION")
    try:
        next_id = con.execute(f"SELECT coalesce(max(repair_id), 0) + 1 FROM {RAW_SCHEMA}.repairs").fetchall()[
            0
        ][0]
        removed = 0
        work = list(findings)
        dropped_ledger: set[Any] = set()
        for finding in findings:
            if finding.table == "file_ledger":
                dropped_ledger.add(finding.file_id)
        for file_id in sorted(x for x in dropped_ledger if x is not None):
            for table in ("submissions", "status_reports", "quarantine"):
                for row in _rows(con, table, "file_id = $file_id", {"file_id": file_id}):
                    work.append(
                        Finding(table, f"its ledger row (file_id {file_id}) was removed", file_id, row)
                    )
        for finding in work:
            row_json = json.dumps(finding.row, ensure_ascii=False, default=str, sort_keys=True)
            names = [name for name in finding.row if name in _columns(finding.table)]
            where = " AND ".join(f"{name} IS NOT DISTINCT FROM ?" for name in names)
            deleted = con.execute(
                f"DELETE FROM {RAW_SCHEMA}.{finding.table} WHERE {where}", [finding.row[n] for n in names]
            ).fetchall()
            count = int(deleted[0][0]) if deleted else 0
            if count == 0:
                continue
            removed += count
            con.execute(
                f"INSERT INTO {RAW_SCHEMA}.repairs VALUES (?, ?, ?, ?, ?, 'removed', ?)",
                [next_id, now, finding.table, finding.file_id, finding.check, row_json],
            )
            next_id += 1
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return removed


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repair",
        action="store_true",
        help="remove the rows that break the raw contracts, each recorded in raw.repairs (修复)",
    )


def run(args: argparse.Namespace) -> int:
    from ingest.loader import warehouse_connection
    from ingest.reference import load_reference

    settings: Settings = get_settings()
    settings.ensure_dirs()
    departments = sorted(load_reference(settings).departments)
    with warehouse_connection(settings) as con:
        findings = find(con, departments)
        if not findings:
            print("raw 层符合约定 / the raw layer meets its contracts")
            return 0
        for finding in findings:
            print(f"  ! {finding.describe()}")
        if not args.repair:
            print(
                f"{len(findings)} 行不符合 raw 约定；运行 `scorecard doctor --repair` 修复（留有记录）/ "
                f"{len(findings)} raw rows break the contracts; `scorecard doctor --repair` removes them "
                "and records each in raw.repairs"
            )
            return 1
        removed = repair(con, findings, settings.now())
        remaining = find(con, departments)
    print(f"已修复 {removed} 行，记录于 raw.repairs / removed {removed} rows, recorded in raw.repairs")
    return 1 if remaining else 0
