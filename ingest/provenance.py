"""How a file reached the inbox (its channel) and which department authenticated it.

Two channels lead into ``inbox/<department>/``: a clerk's file drop (``file_drop``) and the
submission API (``api``, ``scorecard serve``). The API writes each accepted body as
``inbox/<department>/<submission id>.<ext>`` and, before that, a record of the submission
(``<home>/api/submissions/<submission id>.json``: department from the token, the name the sender
gave, the bytes' SHA-256). The loader asks :func:`channel_of` for every file it loads: a file is
"api" only when such a record exists, names the same department and the same bytes; anything
else (a clerk naming a file like a submission id, a file changed after it was accepted) is a
file drop. The record lives outside the inbox, so write access to the shared folder is not
enough to claim the API's provenance.

The record's format is defined here, in the loader's layer, because the loader reads it; the
API (``scorecard.api``) writes it through :func:`write_record`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorecard.core.durable import write_atomic

FILE_DROP = "file_drop"
API = "api"
#: ``sub_`` and 32 hex digits (128 random bits): the API's submission ids.
SUBMISSION_ID = re.compile(r"^sub_[0-9a-f]{32}$")


def api_home(home: Path) -> Path:
    """Where the API keeps its state (tokens, audit log, submission records) under the data home."""
    return home / "api"


def record_path(home: Path, submission_id: str) -> Path:
    return api_home(home) / "submissions" / f"{submission_id}.json"


@dataclass(frozen=True)
class Provenance:
    """The channel of one file; for the API also the submission id, the department of the token
    and the file name the sender gave (the name the ledger and the report show)."""

    channel: str
    authenticated_department: str | None = None
    submission_id: str | None = None
    sent_name: str | None = None

    def facts(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "authenticated_department": self.authenticated_department,
            "submission_id": self.submission_id,
            "sent_name": self.sent_name,
        }

    @classmethod
    def from_facts(cls, facts: dict[str, Any] | None) -> Provenance:
        if not facts:
            return cls(FILE_DROP)
        return cls(
            facts.get("channel") or FILE_DROP,
            facts.get("authenticated_department"),
            facts.get("submission_id"),
            facts.get("sent_name"),
        )


DROPPED = Provenance(FILE_DROP)


def write_record(home: Path, record: dict[str, Any]) -> Path:
    """Store an accepted submission's record (atomically); returns its path."""
    path = record_path(home, record["submission_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, ensure_ascii=False, sort_keys=True))
    return path


def read_record(home: Path, submission_id: str) -> dict[str, Any] | None:
    if not SUBMISSION_ID.match(submission_id):
        return None
    try:
        record: dict[str, Any] = json.loads(record_path(home, submission_id).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return record


def channel_of(path: Path, sha256: str, department: str | None, home: Path) -> Provenance:
    """The provenance of the file at ``path`` with these bytes (see the module docstring)."""
    submission_id = path.name.split(".", 1)[0]
    if not SUBMISSION_ID.match(submission_id):
        return DROPPED
    record = read_record(home, submission_id)
    if record is None or record.get("sha256") != sha256:
        return DROPPED
    if department is not None and record.get("department") != department:
        return DROPPED
    return Provenance(API, record.get("department"), submission_id, record.get("sent_name"))
