"""Channels: the JSON-lines log, Prometheus Alertmanager, a generic webhook, e-mail, and the
DingTalk, WeCom and Feishu group robots.

Every channel raises :class:`TransientDeliveryError` for what may pass on a retry (connection
errors, timeouts, HTTP 5xx / 429, a robot's rate-limit code) and :class:`DeliveryError` otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from alerts.config import ChannelSpec, Owner
from alerts.digest import RECEIPT, Digest
from alerts.model import RESOLVED, Change, DeliveryError, TransientDeliveryError

USER_AGENT = "common-prosperity-scorecard"


def _post_json(url: str, payload: Any, *, timeout: float, headers: Mapping[str, str] | None = None) -> bytes:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "backslashreplace")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientDeliveryError(f"HTTP {exc.code} from {_safe(url)}") from exc
        raise DeliveryError(f"HTTP {exc.code} from {_safe(url)}: {exc.read()[:300]!r}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        raise TransientDeliveryError(f"{_safe(url)} unreachable: {exc}") from exc


def _safe(url: str) -> str:
    """A URL without its query (robots carry their access token there)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class JsonLinesChannel:
    """One line per state change (and per file receipt): the audit trail, always on. Silenced
    changes are logged too, with the silence that held them."""

    name = "jsonl"
    kind = "log"

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, changes: Sequence[Change]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        logged_at = datetime.now(UTC).isoformat(timespec="seconds")
        text = "".join(
            json.dumps({"logged_at": logged_at, **c.to_dict()}, ensure_ascii=False) + "\n" for c in changes
        )
        try:
            with self.path.open("a", encoding="utf-8", errors="backslashreplace") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise TransientDeliveryError(f"cannot write {self.path}: {exc}") from exc


class AlertmanagerChannel:
    """Alert state changes posted to Alertmanager's v2 API (``POST /api/v2/alerts``), each with its
    labels (alertname = kind, the fingerprint's fields, severity, owner) and annotations (zh/en).

    A firing alert is posted with ``endsAt`` two reminder intervals ahead (re-posted with every
    reminder, so Alertmanager keeps it active); a resolved one with ``endsAt`` = the resolution
    time, so Alertmanager sends its resolved notification. Grouping, inhibition and silences are
    Alertmanager's own."""

    kind = "alertmanager"

    def __init__(self, name: str, url: str, *, hold_hours: float = 336.0, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"alertmanager URL must be http(s): {url!r}")
        self.name = name
        self.url = url.rstrip("/")
        self.hold = timedelta(hours=hold_hours)
        self.timeout = timeout

    @staticmethod
    def payload(change: Change, hold: timedelta) -> dict[str, Any]:
        alert = change.alert
        labels = {"alertname": alert.kind, "fingerprint": change.fingerprint, "source": "scorecard"}
        labels.update({k: v for k, v in alert.labels().items() if v})
        at = datetime.fromisoformat(change.at)
        ends = at if change.change == RESOLVED else at + hold
        return {
            "labels": labels,
            "annotations": {"summary_zh": alert.message_zh, "summary_en": alert.message_en},
            "startsAt": change.first_seen,
            "endsAt": ends.isoformat(),
        }

    def post(self, changes: Sequence[Change]) -> None:
        latest: dict[str, Change] = {}
        for change in changes:
            if change.change != RECEIPT:
                latest[change.fingerprint] = change
        items = [self.payload(c, self.hold) for c in latest.values()]
        for i in range(0, len(items), 500):
            _post_json(f"{self.url}/api/v2/alerts", items[i : i + 500], timeout=self.timeout)


class WebhookChannel:
    """A digest per owner as JSON (``{"digest": {...}}``), header ``Idempotency-Key: <digest_id>``."""

    kind = "digest"

    def __init__(self, name: str, url: str, *, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s): {url!r}")
        self.name, self.url, self.timeout = name, url, timeout

    def send_digest(self, digest: Digest) -> int:
        _post_json(
            self.url,
            {"digest": digest.to_dict()},
            timeout=self.timeout,
            headers={"Idempotency-Key": digest.digest_id},
        )
        return 1


class EmailChannel:
    """A digest per owner as one e-mail: HTML and plain text alternatives, zh and en. Recipients:
    the owner's ``email`` list in the routing file, else the channel's ``to``."""

    kind = "digest"

    def __init__(
        self,
        name: str,
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
        self.name, self.host, self.port, self.sender = name, host, port, sender
        self.recipients = list(recipients)
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout

    def message(self, digest: Digest) -> EmailMessage:
        to = digest.owner.email or self.recipients
        message = EmailMessage()
        message["Subject"] = digest.title
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["X-Scorecard-Digest-Id"] = digest.digest_id
        message.set_content(digest.plain)
        message.add_alternative(digest.html, subtype="html")
        return message

    def send_digest(self, digest: Digest) -> int:
        message = self.message(digest)
        if not message["To"]:
            raise DeliveryError(f"no recipient for {digest.owner.code} 无收件人")
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
        return 1


class RateLimiter:
    """At most ``limit`` sends per ``window`` seconds per robot, counted across processes (the send
    times are kept in the state store). A send is counted when its response has arrived, so the
    robot never sees more than ``limit`` requests in any window."""

    def __init__(
        self,
        robot: str,
        limit: int,
        window: float,
        *,
        history: Callable[[str, float], list[float]],
        record: Callable[[str, float], None],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.robot, self.limit, self.window = robot, limit, window
        self.history, self.record, self.sleep = history, record, sleep

    def wait(self) -> None:
        while True:
            now = time.time()
            recent = self.history(self.robot, now - self.window)
            if len(recent) < self.limit:
                return
            self.sleep(max(0.05, recent[-self.limit] + self.window - now + 0.05))

    def sent(self) -> None:
        self.record(self.robot, time.time())


class RobotChannel:
    """A chat group robot: the digest as markdown, split to the robot's size limit, each part
    through the rate limiter. Subclasses know the robot's JSON, signing and error codes."""

    kind = "digest"
    limit_bytes = 4000
    rate_codes: frozenset[int] = frozenset()
    rate: tuple[int, float] = (20, 60.0)  # messages per window (s): 20 a minute per robot

    def __init__(self, name: str, url: str, *, secret: str | None = None, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"robot URL must be http(s): {url!r}")
        self.name, self.url, self.secret, self.timeout = name, url, secret or None, timeout
        self.limiter: RateLimiter | None = None
        self.robot = hashlib.sha256(url.split("?")[0].encode() + url.encode()).hexdigest()[:16]

    def request(self, title: str, text: str) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def send_digest(self, digest: Digest) -> int:
        parts = digest.chunks(self.limit_bytes)
        for part in parts:
            if self.limiter:
                self.limiter.wait()
            url, payload = self.request(digest.title, part)
            answer = _post_json(url, payload, timeout=self.timeout)
            if self.limiter:
                self.limiter.sent()
            self.check(answer)
        return len(parts)

    def check(self, answer: bytes) -> None:
        try:
            data = json.loads(answer or b"{}")
        except ValueError as exc:
            raise DeliveryError(f"{self.name}: not JSON: {answer[:200]!r}") from exc
        code = data.get("errcode", data.get("code", data.get("StatusCode", 0)))
        if code in (0, None):
            return
        message = data.get("errmsg") or data.get("msg") or data.get("StatusMessage")
        if int(code) in self.rate_codes:
            raise TransientDeliveryError(f"{self.name}: rate limited ({code} {message})")
        raise DeliveryError(f"{self.name}: robot answered {code} {message}")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk: base64(HMAC-SHA256(key=secret, "timestamp\\nsecret")), URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu / Lark: base64(HMAC-SHA256(key="timestamp\\nsecret", empty message))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingTalkChannel(RobotChannel):
    """``{"msgtype": "markdown", "markdown": {"title", "text"}}``; with a secret, ``timestamp`` (ms)
    and ``sign`` query parameters; 20,000 bytes per message; errcode 130101 = rate limited."""

    limit_bytes = 18000
    rate_codes = frozenset({130101})

    def request(self, title: str, text: str) -> tuple[str, dict[str, Any]]:
        url = self.url
        if self.secret:
            ts = int(time.time() * 1000)
            url += ("&" if "?" in url else "?") + f"timestamp={ts}&sign={dingtalk_sign(self.secret, ts)}"
        return url, {"msgtype": "markdown", "markdown": {"title": title[:60], "text": text}}


class WeComChannel(RobotChannel):
    """``{"msgtype": "markdown", "markdown": {"content"}}``; 4,096 bytes per message (no signing:
    the key in the URL is the secret); errcode 45009 = rate limited."""

    limit_bytes = 4000
    rate_codes = frozenset({45009})

    def request(self, title: str, text: str) -> tuple[str, dict[str, Any]]:
        return self.url, {"msgtype": "markdown", "markdown": {"content": text}}


class FeishuChannel(RobotChannel):
    """An interactive card with one markdown element; with a secret, ``timestamp`` (s) and
    ``sign`` in the body; ~20 KB per request; code 9499 / 11232 = rate limited."""

    limit_bytes = 18000
    rate_codes = frozenset({9499, 11232})

    def request(self, title: str, text: str) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {
            "msg_type": "interactive",
            "card": {
                "header": {"title": {"tag": "plain_text", "content": title[:100]}},
                "elements": [{"tag": "markdown", "content": text}],
            },
        }
        if self.secret:
            ts = int(time.time())
            payload = {"timestamp": str(ts), "sign": feishu_sign(self.secret, ts), **payload}
        return self.url, payload


ROBOTS = {"dingtalk": DingTalkChannel, "wecom": WeComChannel, "feishu": FeishuChannel}


def build_channel(spec: ChannelSpec, *, reminder_hours: float = 168.0) -> Any | None:
    """A channel from its routing entry; None when a required setting is empty (the channel is off)."""
    o = spec.options
    if spec.type == "alertmanager":
        return (
            AlertmanagerChannel(spec.name, o["url"], hold_hours=2 * reminder_hours) if o.get("url") else None
        )
    if spec.type == "webhook":
        return WebhookChannel(spec.name, o["url"]) if o.get("url") else None
    if spec.type == "email":
        if not (o.get("host") and o.get("sender")):
            return None
        to = o.get("to") or []
        recipients = [x.strip() for x in (to.split(",") if isinstance(to, str) else to) if x and x.strip()]
        return EmailChannel(
            spec.name,
            str(o["host"]),
            int(o.get("port") or 25),
            str(o["sender"]),
            recipients,
            user=o.get("user") or None,
            password=o.get("password") or None,
            starttls=str(o.get("starttls") or "").lower() in {"1", "true", "yes"},
        )
    if spec.type in ROBOTS:
        if not o.get("url"):
            return None
        channel = ROBOTS[spec.type](spec.name, str(o["url"]), secret=o.get("secret") or None)
        channel.rate = (int(o.get("rate_limit") or 20), float(o.get("rate_window_seconds") or 60))
        return channel
    return None


__all__ = [
    "AlertmanagerChannel",
    "DingTalkChannel",
    "EmailChannel",
    "FeishuChannel",
    "JsonLinesChannel",
    "Owner",
    "RateLimiter",
    "RobotChannel",
    "WeComChannel",
    "WebhookChannel",
    "build_channel",
    "dingtalk_sign",
    "feishu_sign",
]
