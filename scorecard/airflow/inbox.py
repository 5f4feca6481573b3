"""The inbox trigger: turns a file landing in the inbox into an Airflow asset event.
收件箱触发器：部门把文件放进收件箱，即产生一个 Airflow 资产事件。

``InboxTrigger`` runs in the Airflow triggerer under an ``AssetWatcher`` (see ``dags/ingest.py``).
It polls ``inbox/`` (department sub-folders ``inbox/<department_code>/<file>``; a file directly in
``inbox/`` has no department and the loader works it out), and **claims** each finished file by an
atomic ``os.rename`` into ``processing/<department>/<claim-id>/<original name>`` before announcing
it. Because the rename is atomic on one filesystem:

* many files arriving at once give one event each, and two triggerers racing for a file cannot
  both win (the loser gets ``FileNotFoundError`` and skips it);
* the triggerer restarting (it restarts a watcher after events, and on deployment) never announces
  a file twice: an announced file is no longer in the inbox;
* files that arrive while Airflow is down simply wait in the inbox and are claimed at start-up.

An ingest run then *adopts* the claims it loads by renaming ``<claim-id>/`` to
``<claim-id>@<run>/`` (:func:`adopt`), and every run adopts any claim nobody has adopted, so a file
whose event was lost or attributed to no run is still loaded once; the trigger re-announces claims
left unadopted for ``orphan_after_seconds`` to wake a run up.

Files still being written are left alone: hidden files (``.name``), partial uploads (``*.part``,
``*.tmp``, ``*.crdownload``), Office lock files (``~$name``), files modified less than
``min_age_seconds`` ago and files whose size changed since the previous scan. A file *renamed*
into the inbox (the upload convention: write ``name.part`` or a hidden file, then rename; the
submission API and ``scorecard demo`` do so) was complete before it arrived: on Linux the trigger
hears of the rename through inotify (:class:`MovedInWatch`), wakes up at once and claims it
without the quiet period.

The module is part of the installed ``scorecard`` package (not an Airflow plugins folder) so that
the triggerer can import it whatever ``AIRFLOW_HOME`` is. It imports nothing heavy at module level
apart from Airflow's trigger base class.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import struct
import sys
import time
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp")
UNSORTED = "_unsorted"  # processing/ folder for files dropped directly into inbox/
OWNED_MARK = "@"  # processing/<department>/<claim-id>@<owner>/: adopted by an ingest run


def announced_channel(name: str, department: str | None, home: Path) -> dict[str, Any]:
    """How a claimed file came, as the event announces it: ``api`` (with the submission id and the
    department whose token sent it) when the submission API recorded a file of this name for this
    department, else ``file_drop``. Cheap (no hashing in the triggerer): the loader checks the
    bytes against the record before the ledger says ``api`` (``ingest.provenance``)."""
    from ingest.provenance import read_record

    submission_id = name.split(".", 1)[0]
    record = read_record(home, submission_id) if department else None
    if record is not None and record.get("department") == department:
        return {"channel": "api", "authenticated_department": department, "submission_id": submission_id}
    return {"channel": "file_drop", "authenticated_department": None, "submission_id": None}


def claim_payload(path: Path, processing: Path, **extra: Any) -> dict[str, Any]:
    """The event payload for a file at ``processing/<department>/<claim-id>/<file>``."""
    department = path.parent.parent.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:  # adopted by a run meanwhile: the payload only wakes a run up
        size = 0
    known = None if department == UNSORTED else department
    return {
        "path": str(path),
        "original_name": path.name,
        "department": known,
        "size": size,
        "relative_path": str(path.relative_to(processing)),
        **announced_channel(path.name, known, processing.parent),
        **extra,
    }


def adopt(path: Path, owner: str) -> Path | None:
    """Take ownership of a claim for one ingest run by renaming its claim folder (atomic).

    Returns the file's new path, or ``None`` if another run adopted it first (or it is gone).
    An already adopted claim is returned as it is (it belongs to whoever holds its path).
    """
    claim_dir = path.parent
    if OWNED_MARK in claim_dir.name:
        return path if path.exists() else None
    owned_dir = claim_dir.with_name(f"{claim_dir.name}{OWNED_MARK}{owner}")
    try:
        os.rename(claim_dir, owned_dir)
    except (FileNotFoundError, OSError) as exc:
        if isinstance(exc, FileNotFoundError) or not claim_dir.exists():
            return None
        raise
    target = owned_dir / path.name
    return target if target.exists() else None


def is_candidate_name(relative: Path) -> bool:
    """True if no part of the path is hidden and the file name is not a partial/lock file."""
    for part in relative.parts:
        if part.startswith(".") or part.startswith("~$") or part.startswith("~"):
            return False
    name = relative.name.lower()
    return not name.endswith(PARTIAL_SUFFIXES)


@dataclass(frozen=True)
class Claim:
    """A file taken out of the inbox: where it is now and what it was called."""

    path: str
    original_name: str
    department: str | None
    size: int
    relative_path: str
    channel: str = "file_drop"  # or "api": see announced_channel
    authenticated_department: str | None = None
    submission_id: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "original_name": self.original_name,
            "department": self.department,
            "size": self.size,
            "relative_path": self.relative_path,
            "channel": self.channel,
            "authenticated_department": self.authenticated_department,
            "submission_id": self.submission_id,
        }


class InboxScanner:
    """The synchronous part of the trigger: find finished files and claim them (unit-testable)."""

    def __init__(self, inbox: Path, processing: Path, *, min_age_seconds: float = 2.0) -> None:
        self.inbox = inbox
        self.processing = processing
        self.min_age_seconds = min_age_seconds
        self._last_sizes: dict[str, int] = {}

    def candidates(
        self, now: float | None = None, moved_in: Collection[str] = ()
    ) -> list[tuple[Path, Path, int]]:
        """Finished files in the inbox as ``(absolute, relative, size)``, oldest first.

        ``moved_in``: relative paths of files renamed into the inbox since the previous scan
        (:meth:`MovedInWatch.moved_in`); they were complete when they came, so the quiet period and
        the size comparison do not apply to them."""
        now = time.time() if now is None else now
        found: list[tuple[float, Path, Path, int]] = []
        sizes: dict[str, int] = {}
        if not self.inbox.is_dir():
            return []
        for root, dirs, files in os.walk(self.inbox):
            # never descend into hidden folders (e.g. an uploader's .staging/)
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "~")))
            for name in files:
                absolute = Path(root) / name
                relative = absolute.relative_to(self.inbox)
                if not is_candidate_name(relative):
                    continue
                try:
                    stat = absolute.stat()
                except FileNotFoundError:  # vanished between listing and stat
                    continue
                if not absolute.is_file():
                    continue
                key = str(relative)
                sizes[key] = stat.st_size
                if key in moved_in:
                    found.append((stat.st_mtime, absolute, relative, stat.st_size))
                    continue
                if now - stat.st_mtime < self.min_age_seconds:
                    continue  # still being written (or just renamed in: wait a moment)
                previous = self._last_sizes.get(key)
                if previous is not None and previous != stat.st_size:
                    continue  # grew since the last scan
                found.append((stat.st_mtime, absolute, relative, stat.st_size))
        self._last_sizes = sizes
        found.sort(key=lambda item: (item[0], str(item[2])))
        return [(absolute, relative, size) for _, absolute, relative, size in found]

    def claim(self, absolute: Path, relative: Path, size: int) -> Claim | None:
        """Move one file into processing/ atomically; ``None`` if someone else got it first."""
        department = relative.parts[0] if len(relative.parts) > 1 else None
        claim_dir = (
            self.processing
            / (department or UNSORTED)
            / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        )
        claim_dir.mkdir(parents=True, exist_ok=False)
        target = claim_dir / absolute.name
        try:
            os.rename(absolute, target)
        except FileNotFoundError:
            # lost the race to another triggerer (or the sender withdrew the file)
            claim_dir.rmdir()
            return None
        return Claim(
            path=str(target),
            original_name=absolute.name,
            department=department,
            size=size,
            relative_path=str(relative),
            # the data home holds inbox/ and processing/ (scorecard.config.Settings)
            **announced_channel(absolute.name, department, self.processing.parent),
        )

    def unowned_claims(self, older_than_seconds: float, now: float | None = None) -> list[Path]:
        """Claims in ``processing/<department>/<claim-id>/`` that no ingest run has adopted yet
        and that were claimed more than ``older_than_seconds`` ago (their announcement was lost,
        or was consumed by a run created a moment too early). Adopted claims (``<claim-id>@<run>``)
        are never returned: a run owns them."""
        now = time.time() if now is None else now
        found: list[Path] = []
        if not self.processing.is_dir():
            return found
        for department_dir in sorted(self.processing.iterdir()):
            if not department_dir.is_dir() or department_dir.name.startswith("."):
                continue
            for claim_dir in sorted(department_dir.iterdir()):
                if not claim_dir.is_dir() or OWNED_MARK in claim_dir.name or claim_dir.name.startswith("."):
                    continue
                for file in sorted(claim_dir.iterdir()):
                    try:
                        stat = file.stat()
                    except FileNotFoundError:
                        continue
                    # rename updates ctime, so ctime is "when it was claimed"
                    if file.is_file() and now - stat.st_ctime >= older_than_seconds:
                        found.append(file)
        return found

    def claim_ready(self, now: float | None = None, moved_in: Collection[str] = ()) -> Iterator[Claim]:
        """Claim every finished file, one at a time (lazily, so a caller can stop in between)."""
        for absolute, relative, size in self.candidates(now, moved_in):
            claim = self.claim(absolute, relative, size)
            if claim is not None:
                yield claim


# inotify (linux/inotify.h): the events the watch asks for, and how a folder is told apart
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_Q_OVERFLOW = 0x00004000
_IN_IGNORED = 0x00008000
_IN_ISDIR = 0x40000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of NUL-padded name


class MovedInWatch:
    """The files renamed into the inbox tree, from Linux's inotify (``IN_MOVED_TO``).

    Only renames count: a file written in place (``IN_CLOSE_WRITE`` fires after every chunk a
    writer closes) still waits for the quiet period. New sub-folders are watched as they appear;
    a file renamed into a folder before its watch was added is simply found by the next scan, with
    the quiet period. :meth:`open` returns ``None`` where inotify is unavailable (another OS, no
    watches left): then the scan interval and the quiet period decide alone, as before.
    """

    def __init__(self, root: Path, fd: int, libc: Any) -> None:
        self.root = root
        self.fd = fd
        self._libc = libc
        self._folders: dict[int, Path] = {}
        self._moved: set[str] = set()

    @classmethod
    def open(cls, root: Path) -> MovedInWatch | None:
        if not sys.platform.startswith("linux"):
            return None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        except (OSError, AttributeError):
            return None
        if fd < 0:
            return None
        watch = cls(root, fd, libc)
        if not watch._add_tree(root):
            watch.close()
            return None
        return watch

    def _add(self, folder: Path) -> bool:
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(folder), _IN_MOVED_TO | _IN_CREATE)
        if wd < 0:
            return False
        self._folders[wd] = folder
        return True

    def _add_tree(self, top: Path) -> bool:
        """Watch ``top`` and the folders under it (not hidden ones, which the scan skips too)."""
        if not self._add(top):
            return False
        for folder, dirs, _ in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "~")))
            for name in dirs:
                self._add(Path(folder) / name)
        return True

    def moved_in(self) -> set[str]:
        """Relative paths of the files renamed in since the last call (read without blocking)."""
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                break
            except OSError:
                break
            if not data:
                break
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                self._event(wd, mask, os.fsdecode(raw))
        moved, self._moved = self._moved, set()
        return moved

    def _event(self, wd: int, mask: int, name: str) -> None:
        if mask & _IN_Q_OVERFLOW:  # events were dropped: those files take the quiet period
            return
        if mask & _IN_IGNORED:  # the folder was removed
            self._folders.pop(wd, None)
            return
        folder = self._folders.get(wd)
        if folder is None or not name or name.startswith((".", "~")):
            return
        path = folder / name
        if mask & _IN_ISDIR:
            with contextlib.suppress(OSError):
                self._add_tree(path)
        elif mask & _IN_MOVED_TO:
            with contextlib.suppress(ValueError):
                self._moved.add(str(path.relative_to(self.root)))

    async def wait(self, timeout: float) -> None:
        """Return when an event is ready to be read, or after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop.add_reader(self.fd, ready.set)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), timeout)
        finally:
            loop.remove_reader(self.fd)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class InboxTrigger(BaseEventTrigger):
    """Watch the inbox; yield one ``TriggerEvent`` per claimed file. 监视收件箱并认领文件。

    Args:
        inbox / processing: folders to watch and to claim into. ``None`` (the default) means
            "from ``scorecard.core.settings.get_settings()`` in the triggerer", so the DAG file does no
            path resolution at parse time and one deployment setting (``SCORECARD_HOME``) decides.
        poll_interval: seconds between scans.
        min_age_seconds: a file must be unmodified this long (and its size unchanged between two
            scans) before it is claimed.
        orphan_after_seconds: claims in ``processing/`` that no ingest run has adopted after this
            long are announced again (checked every ``sweep_interval`` seconds). Their first
            announcement was lost (the triggerer stopped between the rename and recording the
            event) or landed in a run that was created a moment before the event was committed.
            An announcement only wakes an ingest run up: runs adopt claims by an atomic rename,
            so a claim is loaded once however often it is announced. ``0`` or less disables it.
    """

    def __init__(
        self,
        inbox: str | None = None,
        processing: str | None = None,
        poll_interval: float = 0.5,
        min_age_seconds: float = 1.0,
        orphan_after_seconds: float = 60.0,
        sweep_interval: float = 15.0,
    ) -> None:
        super().__init__()
        self.orphan_after_seconds = orphan_after_seconds
        self.sweep_interval = sweep_interval
        self.inbox = inbox
        self.processing = processing
        self.poll_interval = poll_interval
        self.min_age_seconds = min_age_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "inbox": self.inbox,
                "processing": self.processing,
                "poll_interval": self.poll_interval,
                "min_age_seconds": self.min_age_seconds,
                "orphan_after_seconds": self.orphan_after_seconds,
                "sweep_interval": self.sweep_interval,
            },
        )

    def scanner(self) -> InboxScanner:
        if self.inbox is None or self.processing is None:
            from scorecard.core.settings import get_settings

            settings = get_settings()
            inbox = Path(self.inbox) if self.inbox else settings.inbox
            processing = Path(self.processing) if self.processing else settings.processing
        else:
            inbox, processing = Path(self.inbox), Path(self.processing)
        inbox.mkdir(parents=True, exist_ok=True)
        processing.mkdir(parents=True, exist_ok=True)
        return InboxScanner(inbox, processing, min_age_seconds=self.min_age_seconds)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        scanner = self.scanner()
        # set up before the first scan: a file renamed in after it is heard of at once
        watch = MovedInWatch.open(scanner.inbox)
        self.log.info(
            "Watching %s (claiming into %s; renames %s)",
            scanner.inbox,
            scanner.processing,
            "heard at once (inotify)" if watch else f"found by the scan every {self.poll_interval:g} s",
        )
        try:
            async for event in self._events(scanner, watch):
                yield event
        finally:
            if watch is not None:
                watch.close()

    async def _events(self, scanner: InboxScanner, watch: MovedInWatch | None) -> AsyncIterator[TriggerEvent]:
        announced: dict[str, float] = {}
        last_sweep = 0.0
        while True:
            moved_in = watch.moved_in() if watch is not None else set()
            # Claim and yield back to back with no await in between: a cancellation (triggerer
            # shutting down) can only land while sleeping, never between a claim and its event.
            for claim in scanner.claim_ready(moved_in=moved_in):
                self.log.info("Claimed %s -> %s", claim.relative_path, claim.path)
                yield TriggerEvent(claim.payload())
            now = time.time()
            if self.orphan_after_seconds > 0 and now - last_sweep >= self.sweep_interval:
                last_sweep = now
                for path in scanner.unowned_claims(self.orphan_after_seconds, now):
                    # an unadopted claim is re-announced at most every 30 s (or orphan_after)
                    if now - announced.get(str(path), 0.0) < max(self.orphan_after_seconds, 30.0):
                        continue
                    announced[str(path)] = now
                    self.log.warning("Re-announcing unadopted claim %s", path)
                    yield TriggerEvent(claim_payload(path, scanner.processing, recovered=True))
            if watch is not None:
                await watch.wait(self.poll_interval)
            else:
                await asyncio.sleep(self.poll_interval)
