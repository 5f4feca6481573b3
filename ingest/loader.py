"""The submission loader: one file, one DuckDB transaction, nothing lost.

``load_file`` hashes the file, reads and validates it (no warehouse connection held meanwhile),
then in one transaction allocates the file id, records the ledger row, inserts valid rows into
``raw.submissions`` / ``raw.status_reports`` and refused rows into ``raw.quarantine``, and marks
earlier files whose every value is now superseded. Only after the commit does the file move to
``archive/`` or ``rejected/`` (with ``<name>.errors.json``): a crash before the commit leaves the
warehouse and the inbox as they were, and the retry converges; a crash between the commit and the
move leaves the file in the inbox, and the retry finds it recorded but not moved (same name,
department and bytes, nothing at its stored path) and only moves it: no file is recorded twice.

A file is opened once without following links and hashed and read from that one descriptor: the
ledger's sha256 is of the bytes loaded. A path with nothing at it is refused before anything is
written (``FILE_NOT_FOUND``); every text written about a file passes ``pii.clean``.

The two halves can also run apart, on different machines (the distributed profile,
docs/distributed.md): ``stage_file`` reads and validates a file and writes the validated rows to
Parquet in a stage folder of the shared data directory, without opening the warehouse; later,
``commit_staged`` writes a stage folder into the warehouse in the same one transaction and moves
the file. ``load_file`` is the two back to back in one process, without the Parquet round trip.

This module is the loader's façade; the work is in four modules along its seams (imports point
one way: parse, paths <- commit <- stage <- loader):

- ``ingest.parse``   bytes to validated rows (``parse_file``), no warehouse, nothing moved
- ``ingest.paths``   which paths may be read (``unsafe_path``), stored names, department folders
- ``ingest.commit``  open once and prepare (``prepare_file``), the one transaction and the move
                     (``commit_prepared``), ``LoadResult`` and the statuses
- ``ingest.stage``   the two halves apart: ``stage_file`` and ``commit_staged``
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ingest import pii
from ingest.commit import (
    DUPLICATE,
    FAILED,
    LOADED,
    LOADED_WITH_REJECTS,
    REJECTED,
    SUPERSEDED,
    LoadResult,
    commit_prepared,
    prepare_file,
    warehouse_connection,
)
from ingest.parse import sha256_of
from ingest.paths import infer_department, safe_file_name, unsafe_path
from ingest.stage import STAGE_FACTS, commit_staged, stage_file
from scorecard.core.settings import Settings, get_settings

__all__ = [
    "DUPLICATE",
    "FAILED",
    "LOADED",
    "LOADED_WITH_REJECTS",
    "REJECTED",
    "RESERVED_NAMES",
    "RESERVED_SUFFIXES",
    "STAGE_FACTS",
    "SUPERSEDED",
    "LoadResult",
    "commit_staged",
    "explain_failure",
    "infer_department",
    "iter_submission_files",
    "load_file",
    "load_paths",
    "safe_file_name",
    "sha256_of",
    "stage_file",
    "unsafe_path",
    "warehouse_connection",
]

# Files in a folder that are never submissions: our own outputs and the generator's manifest.
RESERVED_SUFFIXES = (".errors.json",)
RESERVED_NAMES = frozenset({"faults_manifest.json"})


def load_file(
    path: str | os.PathLike[str],
    *,
    department: str | None = None,
    settings: Settings | None = None,
    confine: bool = False,
    _root: Path | None = None,
    _connection: Any | None = None,
) -> LoadResult:
    """Load one submission file into the raw layer; see the module docstring for the guarantees.

    ``department`` overrides the department the file's folder implies. ``confine`` refuses paths
    outside the inbox and processing folders (use it for paths that arrive in a request, such as
    an Airflow run's conf); see :func:`unsafe_path`. A refused path is neither read, recorded nor
    moved: the result has status ``rejected``, reason ``FILE_PATH_UNSAFE`` and no file id.
    """
    settings = settings or get_settings()
    settings.ensure_dirs()
    result, staged = prepare_file(
        Path(path), department=department, settings=settings, confine=confine, root=_root
    )
    if staged is not None:
        commit_prepared(settings, result, staged, _connection)
    return result


def explain_failure(exc: BaseException) -> str:
    """A reason a person can act on (zh / en) for a load that raised, instead of a traceback: the
    warehouse held by another process, a full disk, a data directory that cannot be written."""
    import errno

    text = str(exc)
    lowered = text.lower()
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.ENOSPC or "no space left" in lowered:
        why = (
            "磁盘已满，本文件未入库，请清理空间后重试 / "
            "disk full: nothing was recorded for this file; free space and retry"
        )
    elif "transaction is aborted" in lowered or "transactioncontext" in lowered:
        why = (
            "写入仓库失败，事务已回滚（磁盘是否已满？），本文件未入库 / "
            "a write to the warehouse failed and was rolled back (disk full?): nothing was recorded"
        )
    elif "lock" in lowered and ("conflict" in lowered or "could not set lock" in lowered):
        why = (
            "数据仓库正被其他进程占用（只读查询或构建），请稍后重试 / "
            "the warehouse is held by another process (a reader or a build): retry when it is done"
        )
    elif (
        isinstance(exc, PermissionError)
        or code in {errno.EACCES, errno.EROFS}
        or "read-only file system" in lowered
    ):
        why = "数据目录不可写 / the data directory cannot be written"
    else:
        why = f"导入失败 / the load failed: {type(exc).__name__}"
    return pii.clean(f"{why} ({text[:300]})")


def iter_submission_files(root: Path) -> list[Path]:
    """Every file below a folder, in a stable order, skipping hidden files, our ``.errors.json``
    outputs and the generator's manifest."""
    files = []
    for candidate in sorted(root.rglob("*")):
        relative = candidate.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if candidate.is_dir():
            continue
        if candidate.name in RESERVED_NAMES or candidate.name.endswith(RESERVED_SUFFIXES):
            continue
        files.append(candidate)
    return files


def load_paths(
    paths: Iterable[str | os.PathLike[str]] | None = None,
    settings: Settings | None = None,
    *,
    confine: bool = False,
    department: str | None = None,
) -> list[LoadResult]:
    """Load files and folders (a folder: every file below it, the department from each file's
    sub-folder, as in the inbox). No paths: the inbox. A file whose load raises is reported with
    status ``failed`` and left where it is, so a retry picks it up."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    sources = [Path(raw) for raw in list(paths or []) or [settings.inbox]]

    def listing() -> list[tuple[Path, Path | None]]:
        targets: list[tuple[Path, Path | None]] = []
        for path in sources:
            if path.is_dir() and not path.is_symlink():
                targets.extend((file, path) for file in iter_submission_files(path))
            else:
                targets.append((path, None))
        return targets

    results: list[LoadResult] = []
    if not listing():
        return results
    # One connection for the batch (opening and checkpointing per file is most of the cost);
    # each file is still its own transaction. The folders are listed again once the warehouse's
    # lock is held: another ingest may have taken files while this one waited (issue #23 point 11).
    with warehouse_connection(settings) as con:
        for path, root in listing():
            if root is not None and not os.path.lexists(path):
                continue  # listed, then taken by another process: not ours to record
            try:
                results.append(
                    load_file(
                        path,
                        department=department,
                        settings=settings,
                        confine=confine,
                        _root=root,
                        _connection=con,
                    )
                )
            except Exception as exc:  # report and carry on: the file stays for a retry
                message = explain_failure(exc)
                results.append(
                    LoadResult(path=path, file_name=pii.clean(path.name), status=FAILED, message=message)
                )
    return results
