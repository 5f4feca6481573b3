"""End to end against a real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``, installed
by ``make test``; started here on 127.0.0.1 with a random port), which routes to a local webhook
receiver: the receiver sees the grouped firing notification and, after a corrected submission is
published, the resolved one. The other channels (webhook digest, robot, JSON-lines log) are told
the same state changes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from alerts.channels import AlertmanagerChannel, JsonLinesChannel, WebhookChannel, WeComChannel
from alerts.config import routing_from_dict
from alerts.engine import deliver_alerts
from quality.gate import run_gate
from scorecard.core.settings import Settings
from tests.alerts.conftest import Receiver
from tests.quality.conftest import GATE_ONLY, add_alerts_mart, counties
from warehouse.publish import publish

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
DEADLINE = 300.0


PORT_ATTEMPTS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(proc: subprocess.Popen, url: str, log_path: Path) -> bool:
    """True once Alertmanager answers ready; False if it exited first."""
    deadline = time.monotonic() + DEADLINE
    while proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=5) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        assert time.monotonic() < deadline, (
            "Alertmanager did not become ready: " + log_path.read_text(errors="replace")[-2000:]
        )
        time.sleep(0.2)
    return False


def start_alertmanager(config: Path, tmp_path: Path, ports: Iterable[int]) -> tuple[subprocess.Popen, str]:
    """Alertmanager on the first of ``ports`` it can bind, ready. A port is free when free_port()
    returns it, but another process may take it before Alertmanager binds it: Alertmanager then
    exits saying so, and the next port is tried (the run waits on events, never on time)."""
    log_path = tmp_path / "alertmanager.log"
    for port in ports:
        with log_path.open("ab") as log:
            start = log_path.stat().st_size
            proc = subprocess.Popen(
                [
                    BINARY,
                    f"--config.file={config}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            if _wait_until_ready(proc, url, log_path):
                return proc, url
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        output = log_path.read_bytes()[start:].decode(errors="replace")
        if "address already in use" not in output:
            raise AssertionError(f"Alertmanager exited: {output[-2000:]}")
    raise AssertionError("Alertmanager found no free port: " + log_path.read_text(errors="replace")[-2000:])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[str, Receiver]]:
    assert BINARY, "prometheus-alertmanager is not installed: run `make alertmanager` (part of `make test`)"
    notified = Receiver()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: scorecard
  group_by: [owner]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: scorecard
    webhook_configs:
      - url: {notified.url}
        send_resolved: true
""",
        encoding="utf-8",
    )
    proc, url = start_alertmanager(config, tmp_path, (free_port() for _ in range(PORT_ATTEMPTS)))
    try:
        yield url, notified
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        notified.close()


def wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE} s"
        time.sleep(0.2)


def am_alerts(notified: Receiver, status: str) -> dict[str, dict]:
    """fingerprint label -> alert, over every notification, for alerts of ``status``."""
    return {
        a["labels"]["fingerprint"]: a
        for r in notified.requests
        for a in r["json"]["alerts"]
        if a["status"] == status and "fingerprint" in a["labels"]
    }


def publish_now(settings: Settings) -> None:
    gate = run_gate(settings, only=GATE_ONLY)
    assert gate.ok
    assert publish(settings, gate=gate).published


def test_a_corrected_submission_resolves_its_alert_on_every_channel(
    home_settings: Settings, alertmanager: tuple[str, Receiver], receiver: Receiver
) -> None:
    am_url, notified = alertmanager
    robot = Receiver(answer={"errcode": 0, "errmsg": "ok"})
    try:
        route = routing_from_dict(
            {
                "channels": {
                    "alertmanager": {"type": "alertmanager", "url": am_url, "all_owners": True},
                    "hook": {"type": "webhook", "url": receiver.url, "all_owners": True},
                    "wecom": {"type": "wecom", "url": robot.url + "?key=k"},
                },
                "owners": {"social_assistance": {"channels": ["wecom"]}},
            }
        )
        channels = [
            JsonLinesChannel(home_settings.alerts_dir / "alerts.jsonl"),
            AlertmanagerChannel("alertmanager", am_url),
            WebhookChannel("hook", receiver.url),
            WeComChannel("wecom", robot.url + "?key=k"),
        ]
        publish_now(home_settings)
        first = deliver_alerts(home_settings, routing=route, silences=[], channels=channels)
        assert first.ok, first.errors
        missed = {c.fingerprint: c for c in _changes(home_settings) if c.alert.kind == "target_missed"}
        assert len(missed) == 3
        # Alertmanager grouped the three (one owner) into a firing notification
        wait_for(lambda: set(missed) <= set(am_alerts(notified, "firing")), "firing notification")
        group = next(
            r["json"]
            for r in notified.requests
            if set(missed) <= {a["labels"]["fingerprint"] for a in r["json"]["alerts"]}
        )
        assert group["groupLabels"] == {"owner": "social_assistance"} and group["status"] == "firing"

        # a corrected submission: the third county now meets its target (the rebuilt mart drops it)
        add_alerts_mart(home_settings.warehouse_path, missed=2)
        publish_now(home_settings)
        second = deliver_alerts(home_settings, routing=route, silences=[], channels=channels)
        assert second.ok and second.changes == 1, second.errors
        (resolved,) = [c for c in _changes(home_settings) if c.change == "resolved"]
        assert resolved.alert.region == counties()[2]["region_code"]
        wait_for(lambda: resolved.fingerprint in am_alerts(notified, "resolved"), "resolved notification")
        # ... and on the other channels, once
        hooked = [
            c for r in receiver.requests for c in r["json"]["digest"]["changes"] if c["change"] == "resolved"
        ]
        assert [c["fingerprint"] for c in hooked] == [resolved.fingerprint]
        texts = [r["json"]["markdown"]["content"] for r in robot.requests]
        assert sum(f"`{resolved.fingerprint[:8]}`" in t and "已解除" in t for t in texts) == 1
        # a third publication with nothing new: nothing is sent anywhere
        publish_now(home_settings)
        assert deliver_alerts(home_settings, routing=route, silences=[], channels=channels).changes == 0
        assert len(robot.requests) == 2
    finally:
        robot.close()


def _changes(settings: Settings):
    from alerts.state import STATE_NAME, StateStore

    store = StateStore(settings.alerts_dir / STATE_NAME)
    try:
        return store.changes()
    finally:
        store.close()


@pytest.mark.slow  # starts Alertmanager
def test_alertmanager_moves_to_another_port_when_its_port_was_taken(tmp_path: Path) -> None:
    """The race free_port() leaves open, made certain: the first port is held by another socket
    when Alertmanager starts; it exits saying so, and the next port is used."""
    assert BINARY, "prometheus-alertmanager is not installed: run `make alertmanager` (part of `make test`)"
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n", encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        proc, url = start_alertmanager(config, tmp_path, iter([taken_port, free_port()]))
        try:
            assert not url.endswith(f":{taken_port}")
            with urllib.request.urlopen(f"{url}/-/ready", timeout=30) as response:
                assert response.status == 200
            assert "address already in use" in (tmp_path / "alertmanager.log").read_text(errors="replace")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
