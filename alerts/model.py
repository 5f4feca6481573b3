"""What the alerting package passes around: alerts, their fingerprints and their state changes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
FINGERPRINT_FIELDS = ("kind", "measure", "region", "year", "rule")

# State-change kinds, what the channels are told. 状态变化。
FIRING = "firing"
RESOLVED = "resolved"
REOPENED = "reopened"
REMINDER = "reminder"
CHANGE_ZH = {FIRING: "新预警", RESOLVED: "已解除", REOPENED: "再次出现", REMINDER: "仍未解除"}


class DeliveryError(Exception):
    """A send failed for good (e.g. HTTP 400): retrying now will not help."""


class TransientDeliveryError(DeliveryError):
    """A send failed in a way that may succeed on retry (connection refused, timeout, HTTP 5xx)."""


def fingerprint_of(
    kind: str, measure: str | None, region: str | None, year: str | None, rule: str | None
) -> str:
    """A stable id of (kind, measure, region, year, rule): the same finding on every run."""
    parts = [kind or "", measure or "", region or "", year or "", rule or ""]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Alert:
    """One alert as a source raises it (a row of ``fct_alerts``, a failed check, an anomaly,
    a pipeline failure). ``scope`` says which evaluation resolves it: an alert of scope
    ``publication`` resolves when a later publication no longer raises it, ``quality`` when a later
    gate run no longer does; ``event`` alerts (pipeline failures) fire once and never resolve."""

    kind: str
    severity: str
    message_zh: str
    message_en: str
    scope: str
    measure: str | None = None
    region: str | None = None
    year: str | None = None
    rule: str | None = None
    owner: str | None = None  # filled in by routing when None
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.kind, self.measure, self.region, self.year, self.rule)

    def labels(self) -> dict[str, str]:
        """The fingerprint's fields (what silences match on) plus severity and owner."""
        return {
            "kind": self.kind,
            "measure": self.measure or "",
            "region": self.region or "",
            "year": self.year or "",
            "rule": self.rule or "",
            "severity": self.severity,
            "owner": self.owner or "",
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Change:
    """One state change of one alert, recorded before any channel is told (the outbox)."""

    seq: int
    fingerprint: str
    change: str  # firing | resolved | reopened | reminder
    at: str  # ISO UTC
    round_id: str
    alert: Alert
    first_seen: str
    silenced_by: str | None = None

    @property
    def severity_rank(self) -> int:
        return SEVERITY_ORDER.get(self.alert.severity, 9)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "fingerprint": self.fingerprint,
            "change": self.change,
            "at": self.at,
            "round_id": self.round_id,
            "first_seen": self.first_seen,
            "silenced_by": self.silenced_by,
            **{k: v for k, v in self.alert.to_dict().items() if k != "extra"},
        }
