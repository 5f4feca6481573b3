"""The JSON-lines log takes state changes in batches: one fsync per batch, each change once."""

from __future__ import annotations

import json
import os

import pytest

from alerts import channels as channels_module
from alerts.engine import LOG_BATCH, deliver_alerts
from scorecard.core.settings import Settings
from tests.alerts.conftest import missed, publication, routing


def test_json_lines_get_one_fsync_per_batch_and_each_change_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(channels_module.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    alerts = [missed("PP01", f"33{i:04d}", "2025") for i in range(2 * LOG_BATCH + 5)]
    route = routing()
    obs = {"publication": publication("pub-1", alerts)}
    first = deliver_alerts(settings, routing=route, silences=[], observations=obs)
    second = deliver_alerts(settings, routing=route, silences=[], observations=obs)
    assert len(fsyncs) == 3  # 1000 + 1000 + 5
    assert first.ok and first.channels["jsonl"].sent == len(alerts) and first.channels["jsonl"].messages == 3
    assert second.changes == 0 and second.channels["jsonl"].sent == 0
    lines = (settings.alerts_dir / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["fingerprint"] for line in lines] == [a.fingerprint for a in alerts]
