"""``scorecard ingest PATH...``: load files or folders (default: the inbox) and print a table.

Exit status 1 when any file was rejected, had rejected rows, or failed to load.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.errors import Issue
    from ingest.loader import LoadResult

MAX_ERRORS_SHOWN = 3


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="files or folders (a folder: every file below it; default: the inbox)",
    )
    parser.add_argument(
        "--department",
        default=None,
        help="department code for every file given (default: each file's sub-folder)",
    )


def grouped_issues(result: LoadResult) -> list[tuple[Issue, int]]:
    """A file's issues, each distinct problem once with how many rows it refused: a whole-file
    refusal is repeated on every row it quarantined (same reason, same details), and is shown once
    with the count."""
    groups: dict[tuple[str, str], list[Issue]] = {}
    for issue in result.issues:
        key = (issue.reason_code, json.dumps(issue.params, sort_keys=True, ensure_ascii=False, default=str))
        groups.setdefault(key, []).append(issue)
    shown: list[tuple[Issue, int]] = []
    for issues in groups.values():
        rows = sum(1 for issue in issues if issue.row_ref)
        first = next((issue for issue in issues if not issue.row_ref), issues[0])
        shown.append((first, rows if len(issues) > 1 else 0))
    return shown


def format_results(results: list[LoadResult]) -> str:
    """The per-file table, with the first distinct problems of each file under it."""
    header = f"{'file':<44} {'department':<22} {'status':<20} {'loaded':>7} {'rejected':>8}"
    lines = [header, "-" * len(header)]
    for result in results:
        name = result.file_name if len(result.file_name) <= 44 else "…" + result.file_name[-43:]
        lines.append(
            f"{name:<44} {result.department_code or '-':<22} {result.status:<20} "
            f"{result.rows_loaded:>7} {result.rows_rejected:>8}"
        )
        if result.status == "failed" and result.message:
            lines.append(f"    ! {result.message}")
        elif (
            result.status in {"loaded", "loaded_with_rejects"}
            and result.message
            and "ignored" in result.message
        ):
            note = result.message[result.message.index("ignored") :]
            lines.append(f"    ! 警告 warning: 已忽略未识别的列 {note}")
        for warning in result.warnings:
            lines.append(f"    ! 警告 {warning.reason_zh}")
            lines.append(f"      warning: {warning.reason_en}")
        grouped = grouped_issues(result)
        for issue, rows in grouped[:MAX_ERRORS_SHOWN]:
            count_zh = f"（共 {rows} 行）" if rows else ""
            count_en = f" ({rows} rows)" if rows else ""
            lines.append(f"    - {issue.reason_zh}{count_zh}")
            lines.append(f"      {issue.reason_en}{count_en}")
        if len(grouped) > MAX_ERRORS_SHOWN:
            lines.append(
                f"    … {len(grouped) - MAX_ERRORS_SHOWN} more kinds of problem in the .errors.json file"
            )
    loaded = sum(result.rows_loaded for result in results)
    rejected = sum(result.rows_rejected for result in results)
    lines.append(f"{len(results)} files, {loaded} rows loaded, {rejected} rows rejected")
    return "\n".join(lines)


def exit_code(results: list[LoadResult]) -> int:
    """1 when anything was refused or failed, else 0 (duplicates are fine)."""
    return (
        1 if any(result.status in {"rejected", "failed"} or result.rows_rejected for result in results) else 0
    )


def load(args: argparse.Namespace) -> list[LoadResult]:
    """Load what the arguments name (``scorecard ingest`` sends each file's receipt afterwards).
    Raises only for the warehouse or the data directory as a whole."""
    from ingest.loader import load_paths
    from scorecard.core.settings import get_settings

    settings = get_settings()
    # With --department too, a file whose load raises is reported and the others still load.
    return load_paths(args.paths or None, settings=settings, department=args.department or None)


def finish(results: list[LoadResult]) -> int:
    """Print the table; the exit status."""
    print(format_results(results))
    return exit_code(results)


def run(args: argparse.Namespace) -> int:
    from ingest.loader import explain_failure

    try:
        results = load(args)
    except Exception as exc:  # the warehouse or the data directory as a whole: a reason, no traceback
        print(f"! {explain_failure(exc)}")
        return 2
    return finish(results)
