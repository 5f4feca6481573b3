"""The alert lifecycle: evaluate what the sources raise against the kept state, record the state
changes (the outbox), then tell each channel the changes it has not had, as one digest per owner.

- firing when first seen; resolved when a later publication (or gate run, for quality alerts) no
  longer raises it; reopened if it returns; a reminder for an unchanged firing alert every
  ``reminder_hours``. An unchanged firing alert is not sent again otherwise.
- silences (``deploy/alerting/silences.yml``) hold a change back from every channel (the JSON-lines
  log still records it, with the silence).
- settling window: while files of a submission wave are still arriving (the last receipt is less
  than ``settling_minutes`` old), quality checks matching ``settling_checks`` (completeness) do
  not fire; they fire on the first evaluation after the window closes if still failing.
"""

from __future__ import annotations

import fnmatch
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.channels import (
    AlertmanagerChannel,
    JsonLinesChannel,
    RateLimiter,
    RobotChannel,
    build_channel,
)
from alerts.config import Routing, Silence, load_routing, load_silences, reference, silenced_by
from alerts.digest import RECEIPT, Digest, build_digest
from alerts.model import (
    FIRING,
    REMINDER,
    REOPENED,
    RESOLVED,
    Alert,
    Change,
    DeliveryError,
    TransientDeliveryError,
)
from alerts.sources import Observation, publication_alerts, quality_alert_list
from alerts.state import STATE_NAME, StateStore
from scorecard.core.locks import exclusive_lock
from scorecard.core.settings import Settings, get_settings

JSONL_NAME = "alerts.jsonl"
LOG_BATCH = 1000


@dataclass
class ChannelReport:
    sent: int = 0  # changes delivered
    messages: int = 0  # messages (requests, e-mails, log batches) that carried them
    skipped: int = 0  # not routed to this channel, or silenced
    failed: int = 0  # stay pending: retried on the next delivery


@dataclass
class DeliveryReport:
    changes: int = 0  # state changes recorded by this evaluation
    pending: int = 0
    channels: dict[str, ChannelReport] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    digests: list[tuple[str, str, int, Digest]] = field(default_factory=list)  # channel, owner, parts, digest
    held: int = 0  # quality alerts held by the settling window

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.channels.values())

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels.values())

    @property
    def alerts(self) -> int:  # the summary line of earlier versions
        return self.changes


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def route(alert: Alert, routing: Routing) -> Alert:
    """Give an alert its owner: its own, the data team for quality and pipeline alerts, else the
    department responsible for its measure (dbt seed ``measures.csv``), else the data team."""
    from dataclasses import replace

    if alert.owner:
        return alert
    owner = None
    if alert.scope == "publication" and alert.measure:
        owner = reference().measures.get(alert.measure, {}).get("department_code") or None
    return replace(alert, owner=owner or routing.data_team)


def settling_until(store: StateStore, routing: Routing) -> datetime | None:
    last = store.get("last_arrival")
    if not last:
        return None
    return datetime.fromisoformat(last) + timedelta(minutes=routing.settling_minutes)


def _settles(alert: Alert, routing: Routing) -> bool:
    text = (alert.rule or "").lower()
    return alert.scope == "quality" and any(
        fnmatch.fnmatchcase(text, p.lower()) for p in routing.settling_checks
    )


def evaluate(
    store: StateStore,
    routing: Routing,
    silences: Sequence[Silence],
    observations: Mapping[str, Observation | None],
    now: datetime,
    report: DeliveryReport,
) -> list[int]:
    """Record the state changes the observations imply (call inside a transaction)."""
    at = now.isoformat(timespec="seconds")
    round_id = uuid.uuid4().hex
    seqs: list[int] = []
    states = store.states()
    first_publication = False

    def emit(alert: Alert, change: str, first_seen: str) -> None:
        silence = silenced_by(list(silences), alert.labels(), now)
        status = RESOLVED if change == RESOLVED else FIRING
        previous = states.get(alert.fingerprint)
        store.upsert_state(
            alert,
            status,
            first_seen=previous["first_seen"] if previous else first_seen,
            at=at,
            notified=None if silence else at,
        )
        seqs.append(
            store.add_change(
                alert,
                change,
                at=at,
                round_id=round_id,
                first_seen=first_seen,
                silenced_by=silence and silence.id,
            )
        )

    window_end = settling_until(store, routing)
    settling = window_end is not None and now < window_end
    for scope, obs in observations.items():
        if obs is None or obs.run_id is None:
            continue
        if scope == "publication":
            last = store.get("publication_run")
            if last == obs.run_id:
                continue  # this publication was evaluated already
            first_publication = last is None
            store.put("publication_run", obs.run_id)
        else:
            store.put(f"{scope}_run", obs.run_id)
        current: dict[str, Alert] = {}
        for alert in obs.alerts:
            alert = route(alert, routing)
            current.setdefault(alert.fingerprint, alert)
        for fingerprint, alert in current.items():
            state = states.get(fingerprint)
            if state and state["status"] == FIRING:
                store.touch(fingerprint, alert)
                continue
            if settling and _settles(alert, routing):
                report.held += 1
                continue
            emit(alert, FIRING if state is None else REOPENED, at)
        for fingerprint, state in states.items():
            if state["scope"] == scope and state["status"] == FIRING and fingerprint not in current:
                emit(Alert.from_dict(json.loads(state["payload"])), RESOLVED, state["first_seen"])
    # reminders: firing, not silenced now, not notified for a reminder interval
    interval = timedelta(hours=routing.reminder_hours)
    for fingerprint, state in store.states().items():
        if state["status"] != FIRING:
            continue
        notified = state["last_notified"]
        if notified and now - datetime.fromisoformat(notified) < interval:
            continue
        alert = Alert.from_dict(json.loads(state["payload"]))
        if silenced_by(list(silences), alert.labels(), now):
            continue
        store.mark_notified(fingerprint, at)
        seqs.append(
            store.add_change(
                alert, REMINDER, at=at, round_id=round_id, first_seen=state["first_seen"], silenced_by=None
            )
        )
    pub = observations.get("publication")
    gate = observations.get("quality")
    store.add_round(
        round_id, at, pub.run_id if pub else None, gate.run_id if gate else None, first_publication
    )
    return seqs


def configured_channels(settings: Settings, routing: Routing) -> list[Any]:
    """The JSON-lines log, then every channel of the routing file whose settings are present."""
    channels: list[Any] = [JsonLinesChannel(settings.alerts_dir / JSONL_NAME)]
    for spec in routing.channels.values():
        channel = build_channel(spec, reminder_hours=routing.reminder_hours)
        if channel is not None:
            channels.append(channel)
    return channels


def _with_retries(send: Callable[[], Any], retries: int, backoff: float) -> tuple[Any, str | None]:
    delay = backoff
    for attempt in range(1, max(1, retries) + 1):
        try:
            return send(), None
        except TransientDeliveryError as exc:
            if attempt >= retries:
                return None, str(exc)
            time.sleep(delay)
            delay *= 2
        except DeliveryError as exc:
            return None, str(exc)
    return None, "not sent"


def _deliver(
    store: StateStore,
    routing: Routing,
    channels: Sequence[Any],
    report: DeliveryReport,
    *,
    start: int,
    retries: int,
    backoff: float,
    dry_run: bool = False,
) -> None:
    go_live = store.first_publication_rounds()
    ref = reference()
    at = datetime.now(UTC).isoformat(timespec="seconds")
    for channel in channels:
        counts = report.channels.setdefault(channel.name, ChannelReport())
        key = f"channel_start:{channel.name}"
        begin = store.get(key)
        if begin is None:
            begin = str(start)  # a channel added later starts with the changes after it was added
            if not dry_run:
                with store.transaction():
                    store.put(key, begin)
        pending = store.pending(channel.name, int(begin))
        report.pending = max(report.pending, len(pending))
        if not pending:
            continue
        if isinstance(channel, JsonLinesChannel):
            for i in range(0, len(pending), LOG_BATCH):
                batch = pending[i : i + LOG_BATCH]
                if dry_run:
                    counts.sent += len(batch)
                    continue
                _, error = _with_retries(lambda b=batch, ch=channel: ch.write(b), retries, backoff)
                _settle(store, channel.name, [c.seq for c in batch], error, counts, report, at)
                counts.messages += error is None
            continue
        silenced = [c.seq for c in pending if c.silenced_by]
        if silenced and not dry_run:
            store.record(silenced, channel.name, at, "silenced")
        counts.skipped += len(silenced)
        live = [c for c in pending if not c.silenced_by]
        if isinstance(channel, AlertmanagerChannel):
            receipts = [c.seq for c in live if c.change == RECEIPT]
            if receipts and not dry_run:
                store.record(receipts, channel.name, at, "not_routed")
            counts.skipped += len(receipts)
            alerts = [c for c in live if c.change != RECEIPT]
            if alerts:
                if dry_run:
                    counts.sent += len(alerts)
                    counts.messages += 1
                    continue
                _, error = _with_retries(lambda a=alerts, ch=channel: ch.post(a), retries, backoff)
                _settle(store, channel.name, [c.seq for c in alerts], error, counts, report, at)
                counts.messages += error is None
            continue
        by_owner: dict[str, list[Change]] = {}
        for change in live:
            by_owner.setdefault(change.alert.owner or routing.data_team, []).append(change)
        if isinstance(channel, RobotChannel):  # bound to this delivery's store
            channel.limiter = RateLimiter(
                channel.robot, *channel.rate, history=store.sends_since, record=store.add_send
            )
        for owner_code, changes in by_owner.items():
            # a channel the routing file does not name (passed in by the caller) takes every owner
            if channel.name in routing.channels and channel.name not in routing.channels_for(owner_code):
                if not dry_run:
                    store.record([c.seq for c in changes], channel.name, at, "not_routed")
                counts.skipped += len(changes)
                continue
            digest = build_digest(
                routing.owner(owner_code), changes, ref, top_items=routing.top_items, go_live_rounds=go_live
            )
            if dry_run:
                report.digests.append((channel.name, owner_code, 0, digest))
                counts.sent += len(changes)
                counts.messages += 1
                continue
            parts, error = _with_retries(lambda d=digest, ch=channel: ch.send_digest(d), retries, backoff)
            _settle(store, channel.name, [c.seq for c in changes], error, counts, report, at)
            if error is None:
                counts.messages += int(parts or 0)
                report.digests.append((channel.name, owner_code, int(parts or 0), digest))


def _settle(store, name, seqs, error, counts, report, at) -> None:
    if error is None:
        store.record(seqs, name, at, "sent")
        counts.sent += len(seqs)
    else:
        store.record_failures(seqs, name, at, error)
        counts.failed += len(seqs)
        report.errors.append(f"{name}: {len(seqs)} changes: {error}")


def observe(settings: Settings) -> dict[str, Observation | None]:
    return {"publication": publication_alerts(settings), "quality": quality_alert_list(settings)}


def deliver_alerts(
    settings: Settings | None = None,
    *,
    routing: Routing | None = None,
    silences: Sequence[Silence] | None = None,
    channels: Sequence[Any] | None = None,
    observations: Mapping[str, Observation | None] | None = None,
    events: Iterable[Alert] = (),
    receipts: Iterable[Alert] = (),
    now: datetime | None = None,
    retries: int = 3,
    backoff_seconds: float = 0.5,
    dry_run: bool = False,
) -> DeliveryReport:
    """Evaluate the sources (default: the published snapshot and the latest gate run), record the
    state changes, then deliver every pending change on every channel.

    ``events``: alerts that fire once (pipeline failures); ``receipts``: file receipts (they also
    open the settling window). ``dry_run``: nothing is recorded or sent; the report's ``digests``
    say what would go to whom."""
    settings = settings or get_settings()
    settings.alerts_dir.mkdir(parents=True, exist_ok=True)
    routing = routing or load_routing()
    silences = list(load_silences() if silences is None else silences)
    channels = list(channels) if channels is not None else configured_channels(settings, routing)
    moment = _now(now)
    report = DeliveryReport()
    with exclusive_lock(settings.alerts_dir / ".deliver.lock"):
        store = StateStore(settings.alerts_dir / STATE_NAME)
        try:
            start = store.max_seq()
            obs = observations if observations is not None else observe(settings)
            store.con.execute("begin immediate")
            try:
                seqs = evaluate(store, routing, silences, obs, moment, report)
                seqs += _record_events(store, routing, silences, events, receipts, moment)
                report.changes = len(seqs)
                if dry_run:
                    _deliver(
                        store, routing, channels, report, start=start, retries=1, backoff=0, dry_run=True
                    )
                    store.con.execute("rollback")
                    return report
            except BaseException:
                store.con.execute("rollback")
                raise
            store.con.execute("commit")
            _deliver(store, routing, channels, report, start=start, retries=retries, backoff=backoff_seconds)
        finally:
            store.close()
    return report


def _record_events(
    store: StateStore,
    routing: Routing,
    silences: Sequence[Silence],
    events: Iterable[Alert],
    receipts: Iterable[Alert],
    now: datetime,
) -> list[int]:
    at = now.isoformat(timespec="seconds")
    round_id = "event-" + uuid.uuid4().hex
    seqs: list[int] = []
    seen = {
        row[0] for row in store.con.execute("select fingerprint from changes where change = ?", (RECEIPT,))
    }
    any_receipt = False
    for receipt in receipts:
        receipt = route(receipt, routing)
        any_receipt = True
        if receipt.fingerprint in seen:
            continue  # a retried task: this file's receipt was recorded already
        seen.add(receipt.fingerprint)
        silence = silenced_by(list(silences), receipt.labels(), now)
        seqs.append(
            store.add_change(
                receipt, RECEIPT, at=at, round_id=round_id, first_seen=at, silenced_by=silence and silence.id
            )
        )
    if any_receipt:
        store.put("last_arrival", at)
    for event in events:
        event = route(event, routing)
        if event.fingerprint in store.states():
            continue
        silence = silenced_by(list(silences), event.labels(), now)
        store.upsert_state(event, "event", first_seen=at, at=at, notified=at)
        seqs.append(
            store.add_change(
                event, FIRING, at=at, round_id=round_id, first_seen=at, silenced_by=silence and silence.id
            )
        )
    return seqs


def firing(settings: Settings | None = None, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The firing alerts: owner, age, severity, kind and message (for ``scorecard alerts status``)."""
    settings = settings or get_settings()
    path = settings.alerts_dir / STATE_NAME
    if not path.exists():
        return []
    moment = _now(now)
    store = StateStore(path)
    try:
        rows = []
        for state in store.states().values():
            if state["status"] != FIRING:
                continue
            alert = Alert.from_dict(json.loads(state["payload"]))
            age = moment - datetime.fromisoformat(state["last_change"])
            rows.append(
                {"fingerprint": state["fingerprint"], "owner": state["owner"], "age": age, "alert": alert}
            )
    finally:
        store.close()
    return sorted(rows, key=lambda r: (r["owner"] or "", -r["age"].total_seconds()))


def first_publication_digests(
    settings: Settings | None = None, routing: Routing | None = None
) -> list[Digest]:
    """The digests of the first publication's evaluation, one per owner, as the digest channels got
    them (the demo prints them); empty before the first publication."""
    settings = settings or get_settings()
    path = settings.alerts_dir / STATE_NAME
    if not path.exists():
        return []
    routing = routing or load_routing()
    store = StateStore(path)
    try:
        rounds = store.first_publication_rounds()
        changes = [c for c in store.changes() if c.round_id in rounds and not c.silenced_by]
    finally:
        store.close()
    by_owner: dict[str, list[Change]] = {}
    for change in changes:
        by_owner.setdefault(change.alert.owner or routing.data_team, []).append(change)
    return [
        build_digest(
            routing.owner(owner), items, reference(), top_items=routing.top_items, go_live_rounds=rounds
        )
        for owner, items in sorted(by_owner.items())
    ]
