"""The API's audit log (审计日志): one line per request, chained so that no line can be changed,
removed or inserted without ``scorecard audit verify`` naming where.

Each line is a JSON object: time (UTC), token id, department, method, endpoint, HTTP status,
outcome, request body size, submission id when there is one; never the body or the token. It
also carries ``prev`` (the previous line's ``hash``; 64 zeros for the first) and ``hash``, the
SHA-256 of ``prev`` and the line's other fields. The server only ever appends: the file is opened
``O_APPEND`` for each line (the kernel puts every write at the end; no code path seeks or
truncates), under a lock shared by the server's threads and other processes.

What the chain cannot show is the loss of the newest lines (a truncated tail is still a valid
chain): ``verify`` prints the line count and the last hash, which an operator can compare with
a copy taken earlier (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.provenance import api_home

GENESIS = "0" * 64


def audit_path(home: Path) -> Path:
    return api_home(home) / "audit.log"


def _chain_hash(prev: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + canonical).encode("utf-8")).hexdigest()


def _last_hash(path: Path) -> str:
    """The hash of the file's last complete line (GENESIS for an empty or missing file)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            block = min(size, 65536)
            handle.seek(size - block)
            tail = handle.read(block)
    except FileNotFoundError:
        return GENESIS
    lines = [line for line in tail.split(b"\n") if line.strip()]
    if not lines:
        return GENESIS
    return str(json.loads(lines[-1])["hash"])


class AuditLog:
    """Append-only writer of the chained log (thread- and process-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, **fields: Any) -> dict[str, Any]:
        fields = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # another process appending: one chain still
                prev = _last_hash(self.path)
                line = {**fields, "prev": prev, "hash": _chain_hash(prev, fields)}
                os.write(fd, (json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)  # closing releases the lock
        return line


def read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(raw) for raw in path.read_text(encoding="utf-8").splitlines() if raw.strip()]


def verify(path: Path) -> tuple[bool, int, str, str | None]:
    """Check the chain: (intact, lines, last hash, the first problem found)."""
    prev = GENESIS
    count = 0
    if not path.exists():
        return True, 0, prev, None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            line = json.loads(raw)
            recorded_prev, recorded_hash = line.pop("prev"), line.pop("hash")
        except (ValueError, KeyError, AttributeError):
            return False, count, prev, f"line {number}: not an audit line"
        if recorded_prev != prev:
            return (
                False,
                count,
                prev,
                f"line {number}: does not follow line {number - 1} (removed or inserted)",
            )
        if _chain_hash(prev, line) != recorded_hash:
            return False, count, prev, f"line {number}: changed after it was written"
        prev = recorded_hash
        count += 1
    return True, count, prev, None


# --- scorecard audit ---------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    sub.add_parser("verify", help="check that no line of the API's audit log was changed or removed")


def run(args: argparse.Namespace) -> int:
    from scorecard.core.settings import get_settings

    path = audit_path(get_settings().home)
    intact, count, last, problem = verify(path)
    if intact:
        print(f"审计日志完整 audit log intact: {count} lines, last hash {last} ({path})")
        return 0
    print(f"审计日志被改动 audit log tampered: {problem} ({path})")
    return 1
