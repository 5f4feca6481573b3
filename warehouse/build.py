"""``scorecard build``: run ``dbt build`` (seeds, models, data and unit tests) and summarise.

dbt runs as a subprocess (warehouse.dbt); the summary is read from dbt's run_results.json and
from the marts themselves: nodes passed / failed by kind, and the row count of every mart.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from scorecard.core.settings import Settings, get_settings
from warehouse.dbt import BUILD_MODES, BuildMode

MARTS_SCHEMA = "marts"
# run_results statuses that count as a failure of the build.
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# "12:00:01  7 of 412 OK created sql table model marts.fct_x .... [OK in 0.1s]"
_NODE_LINE = re.compile(r"^(?:\d\d:\d\d:\d\d\s+)?(\d+) of (\d+) (\S+) (.*?)(?:\s\.+\s*\[.*)?$")
# dbt's lines before the first node: the project was found and parsed
_PREAMBLE = re.compile(r"^(?:\d\d:\d\d:\d\d\s+)?(Running with dbt|Found \d+ |Concurrency: )")


def strip_ansi(text: str) -> str:
    return ANSI_ESCAPE.sub("", text)


class BuildProgress:
    """Turns dbt's output lines into a few progress lines 构建进度: the project found, every tenth of
    the nodes done, and every node that did not pass (as it happens, not at the end)."""

    def __init__(self, emit: Callable[[str], None], *, step_percent: int = 10) -> None:
        self.emit = emit
        self.step = step_percent
        self.next_percent = step_percent

    def __call__(self, line: str) -> None:
        text = strip_ansi(line).strip()
        match = _NODE_LINE.match(text)
        if match is None:
            if _PREAMBLE.match(text):
                self.emit(f"  dbt: {_PREAMBLE.sub(lambda m: m.group(1), text)}")
            return
        done, total, status, what = int(match[1]), int(match[2]), match[3], match[4].strip()
        if status == "START" or total == 0:
            return
        percent = done * 100 // total
        if status in {"OK", "PASS"} and percent < self.next_percent and done != total:
            return
        self.emit(f"  dbt {done}/{total} ({percent}%) {status} {what}")
        while self.next_percent <= percent:
            self.next_percent += self.step


@dataclass
class BuildSummary:
    ok: bool
    returncode: int
    by_status: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    mart_rows: dict[str, int] = field(default_factory=dict)
    mode: str = "full"

    @property
    def passed(self) -> int:
        return sum(n for status, n in self.by_status.items() if status not in FAILED_STATUSES | {"skipped"})

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.by_status.items() if status in FAILED_STATUSES)


def run_results_path(settings: Settings) -> Path:
    """Where dbt wrote run_results.json: DBT_TARGET_PATH when set, else the project's target/."""
    target = os.environ.get("DBT_TARGET_PATH")
    base = Path(target) if target else settings.dbt_project_dir / "target"
    if not base.is_absolute():
        base = settings.dbt_project_dir / base
    return base / "run_results.json"


def read_run_results(path: Path) -> tuple[Counter, list[str]]:
    """Count node results by status and list the failed nodes (name: message)."""
    if not path.exists():
        return Counter(), []
    results = json.loads(path.read_text(encoding="utf-8")).get("results", [])
    by_status: Counter = Counter()
    failures: list[str] = []
    for result in results:
        status = str(result.get("status", "")).lower()
        by_status[status] += 1
        if status in FAILED_STATUSES:
            node = result.get("unique_id", "?")
            message = (result.get("message") or "").strip().splitlines()
            failures.append(f"{node}: {message[0] if message else status}")
    return by_status, failures


def mart_row_counts(settings: Settings) -> dict[str, int]:
    """Row count of every table in the marts schema (empty if the warehouse has none yet)."""
    import duckdb

    if not settings.warehouse_path.exists():
        return {}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = ? order by table_name",
                [MARTS_SCHEMA],
            ).fetchall()
        ]
        return {
            table: con.execute(f'select count(*) from "{MARTS_SCHEMA}"."{table}"').fetchone()[0]
            for table in tables
        }


def build(
    settings: Settings | None = None,
    *,
    select: str | None = None,
    mode: BuildMode = "full",
    on_line: Callable[[str], None] | None = None,
) -> BuildSummary:
    """Run ``dbt build`` in ``mode`` (see :func:`warehouse.dbt.dbt_build`) and summarise it;
    ``on_line`` gets dbt's output lines as they come (see :class:`BuildProgress`)."""
    from warehouse.dbt import dbt_build

    settings = settings or get_settings()
    results_file = run_results_path(settings)
    results_file.unlink(missing_ok=True)  # never summarise a previous run
    result = dbt_build(settings, select=select, mode=mode, on_line=on_line)
    by_status, failures = read_run_results(results_file)
    if not result.ok and not failures:
        tail = strip_ansi(result.stdout + result.stderr).strip().splitlines()[-5:]
        failures = tail or [f"dbt exited with {result.returncode}"]
    return BuildSummary(
        ok=result.ok,
        returncode=result.returncode,
        by_status=by_status,
        failures=failures,
        mart_rows=mart_row_counts(settings),
        mode=result.mode,
    )


def format_summary(summary: BuildSummary) -> str:
    lines = [
        f"dbt build ({summary.mode}) {'OK' if summary.ok else 'FAILED'} (exit {summary.returncode}): "
        f"{summary.passed} passed, {summary.failed} failed"
        + (f", {summary.by_status['skipped']} skipped" if summary.by_status.get("skipped") else "")
        + (f", {summary.by_status['warn']} warnings" if summary.by_status.get("warn") else ""),
    ]
    lines += [f"  FAILED {failure}" for failure in summary.failures[:20]]
    if summary.mart_rows:
        lines.append("marts (rows):")
        width = max(len(name) for name in summary.mart_rows)
        lines += [f"  {name:<{width}}  {rows:>8}" for name, rows in summary.mart_rows.items()]
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--select", "-s", default=None, help="dbt node selection (default: everything)")
    parser.add_argument(
        "--mode",
        choices=BUILD_MODES,
        default="full",
        help="full: rebuild everything (default); incremental: only what new submissions change; "
        "auto: incremental when the last full build matches the project and settings",
    )


def run(args: argparse.Namespace) -> int:
    mode = getattr(args, "mode", "full")
    print(f"dbt build ({mode}) 开始构建 started: seeds, models and tests", flush=True)
    progress = BuildProgress(lambda text: print(text, flush=True))
    summary = build(select=getattr(args, "select", None), mode=mode, on_line=progress)
    print(format_summary(summary), flush=True)
    return 0 if summary.ok else 1
