"""Alert delivery (预警发送): ``fct_alerts`` and quality failures, each sent once per channel.

Sources, read after the gate and publication:
- ``marts.fct_alerts`` of the **published** snapshot (never the live warehouse), e.g. missed
  targets, late submissions;
- the latest quality-gate run (``<home>/check_results/latest.json``): failed / unevaluated checks,
  warnings, and each severe anomaly (moderate ones arrive as the gate's warning).

Channels (pluggable, :class:`Channel`):
- a JSON-lines log, ``<home>/alerts/alerts.jsonl`` — always;
- a webhook (HTTP POST of JSON) when ``SCORECARD_ALERT_WEBHOOK_URL`` is set;
- SMTP e-mail when ``SCORECARD_SMTP_HOST``, ``SCORECARD_SMTP_FROM`` and ``SCORECARD_SMTP_TO`` are
  set (``SCORECARD_SMTP_PORT``, ``SCORECARD_SMTP_USER``, ``SCORECARD_SMTP_PASSWORD``,
  ``SCORECARD_SMTP_STARTTLS`` optional).

Exactly once: a small SQLite store outside the warehouse (``<home>/alerts/delivery.sqlite``)
records each (alert_id, channel) after a successful send; later runs skip it. Transient failures
(connection errors, timeouts, HTTP 5xx / 429) are retried with back-off, and whatever still fails
is retried on the next run. A crash between a send and its record can repeat that alert (for the
JSON-lines log: that batch), so webhooks carry the alert id in an ``Idempotency-Key`` header and
every JSON line its ``alert_id`` for receivers to deduplicate.

Channels that can take many alerts at once (:class:`BatchChannel`, the JSON-lines log) get them
in batches of :data:`BATCH_SIZE`: one write and one ``fsync`` per batch, recorded in one
transaction, instead of one of each per alert (145,000 alerts at national scale took minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import smtplib
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from scorecard.config import Settings, get_settings
from scorecard.locks import exclusive_lock

JSONL_NAME = "alerts.jsonl"
STORE_NAME = "delivery.sqlite"
ALERT_COLUMNS = (
    "alert_id",
    "alert_kind",
    "severity",
    "measure_code",
    "region_code",
    "period",
    "message_zh",
    "message_en",
)


class DeliveryError(Exception):
    """A send failed for good (e.g. HTTP 400): retrying now will not help."""


class TransientDeliveryError(DeliveryError):
    """A send failed in a way that may succeed on retry (connection refused, timeout, HTTP 5xx)."""


@dataclass(frozen=True)
class Alert:
    """One alert, as every channel receives it."""

    alert_id: str
    source: str  # "fct_alerts" or "quality"
    alert_kind: str
    severity: str
    message_zh: str
    message_en: str
    measure_code: str | None = None
    region_code: str | None = None
    period: str | None = None
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def subject(self) -> str:
        where = " ".join(x for x in (self.measure_code, self.region_code, self.period) if x)
        return f"[scorecard][{self.severity}] {self.alert_kind}{' ' + where if where else ''}"


class Channel(Protocol):
    """A way to deliver alerts. ``send`` returns on success and raises :class:`DeliveryError`."""

    name: str

    def send(self, alert: Alert) -> None: ...


@runtime_checkable
class BatchChannel(Channel, Protocol):
    """A channel that can deliver many alerts at once (all or nothing, as far as it knows)."""

    def send_batch(self, alerts: Sequence[Alert]) -> None: ...


# Alerts per batch for batch channels: one fsync and one store transaction each.
BATCH_SIZE = 1000


class JsonLinesChannel:
    """Append each alert as one JSON line (always on; the audit trail)."""

    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, alert: Alert) -> None:
        self.send_batch([alert])

    def send_batch(self, alerts: Sequence[Alert]) -> None:
        """Append the alerts and ``fsync`` once: durable before the store records them."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sent_at = datetime.now(UTC).isoformat(timespec="seconds")
        text = "".join(
            json.dumps({"sent_at": sent_at, **alert.to_dict()}, ensure_ascii=False) + "\n" for alert in alerts
        )
        try:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write {self.path}: {exc}") from exc


class WebhookChannel:
    """POST each alert as JSON to a URL; 2xx is success, 5xx / 429 / network errors are transient."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0, headers: Mapping[str, str] | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s): {url!r}")
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})

    def send(self, alert: Alert) -> None:
        body = json.dumps({"alert": alert.to_dict()}, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": alert.alert_id,
                "User-Agent": "common-prosperity-scorecard",
                **self.headers,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise TransientDeliveryError(f"webhook HTTP {exc.code}") from exc
            raise DeliveryError(f"webhook HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise TransientDeliveryError(f"webhook unreachable: {exc}") from exc


class SmtpChannel:
    """One e-mail per alert, bilingual body."""

    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        *,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 15.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.recipients = list(recipients)
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout

    def send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = alert.subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["X-Scorecard-Alert-Id"] = alert.alert_id
        message.set_content(
            f"{alert.message_zh}\n\n{alert.message_en}\n\n"
            + "\n".join(f"{k}: {v}" for k, v in alert.to_dict().items() if v is not None)
        )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except (
            smtplib.SMTPServerDisconnected,
            smtplib.SMTPConnectError,
            TimeoutError,
            ConnectionError,
        ) as exc:
            raise TransientDeliveryError(f"SMTP unavailable: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientDeliveryError(f"SMTP {exc.smtp_code}") from exc
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP error: {exc}") from exc


def configured_channels(settings: Settings, env: Mapping[str, str] | None = None) -> list[Channel]:
    """The JSON-lines log, plus the webhook and SMTP channels that the environment configures."""
    env = os.environ if env is None else env
    channels: list[Channel] = [JsonLinesChannel(settings.alerts_dir / JSONL_NAME)]
    if url := env.get("SCORECARD_ALERT_WEBHOOK_URL"):
        channels.append(WebhookChannel(url))
    host, sender, to = (
        env.get("SCORECARD_SMTP_HOST"),
        env.get("SCORECARD_SMTP_FROM"),
        env.get("SCORECARD_SMTP_TO"),
    )
    if host and sender and to:
        channels.append(
            SmtpChannel(
                host,
                int(env.get("SCORECARD_SMTP_PORT") or 25),
                sender,
                [x.strip() for x in to.split(",") if x.strip()],
                user=env.get("SCORECARD_SMTP_USER") or None,
                password=env.get("SCORECARD_SMTP_PASSWORD") or None,
                starttls=(env.get("SCORECARD_SMTP_STARTTLS") or "").lower() in {"1", "true", "yes"},
            )
        )
    return channels


# --- delivery state ------------------------------------------------------------------------------


class DeliveryStore:
    """Which alert went out on which channel (SQLite, outside the warehouse)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._con = sqlite3.connect(path, timeout=30)
        self._con.execute(
            "create table if not exists deliveries ("
            " alert_id text not null, channel text not null, delivered_at text not null,"
            " alert_kind text, severity text, primary key (alert_id, channel))"
        )
        self._con.execute(
            "create table if not exists failures ("
            " alert_id text not null, channel text not null, failed_at text not null, error text)"
        )
        self._con.commit()

    def delivered_ids(self, channel: str) -> set[str]:
        """Every alert id already delivered on ``channel``."""
        rows = self._con.execute("select alert_id from deliveries where channel = ?", (channel,))
        return {row[0] for row in rows}

    def record_many(self, alerts: Sequence[Alert], channel: str) -> None:
        """Record the alerts as delivered on ``channel``, in one transaction."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._con:
            self._con.executemany(
                "insert or ignore into deliveries values (?, ?, ?, ?, ?)",
                [(a.alert_id, channel, now, a.alert_kind, a.severity) for a in alerts],
            )

    def record_failures(self, alerts: Sequence[Alert], channel: str, error: str) -> None:
        """Record a failed attempt for each alert (they stay pending), in one transaction."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._con:
            rows = [(a.alert_id, channel, now, error) for a in alerts]
            self._con.executemany("insert into failures values (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._con.close()


# --- collecting alerts ---------------------------------------------------------------------------


def mart_alerts(settings: Settings) -> list[Alert]:
    """``fct_alerts`` from the published snapshot (empty before the first publication)."""
    from warehouse.publish import open_snapshot, snapshot_path

    path = snapshot_path(settings)
    if not path.exists():
        return []
    con = open_snapshot(path)
    try:
        present = con.execute(
            "select column_name from information_schema.columns "
            "where table_catalog = 'scorecards' and table_schema = 'marts' and table_name = 'fct_alerts'"
        ).fetchall()
        if not present:
            return []
        run_id = con.execute("select max(run_id) from meta.publication").fetchone()[0]
        have = {row[0] for row in present}
        # Columns come from the contract list above; absent optional ones read as NULL.
        select = ", ".join(c if c in have else f"null as {c}" for c in ALERT_COLUMNS)
        rows = con.execute(f"select {select} from marts.fct_alerts order by alert_id").fetchall()
    finally:
        con.close()
    alerts = []
    for row in rows:
        values = dict(zip(ALERT_COLUMNS, row, strict=True))
        alerts.append(
            Alert(
                alert_id=str(values["alert_id"]),
                source="fct_alerts",
                alert_kind=str(values["alert_kind"] or "alert"),
                severity=str(values["severity"] or "info"),
                message_zh=str(values["message_zh"] or ""),
                message_en=str(values["message_en"] or ""),
                measure_code=values["measure_code"],
                region_code=values["region_code"],
                period=values["period"],
                run_id=run_id,
            )
        )
    return alerts


def _stable_id(prefix: str, *parts: Any) -> str:
    digest = hashlib.sha256(
        json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"{prefix}-{digest[:20]}"


def quality_alerts(settings: Settings) -> list[Alert]:
    """Alerts from the latest gate run: failed, unevaluated and warned checks, severe anomalies.

    The id is a hash of what the alert says (check, dataset, outcome, diagnostic, sample rows; or
    the anomaly and its severity), so the same problem seen by several runs is sent once, and a
    changed problem is a new alert.
    """
    from quality.gate import latest_results

    gate = latest_results(settings)
    if gate is None:
        return []
    alerts: list[Alert] = []
    for record in gate.results:
        if record.outcome not in {"fail", "error", "warn"}:
            continue
        severity = "high" if record.outcome in {"fail", "error"} else "medium"
        alerts.append(
            Alert(
                alert_id=_stable_id(
                    "quality", record.dataset, record.check, record.outcome, record.diagnostic, record.samples
                ),
                source="quality",
                alert_kind=f"quality_{record.outcome}",
                severity=severity,
                message_zh=(
                    f"质量检查{_OUTCOME_ZH[record.outcome]}：{record.dataset} · {record.check}"
                    f"（{record.diagnostic}）"
                ),
                message_en=(
                    f"Quality check {record.outcome}: {record.dataset} · {record.check} ({record.diagnostic})"
                ),
                run_id=gate.run_id,
            )
        )
    # Severe anomalies one by one; moderate ones reach people through the gate's warning.
    for anomaly in (a for a in gate.anomalies if a.severity == "severe"):
        where = f"{anomaly.measure_code} {anomaly.region_code} {anomaly.period}"
        alerts.append(
            Alert(
                alert_id=_stable_id("anomaly", anomaly.anomaly_id, anomaly.severity, anomaly.value),
                source="quality",
                alert_kind=f"anomaly_{anomaly.severity}",
                severity="high" if anomaly.severity == "severe" else "medium",
                message_zh=f"异常值 {where}：{anomaly.reason_zh}",
                message_en=f"Anomaly {where}: {anomaly.reason_en}",
                measure_code=anomaly.measure_code,
                region_code=anomaly.region_code,
                period=anomaly.period,
                run_id=gate.run_id,
            )
        )
    return alerts


_OUTCOME_ZH = {"fail": "未通过", "error": "无法执行", "warn": "警告"}


def pending_alerts(settings: Settings) -> list[Alert]:
    """Every current alert (published ``fct_alerts`` first, then quality), deduplicated by id."""
    seen: dict[str, Alert] = {}
    for alert in [*mart_alerts(settings), *quality_alerts(settings)]:
        seen.setdefault(alert.alert_id, alert)
    return list(seen.values())


# --- delivery ------------------------------------------------------------------------------------


@dataclass
class ChannelReport:
    sent: int = 0
    skipped: int = 0  # already delivered earlier
    failed: int = 0


@dataclass
class DeliveryReport:
    """Per channel: sent now, skipped (sent before), failed (will be retried next run)."""

    alerts: int = 0
    channels: dict[str, ChannelReport] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.channels.values())

    @property
    def sent(self) -> int:
        return sum(c.sent for c in self.channels.values())


def deliver_alerts(
    settings: Settings | None = None,
    *,
    channels: Sequence[Channel] | None = None,
    alerts: Sequence[Alert] | None = None,
    retries: int = 3,
    backoff_seconds: float = 0.5,
) -> DeliveryReport:
    """Send every pending alert on every channel that has not had it yet.

    Args:
        settings: runtime settings (default: from the environment).
        channels: override the configured channels (default :func:`configured_channels`).
        alerts: override the alerts (default :func:`pending_alerts`).
        retries: attempts per alert and channel for transient failures.
        backoff_seconds: first pause between attempts, doubled each time.
    """
    settings = settings or get_settings()
    settings.alerts_dir.mkdir(parents=True, exist_ok=True)
    channels = list(channels) if channels is not None else configured_channels(settings)
    report = DeliveryReport(channels={c.name: ChannelReport() for c in channels})
    with exclusive_lock(settings.alerts_dir / ".deliver.lock"):
        alerts = list(alerts) if alerts is not None else pending_alerts(settings)
        report.alerts = len(alerts)
        store = DeliveryStore(settings.alerts_dir / STORE_NAME)
        try:
            for channel in channels:
                counts = report.channels[channel.name]
                delivered = store.delivered_ids(channel.name)
                pending = [alert for alert in alerts if alert.alert_id not in delivered]
                counts.skipped += len(alerts) - len(pending)
                if isinstance(channel, BatchChannel):
                    batches = [pending[i : i + BATCH_SIZE] for i in range(0, len(pending), BATCH_SIZE)]
                else:
                    batches = [[alert] for alert in pending]
                for batch in batches:
                    if isinstance(channel, BatchChannel):
                        send = partial(channel.send_batch, batch)
                    else:
                        send = partial(channel.send, batch[0])
                    error = _send_with_retries(send, retries, backoff_seconds)
                    if error is None:
                        store.record_many(batch, channel.name)
                        counts.sent += len(batch)
                        continue
                    store.record_failures(batch, channel.name, error)
                    report.errors += [f"{channel.name} {alert.alert_id}: {error}" for alert in batch]
                    counts.failed += len(batch)
        finally:
            store.close()
    return report


def _send_with_retries(send: Callable[[], None], retries: int, backoff_seconds: float) -> str | None:
    """Call ``send`` (one alert or one batch); None on success, else the last error."""
    delay = backoff_seconds
    for attempt in range(1, max(1, retries) + 1):
        try:
            send()
            return None
        except TransientDeliveryError as exc:
            if attempt >= retries:
                return str(exc)
            time.sleep(delay)
            delay *= 2
        except DeliveryError as exc:
            return str(exc)
    return "not sent"


# --- CLI -----------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", action="store_true", help="list pending alerts without sending")


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    if getattr(args, "list", False):
        for alert in pending_alerts(settings):
            print(f"{alert.alert_id}  [{alert.severity}] {alert.alert_kind}  {alert.message_en}")
        return 0
    report = deliver_alerts(settings)
    print(f"{report.alerts} alerts 条预警")
    for name, counts in report.channels.items():
        print(f"  {name}: sent {counts.sent}, already sent {counts.skipped}, failed {counts.failed}")
    for error in report.errors[:20]:
        print(f"  ! {error}")
    return 0 if report.ok else 1
