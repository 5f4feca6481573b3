"""The limit peer (issue #22): ``bench/limit_peer.sql`` run in one DuckDB process.

It computes what ``fct_indicator_progress`` holds (annualised values, roll-ups, targets,
attainment, year status) straight from a warehouse's ``raw.submissions`` and the seed CSV files,
with the warehouse attached read-only and every intermediate table in memory, so nothing is
written anywhere. The pipeline's build time divided by its time is the "x the limit" figure of
``make bench``.

    python -m bench.limit_peer WAREHOUSE [--seeds DIR] [--as-of YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import string
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

SCRIPT = Path(__file__).with_name("limit_peer.sql")
RESULT_TABLE = "peer_indicator_progress"
# dbt_project.yml's defaults (SCORECARD_FIRST_YEAR / SCORECARD_LAST_YEAR, var target_tolerance).
FIRST_YEAR = 2021
LAST_YEAR = 2025
TARGET_TOLERANCE = 1e-9


@dataclass
class PeerRun:
    connection: duckdb.DuckDBPyConnection  # holds the result table until closed
    seconds: float
    rows: int


def script_text(seeds: Path, as_of: str, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR) -> str:
    return string.Template(SCRIPT.read_text(encoding="utf-8")).substitute(
        seeds=seeds.as_posix(),
        as_of=as_of,
        first_year=first_year,
        last_year=last_year,
        tolerance=repr(TARGET_TOLERANCE),
    )


def run(
    warehouse: Path,
    seeds: Path,
    as_of: str,
    first_year: int = FIRST_YEAR,
    last_year: int = LAST_YEAR,
    threads: int | None = None,
) -> PeerRun:
    """Run the script against ``warehouse`` (read-only); the result stays in the returned
    connection as ``peer_indicator_progress``. ``seconds`` covers attaching and the script."""
    sql = script_text(seeds, as_of, first_year, last_year)
    connection = duckdb.connect(":memory:")
    if threads:
        connection.execute(f"SET threads = {int(threads)}")
    started = time.perf_counter()
    connection.execute(f"ATTACH '{warehouse.as_posix()}' AS wh (READ_ONLY)")
    connection.execute(sql)
    seconds = time.perf_counter() - started
    (rows,) = connection.execute(f"select count(*) from {RESULT_TABLE}").fetchone() or (0,)
    return PeerRun(connection, seconds, int(rows))


def main(argv: list[str] | None = None) -> int:
    from scorecard.core.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m bench.limit_peer", description=__doc__.split("\n\n")[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--seeds", type=Path, help="seed folder (default: the project's)")
    parser.add_argument("--as-of", default="2026-01-15")
    args = parser.parse_args(argv)
    seeds = args.seeds or get_settings().seeds_dir
    result = run(args.warehouse, seeds, args.as_of)
    print(f"limit peer: {result.rows:,} rows in {result.seconds:.3f} s")
    result.connection.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
