"""What people read, rendered from a published release 发布后生成报告与工作簿.

Publication (``warehouse.publish``) releases the snapshot, Parquet and manifest and renders
nothing; orchestration (``scorecard publish``, ``scorecard run``, the Airflow publish task) then
calls :func:`render_release`, which reads the released snapshot and writes ``report.html`` and
``scorecards.xlsx`` into that release, and points ``publish/report.html`` and
``publish/scorecards.xlsx`` at them (atomic link flips). Until that is done the links still show
the previous release, so people never see a report of data other than a published release's.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from reports.html import REPORT_NAME, write_report
from reports.workbook import WORKBOOK_NAME, write_workbook
from scorecard.core.durable import fsync_dir, replace_symlink
from scorecard.core.locks import exclusive_lock
from scorecard.core.settings import Settings, get_settings

#: What people read; each is a link in publish/ to the newest release rendered.
RENDERED_NAMES = (REPORT_NAME, WORKBOOK_NAME)
#: The release layout warehouse.publish writes (its snapshot and manifest in every release).
SNAPSHOT_NAME = "scorecards.duckdb"
MANIFEST_NAME = "manifest.json"


def render_release(settings: Settings | None = None, release: Path | None = None) -> Path:
    """Render the report and the workbook of ``release`` (default: the current one) from its own
    snapshot and manifest, then link them in publish/; return the release directory.

    The links are flipped only while ``release`` is still the current one, under a lock, so two
    renderings finishing out of order never point people at an older release.
    """
    settings = settings or get_settings()
    current = settings.publish / "current"
    if release is None:
        if not current.exists():
            raise FileNotFoundError(f"nothing published yet: no release at {current}")
        release = current.resolve()
    snapshot = release / SNAPSHOT_NAME
    manifest: dict[str, Any] = json.loads((release / MANIFEST_NAME).read_text(encoding="utf-8"))
    # Two independent readers of the snapshot, side by side: much of each is DuckDB, zlib and
    # file writes, which release the GIL (national quick snapshot, load average ~5: 59 s one after
    # the other, 38 s together, for the same CPU).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-report") as pool:
        report = pool.submit(write_report, snapshot, release, manifest)
        write_workbook(snapshot, release / WORKBOOK_NAME)
        report.result()
    fsync_dir(release)
    with exclusive_lock(settings.publish / ".render.lock"):
        if current.exists() and current.resolve() == release.resolve():
            for name in RENDERED_NAMES:
                replace_symlink(settings.publish / name, Path("releases") / release.name / name)
            fsync_dir(settings.publish)
    return release
