"""API tokens (接口令牌): one per department, plus admin tokens that read every submission.

A token is ``scp_<token id>_<secret>``: the id (12 hex digits) names the stored entry, the secret
is 32 random bytes (256 bits, URL-safe base64). Only the SHA-256 of the whole token is stored
(``<home>/api/tokens.json``, mode 0600); the token itself is printed once, by ``create`` and
``rotate``, and cannot be shown again. A presented token is looked up by its id and its hash
compared in constant time (``hmac.compare_digest``).

``scorecard tokens create <department>|--admin``, ``list``, ``revoke <token id>``,
``rotate <token id>`` (revokes the old token and creates a new one for the same holder).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest.provenance import api_home
from scorecard.core.durable import write_atomic
from scorecard.core.locks import exclusive_lock

ADMIN = "*admin"  # the holder of an admin token: reads every department's submissions, sends none
TOKEN_PATTERN = re.compile(r"^scp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class TokenEntry:
    """What is stored of a token: never the token, only its hash."""

    token_id: str
    holder: str  # a department code, or ADMIN
    sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.holder == ADMIN

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class TokenStore:
    """The token file under ``<home>/api/``; every change under a lock, written atomically."""

    def __init__(self, home: Path) -> None:
        self.path = api_home(home) / "tokens.json"
        self._lock = api_home(home) / ".tokens.lock"

    def entries(self) -> list[TokenEntry]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        return [TokenEntry(**item) for item in raw["tokens"]]

    def _save(self, entries: list[TokenEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps({"tokens": [asdict(e) for e in entries]}, indent=2))
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)

    def create(self, holder: str) -> tuple[TokenEntry, str]:
        """A new token for ``holder``: its entry and the token (shown once, never stored)."""
        with exclusive_lock(self._lock):
            entries = self.entries()
            taken = {e.token_id for e in entries}
            token_id = secrets.token_hex(6)
            while token_id in taken:
                token_id = secrets.token_hex(6)
            token = f"scp_{token_id}_{secrets.token_urlsafe(32)}"
            entry = TokenEntry(token_id, holder, _digest(token), _now())
            self._save([*entries, entry])
        return entry, token

    def revoke(self, token_id: str) -> TokenEntry | None:
        """Revoke one token (kept in the file, marked revoked); None when there is no such token."""
        with exclusive_lock(self._lock):
            entries = self.entries()
            found = None
            for index, entry in enumerate(entries):
                if entry.token_id == token_id:
                    found = (
                        entry if entry.revoked_at else TokenEntry(**{**asdict(entry), "revoked_at": _now()})
                    )
                    entries[index] = found
            if found is not None:
                self._save(entries)
        return found

    def rotate(self, token_id: str) -> tuple[TokenEntry, str] | None:
        """Revoke a token and create its replacement for the same holder."""
        old = self.revoke(token_id)
        if old is None:
            return None
        return self.create(old.holder)

    def authenticate(self, presented: str | None) -> TokenEntry | None:
        """The active entry a presented token belongs to, or None (unknown, wrong or revoked)."""
        if not presented:
            return None
        match = TOKEN_PATTERN.match(presented)
        if match is None:
            return None
        digest = _digest(presented)
        for entry in self.entries():
            if entry.token_id == match.group(1) and hmac.compare_digest(entry.sha256, digest):
                return entry if entry.active else None
        return None


# --- scorecard tokens ------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="a new token for a department (or --admin); shown once")
    create.add_argument("department", nargs="?", help="department code, e.g. elderly_care")
    create.add_argument("--admin", action="store_true", help="an admin token: reads all, submits none")
    sub.add_parser("list", help="tokens with holder, creation and revocation (never the token)")
    revoke = sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    rotate = sub.add_parser("rotate", help="revoke a token and print its replacement (shown once)")
    rotate.add_argument("token_id")


def run(args: argparse.Namespace) -> int:
    from ingest.reference import load_reference
    from scorecard.core.settings import get_settings

    settings = get_settings()
    store = TokenStore(settings.home)
    if args.tokens_command == "create":
        if args.admin == bool(args.department):
            print("给出一个部门代码或 --admin（二选一） / give a department code or --admin (one of them)")
            return 2
        if args.department and args.department not in load_reference(settings).departments:
            print(f"未知部门 / unknown department: {args.department}")
            return 2
        entry, token = store.create(ADMIN if args.admin else args.department)
        _print_new(entry, token)
        return 0
    if args.tokens_command == "list":
        print(f"{'token id':<14}{'holder':<24}{'created':<27}revoked")
        for entry in store.entries():
            holder = "admin" if entry.is_admin else entry.holder
            print(f"{entry.token_id:<14}{holder:<24}{entry.created_at:<27}{entry.revoked_at or '-'}")
        return 0
    if args.tokens_command == "revoke":
        entry = store.revoke(args.token_id)
        if entry is None:
            print(f"没有该令牌 / no such token: {args.token_id}")
            return 1
        print(f"已吊销 revoked {entry.token_id} ({entry.holder}) at {entry.revoked_at}")
        return 0
    rotated = store.rotate(args.token_id)
    if rotated is None:
        print(f"没有该令牌 / no such token: {args.token_id}")
        return 1
    print(f"已吊销 revoked {args.token_id}")
    _print_new(*rotated)
    return 0


def _print_new(entry: TokenEntry, token: str) -> None:
    holder = "admin" if entry.is_admin else entry.holder
    print(f"token id {entry.token_id} for {holder}")
    print("令牌只显示这一次，请妥善保存 / the token is shown this once only; store it safely:")
    print(token)
