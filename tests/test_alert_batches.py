"""Alert delivery in batches: one fsync and one store transaction per batch, still exactly once."""

from __future__ import annotations

import json
import os

import pytest

from scorecard.config import Settings
from warehouse import alerts as alerts_module
from warehouse.alerts import (
    BATCH_SIZE,
    Alert,
    DeliveryError,
    JsonLinesChannel,
    TransientDeliveryError,
    deliver_alerts,
)


def make_alerts(n: int) -> list[Alert]:
    return [
        Alert(
            alert_id=f"a{i:06d}",
            source="fct_alerts",
            alert_kind="target_missed",
            severity="high",
            message_zh="未达目标",
            message_en="target missed",
            measure_code="PP01A",
            region_code="330100",
            period="2025",
        )
        for i in range(n)
    ]


class FlakyBatchChannel:
    """A batch channel that fails its first ``transient`` calls, then refuses batch ``refuse``."""

    name = "flaky"

    def __init__(self, *, transient: int = 0, refuse: int | None = None) -> None:
        self.transient = transient
        self.refuse = refuse
        self.calls = 0
        self.delivered: list[str] = []

    def send(self, alert: Alert) -> None:
        self.send_batch([alert])

    def send_batch(self, alerts: list[Alert]) -> None:
        self.calls += 1
        if self.transient > 0:
            self.transient -= 1
            raise TransientDeliveryError("busy")
        if self.refuse is not None and self.calls == self.refuse:
            raise DeliveryError("refused")
        self.delivered += [a.alert_id for a in alerts]


def test_json_lines_get_one_fsync_per_batch_and_each_alert_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(alerts_module.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    alerts = make_alerts(2 * BATCH_SIZE + 5)
    channel = JsonLinesChannel(settings.alerts_dir / "alerts.jsonl")

    first = deliver_alerts(settings, channels=[channel], alerts=alerts)
    second = deliver_alerts(settings, channels=[channel], alerts=alerts)

    assert len(fsyncs) == 3  # 1000 + 1000 + 5
    assert first.ok and first.channels["jsonl"].sent == len(alerts)
    assert second.channels["jsonl"].sent == 0 and second.channels["jsonl"].skipped == len(alerts)
    lines = channel.path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["alert_id"] for line in lines] == [a.alert_id for a in alerts]


def test_a_transient_batch_failure_is_retried_within_the_run(settings: Settings) -> None:
    channel = FlakyBatchChannel(transient=1)
    alerts = make_alerts(10)
    report = deliver_alerts(settings, channels=[channel], alerts=alerts, backoff_seconds=0.0)
    assert report.ok and report.channels["flaky"].sent == 10
    assert channel.delivered == [a.alert_id for a in alerts]


def test_a_refused_batch_stays_pending_and_goes_out_on_the_next_run(settings: Settings) -> None:
    alerts = make_alerts(BATCH_SIZE + 3)
    refusing = FlakyBatchChannel(refuse=2)  # the second batch (3 alerts) is refused
    first = deliver_alerts(settings, channels=[refusing], alerts=alerts, backoff_seconds=0.0)
    assert not first.ok
    assert first.channels["flaky"].sent == BATCH_SIZE and first.channels["flaky"].failed == 3
    assert len(first.errors) == 3 and all("refused" in e for e in first.errors)

    retry = FlakyBatchChannel()
    second = deliver_alerts(settings, channels=[retry], alerts=alerts, backoff_seconds=0.0)
    assert second.ok and second.channels["flaky"].skipped == BATCH_SIZE
    assert retry.delivered == [a.alert_id for a in alerts[BATCH_SIZE:]]
