"""The alert state store (SQLite, ``<home>/alerts/state.sqlite``, outside the warehouse).

Tables:
- ``alerts``: one row per fingerprint: status (firing / resolved / event), owner, first seen, last
  change, last notified, the latest payload;
- ``changes``: the outbox, one row per state change (firing, resolved, reopened, reminder,
  receipt), written in the same transaction as the state it changes;
- ``deliveries``: which change went out on which channel (or was skipped there: not routed,
  silenced), written after the send;
- ``rounds``: one row per evaluation (the publication and gate run it saw);
- ``meta``: the last publication and gate run evaluated, the last file arrival (settling window),
  where each channel started;
- ``sends``: send times per robot, for the rate limit across processes.

Evaluating and recording changes is one transaction; delivering reads the outbox. A process that
stops between the two loses nothing (the changes wait in the outbox) and repeats nothing (the
state already moved).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alerts.model import Alert, Change

STATE_NAME = "state.sqlite"

_SCHEMA = """
create table if not exists alerts (
    fingerprint text primary key, status text not null, scope text not null, owner text,
    first_seen text not null, last_change text not null, last_notified text, payload text not null);
create table if not exists changes (
    seq integer primary key autoincrement, fingerprint text not null, change text not null,
    at text not null, round_id text not null, first_seen text not null, silenced_by text,
    payload text not null);
create table if not exists deliveries (
    seq integer not null, channel text not null, delivered_at text not null, outcome text not null,
    primary key (seq, channel));
create table if not exists failures (
    seq integer not null, channel text not null, failed_at text not null, error text);
create table if not exists rounds (
    round_id text primary key, at text not null, publication_run text, gate_run text,
    first_publication integer not null default 0);
create table if not exists meta (key text primary key, value text);
create table if not exists sends (robot text not null, at real not null);
create index if not exists sends_robot on sends (robot, at);
"""


class StateStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.con = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.con.execute("pragma journal_mode=wal")
        self.con.execute("pragma synchronous=full")
        self.con.executescript(_SCHEMA)

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.con.execute("begin immediate")
        try:
            yield self.con
        except BaseException:
            self.con.execute("rollback")
            raise
        self.con.execute("commit")

    # --- meta ---
    def get(self, key: str) -> str | None:
        row = self.con.execute("select value from meta where key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, value: str) -> None:
        self.con.execute("insert or replace into meta values (?, ?)", (key, value))

    # --- alert state ---
    def states(self, scope: str | None = None) -> dict[str, dict[str, Any]]:
        sql = (
            "select fingerprint, status, scope, owner, first_seen, last_change, last_notified, payload"
            " from alerts"
        )
        rows = self.con.execute(sql + (" where scope = ?" if scope else ""), (scope,) if scope else ())
        keys = (
            "fingerprint",
            "status",
            "scope",
            "owner",
            "first_seen",
            "last_change",
            "last_notified",
            "payload",
        )
        return {row[0]: dict(zip(keys, row, strict=True)) for row in rows}

    def upsert_state(
        self, alert: Alert, status: str, *, first_seen: str, at: str, notified: str | None
    ) -> None:
        self.con.execute(
            "insert into alerts values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (fingerprint) do update set "
            "status = excluded.status, owner = excluded.owner, last_change = excluded.last_change, "
            "last_notified = coalesce(excluded.last_notified, alerts.last_notified), "
            "payload = excluded.payload",
            (
                alert.fingerprint,
                status,
                alert.scope,
                alert.owner,
                first_seen,
                at,
                notified,
                json.dumps(alert.to_dict(), ensure_ascii=False),
            ),
        )

    def touch(self, fingerprint: str, payload: Alert) -> None:
        """A still-firing alert: refresh its payload (message, severity), not its state."""
        self.con.execute(
            "update alerts set payload = ? where fingerprint = ?",
            (json.dumps(payload.to_dict(), ensure_ascii=False), fingerprint),
        )

    def mark_notified(self, fingerprint: str, at: str) -> None:
        self.con.execute("update alerts set last_notified = ? where fingerprint = ?", (at, fingerprint))

    def add_change(
        self, alert: Alert, change: str, *, at: str, round_id: str, first_seen: str, silenced_by: str | None
    ) -> int:
        cursor = self.con.execute(
            "insert into changes (fingerprint, change, at, round_id, first_seen, silenced_by, payload) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            (
                alert.fingerprint,
                change,
                at,
                round_id,
                first_seen,
                silenced_by,
                json.dumps(alert.to_dict(), ensure_ascii=False),
            ),
        )
        return int(cursor.lastrowid or 0)

    def add_round(
        self, round_id: str, at: str, publication_run: str | None, gate_run: str | None, first: bool
    ) -> None:
        self.con.execute(
            "insert into rounds values (?, ?, ?, ?, ?)", (round_id, at, publication_run, gate_run, int(first))
        )

    def first_publication_rounds(self) -> set[str]:
        return {r[0] for r in self.con.execute("select round_id from rounds where first_publication = 1")}

    # --- the outbox ---
    def max_seq(self) -> int:
        return int(self.con.execute("select coalesce(max(seq), 0) from changes").fetchone()[0])

    def pending(self, channel: str, after: int) -> list[Change]:
        rows = self.con.execute(
            "select seq, fingerprint, change, at, round_id, first_seen, silenced_by, payload from changes c "
            "where seq > ? and not exists (select 1 from deliveries d where d.seq = c.seq and d.channel = ?) "
            "order by seq",
            (after, channel),
        ).fetchall()
        return [
            Change(r[0], r[1], r[2], r[3], r[4], Alert.from_dict(json.loads(r[7])), r[5], r[6]) for r in rows
        ]

    def changes(self, seqs: Iterable[int] | None = None) -> list[Change]:
        rows = self.con.execute(
            "select seq, fingerprint, change, at, round_id, first_seen, silenced_by, payload"
            " from changes order by seq"
        ).fetchall()
        wanted = None if seqs is None else set(seqs)
        return [
            Change(r[0], r[1], r[2], r[3], r[4], Alert.from_dict(json.loads(r[7])), r[5], r[6])
            for r in rows
            if wanted is None or r[0] in wanted
        ]

    def record(self, seqs: Sequence[int], channel: str, at: str, outcome: str = "sent") -> None:
        with self.transaction():
            self.con.executemany(
                "insert or ignore into deliveries values (?, ?, ?, ?)",
                [(s, channel, at, outcome) for s in seqs],
            )

    def record_failures(self, seqs: Sequence[int], channel: str, at: str, error: str) -> None:
        with self.transaction():
            self.con.executemany(
                "insert into failures values (?, ?, ?, ?)", [(s, channel, at, error[:2000]) for s in seqs]
            )

    def delivered(self, channel: str) -> dict[int, str]:
        rows = self.con.execute("select seq, outcome from deliveries where channel = ?", (channel,))
        return {r[0]: r[1] for r in rows}

    # --- robot send times (rate limits) ---
    def sends_since(self, robot: str, since: float) -> list[float]:
        rows = self.con.execute("select at from sends where robot = ? and at > ? order by at", (robot, since))
        return [r[0] for r in rows]

    def add_send(self, robot: str, at: float) -> None:
        with self.transaction():
            self.con.execute("insert into sends values (?, ?)", (robot, at))
            self.con.execute("delete from sends where robot = ? and at < ?", (robot, at - 3600))
