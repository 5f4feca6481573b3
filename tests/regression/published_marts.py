"""Fingerprints of the published marts, so a refactoring can show it changed no published figure.

Publication copies every table of the warehouse's ``marts`` schema into the snapshot and to
Parquet (``warehouse/publish.py``, ``SELECT *``), so the fingerprint of a mart is taken from that
schema: its columns, its row count, the sha256 of its rows sorted, and per column the sha256 of
its values sorted (so a difference names the column). Doubles are written with 10 significant
digits: DuckDB sums in parallel, so the last bits of a double may differ from run to run.

Excluded: columns that record when the pipeline ran rather than what the data say (``RUN_TIME``).
The clock is fixed (``AS_OF``), as in the session build of ``tests/dbt/conftest.py``, so
deadline verdicts and "the year is over" are stable.

The committed fingerprints are ``published_marts.json`` beside this file. A change of a published
figure must be deliberate: regenerate the file and commit it alone, saying why::

    .venv/bin/python tests/regression/published_marts.py write          # builds the sample (~3 min)
    .venv/bin/python tests/regression/published_marts.py write --warehouse var/warehouse.duckdb
    .venv/bin/python tests/regression/published_marts.py compare --warehouse <path>

The same fingerprints compare two published releases file by file (e.g. the Parquet files of
``make demo`` on two commits, run the same day so the demo's clock agrees)::

    .venv/bin/python tests/regression/published_marts.py compare-parquet <before>/parquet <after>/parquet
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

FINGERPRINTS = Path(__file__).with_name("published_marts.json")
MARTS_SCHEMA = "marts"
#: The pipeline clock of the sample build (every programme year is over).
AS_OF = "2026-01-15"
MONITOR_FROM = "2026-01-01"
#: Columns that record when the pipeline ran (the wall-clock time of day the loader received a
#: file), not what the data say: two builds of the same sample differ there and nowhere else.
RUN_TIME: dict[str, tuple[str, ...]] = {
    "fct_submission_timeliness": ("first_received_at",),
}
SIGNIFICANT_DIGITS = 10


def _text(value: Any) -> str:
    """One value as stable text (None apart from the string 'None')."""
    if value is None:
        return "\\N"
    if isinstance(value, float):
        if value != value:
            return "nan"
        text = f"{value:.{SIGNIFICANT_DIGITS}g}"
        return "0" if text in ("0", "-0") else text
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_text(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


def _digest(lines: Iterable[str]) -> str:
    sha = hashlib.sha256()
    for line in sorted(lines):
        sha.update(line.encode("utf-8"))
        sha.update(b"\n")
    return sha.hexdigest()


def mart_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables and views publication copies (as ``warehouse/publish.py`` lists them)."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by table_name",
        [MARTS_SCHEMA],
    ).fetchall()
    return [row[0] for row in rows]


def fingerprint_mart(
    con: duckdb.DuckDBPyConnection, name: str, *, schema: str = MARTS_SCHEMA
) -> dict[str, Any]:
    excluded = RUN_TIME.get(name, ())
    relation = con.execute(f'select * from "{schema}"."{name}"')
    columns = [d[0] for d in relation.description]
    rows = relation.fetchall()
    kept = [i for i, column in enumerate(columns) if column not in excluded]
    texts = [[_text(row[i]) for i in kept] for row in rows]
    return {
        "columns": [columns[i] for i in kept],
        "excluded": [c for c in columns if c in excluded],
        "rows": len(rows),
        "sha256": _digest("\x1f".join(row) for row in texts),
        "column_sha256": {
            columns[i]: _digest(row[position] for row in texts) for position, i in enumerate(kept)
        },
    }


def fingerprint_parquet_dir(folder: Path) -> dict[str, Any]:
    """The fingerprints of a release's Parquet files (one file a mart, named after it)."""
    marts = {}
    with duckdb.connect() as con:
        for path in sorted(folder.glob("*.parquet")):
            quoted = str(path).replace("'", "''")
            con.execute(f"create or replace view \"{path.stem}\" as select * from read_parquet('{quoted}')")
            marts[path.stem] = fingerprint_mart(con, path.stem, schema="main")
    return {"marts": marts}


def fingerprint_warehouse(warehouse: Path) -> dict[str, Any]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        marts = {name: fingerprint_mart(con, name) for name in mart_names(con)}
    return {"as_of": AS_OF, "marts": marts}


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What differs, one line per mart (empty when nothing does)."""
    lines = []
    want, got = expected["marts"], actual["marts"]
    for name in sorted(want.keys() - got.keys()):
        lines.append(f"{name}: no longer published")
    for name in sorted(got.keys() - want.keys()):
        lines.append(f"{name}: newly published ({got[name]['rows']} rows)")
    for name in sorted(want.keys() & got.keys()):
        before, after = want[name], got[name]
        if before == after:
            continue
        parts = []
        if before["columns"] != after["columns"]:
            parts.append(f"columns {before['columns']} -> {after['columns']}")
        if before["rows"] != after["rows"]:
            parts.append(f"rows {before['rows']} -> {after['rows']}")
        changed = [
            column
            for column, digest in after["column_sha256"].items()
            if before["column_sha256"].get(column, digest) != digest
        ]
        if changed:
            parts.append(f"values changed in {', '.join(changed)}")
        if not parts:
            parts.append("rows changed (each column's values alike: the rows pair them differently)")
        lines.append(f"{name}: {'; '.join(parts)}")
    return lines


def read_fingerprints(path: Path = FINGERPRINTS) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_fingerprints(fingerprints: dict[str, Any], path: Path = FINGERPRINTS) -> None:
    path.write_text(json.dumps(fingerprints, indent=1, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")


def build_sample(tmp: Path) -> Path:
    """The sample of ``tests/dbt/conftest.py`` (generated, loaded by the real loader, dbt build)
    in its own SCORECARD_HOME under ``tmp``; the warehouse's path."""
    os.environ.update(
        SCORECARD_HOME=str(tmp / "home"),
        SCORECARD_AS_OF=AS_OF,
        SCORECARD_MONITOR_FROM=MONITOR_FROM,
        DBT_TARGET_PATH=str(tmp / "dbt-target"),
        DBT_LOG_PATH=str(tmp / "dbt-logs"),
    )
    from ingest.loader import load_paths
    from samples.generate import generate
    from scorecard.core.settings import get_settings
    from warehouse.dbt import dbt_build

    settings = get_settings()
    settings.ensure_dirs()
    generate(tmp / "generated", settings=settings)
    load_paths([tmp / "generated"], settings=settings)
    result = dbt_build(settings)
    if not result.ok:
        raise SystemExit(f"dbt build failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return settings.warehouse_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["write", "compare", "compare-parquet"])
    parser.add_argument("--warehouse", type=Path, help="an existing warehouse (default: build the sample)")
    parser.add_argument("folders", type=Path, nargs="*", help="compare-parquet: the before and after folders")
    args = parser.parse_args(argv)
    if args.action == "compare-parquet":
        if len(args.folders) != 2:
            parser.error("compare-parquet takes two folders: before and after")
        before, after = (fingerprint_parquet_dir(folder) for folder in args.folders)
        if not before["marts"]:
            parser.error(f"no Parquet file in {args.folders[0]}")
        lines = differences(before, after)
        print("\n".join(lines) or f"the {len(after['marts'])} published Parquet files hold the same rows")
        return 1 if lines else 0
    with tempfile.TemporaryDirectory(prefix="published-marts-") as tmp:
        warehouse = args.warehouse or build_sample(Path(tmp))
        fingerprints = fingerprint_warehouse(warehouse)
        if args.action == "write":
            write_fingerprints(fingerprints)
            print(f"wrote {FINGERPRINTS} ({len(fingerprints['marts'])} marts)")
            return 0
        lines = differences(read_fingerprints(), fingerprints)
        print("\n".join(lines) or "the published marts are unchanged")
        return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
