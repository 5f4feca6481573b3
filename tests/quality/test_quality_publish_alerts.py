"""Publication (atomic, only after a passing gate) and alert delivery (each state change once per channel)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import duckdb
import pyarrow.parquet as pq
import pytest

from alerts.engine import DeliveryReport, deliver_alerts
from alerts.sources import publication_alerts, quality_alert_list
from quality.gate import run_gate
from scorecard.core.settings import REPO_ROOT, Settings
from tests.quality.conftest import GATE_ONLY
from warehouse.publish import manifest_path, open_snapshot, publish, sha256_of, snapshot_path


def _publish_clean(settings: Settings):
    gate = run_gate(settings, only=GATE_ONLY)
    assert gate.ok
    result = publish(settings, gate=gate)
    assert result.published, result.reason
    return result


def test_publish_writes_snapshot_parquet_and_manifest(home_settings: Settings) -> None:
    result = _publish_clean(home_settings)
    snapshot = snapshot_path(home_settings)
    assert snapshot == result.snapshot and snapshot.exists()
    assert not os.access(snapshot, os.W_OK) or os.geteuid() == 0  # read-only file mode
    assert oct(snapshot.stat().st_mode & 0o777) == "0o444"
    with duckdb.connect(str(snapshot), read_only=True) as con:
        marts = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        assert marts == {"fct_alerts", "fct_value_anomalies"}
        assert con.execute("select count(*) from marts.fct_value_anomalies").fetchone()[0] == 1350
        assert con.execute("select run_id from meta.publication").fetchone()[0] == result.run_id
    parquet = home_settings.publish / "parquet"
    for mart in marts:
        assert pq.read_table(parquet / f"{mart}.parquet").num_rows > 0
    manifest = json.loads(manifest_path(home_settings).read_text(encoding="utf-8"))
    assert manifest["run_id"] == result.run_id
    assert manifest["snapshot"]["sha256"] == sha256_of(snapshot)
    assert {m["name"] for m in manifest["marts"]} == marts
    assert manifest["source_files"][0]["sha256"] == f"{1:064x}"
    assert manifest["checks"]["ok"] is True and manifest["checks"]["results"]
    # No temporary files are left behind.
    assert not [p for p in home_settings.publish.iterdir() if p.name.endswith(".tmp")]


def test_publish_refuses_without_a_passing_gate(injected_settings: Settings) -> None:
    """Published clean, then anomalies injected and built (``injected_settings``): the gate fails
    and publication refuses, the clean snapshot stays."""
    settings = injected_settings
    first_run = json.loads(manifest_path(settings).read_text(encoding="utf-8"))["run_id"]
    snapshot = snapshot_path(settings)
    before = (
        sha256_of(snapshot),
        snapshot.stat().st_mtime_ns,
        os.readlink(settings.publish / "current"),
    )
    gate = run_gate(settings, only=GATE_ONLY)
    assert not gate.ok
    result = publish(settings, gate=gate)
    assert not result.published and "quality gate failed" in result.reason
    assert (
        sha256_of(snapshot),
        snapshot.stat().st_mtime_ns,
        os.readlink(settings.publish / "current"),
    ) == before
    with open_snapshot(settings=settings) as con:  # still readable, still the old data
        assert con.execute("select run_id from meta.publication").fetchone()[0] == first_run
        assert (
            con.execute(
                "select count(*) from marts.fct_value_anomalies where severity = 'severe'"
            ).fetchone()[0]
            == 0
        )
    # The gate's result is passed to publication, never run by it: no gate, no call.
    with pytest.raises(TypeError):
        publish(settings)  # type: ignore[call-arg]


def test_publication_renders_nothing_rendering_follows_from_the_release(home_settings: Settings) -> None:
    """Publication writes the snapshot, Parquet and manifest only; the report and workbook are
    rendered afterwards from the released snapshot (reports.release), then linked in publish/."""
    from reports.release import RENDERED_NAMES, render_release

    result = _publish_clean(home_settings)
    release = (home_settings.publish / "current").resolve()
    assert release.name == result.run_id
    for name in RENDERED_NAMES:
        assert not (release / name).exists() and not (home_settings.publish / name).exists(), name
    rendered = render_release(home_settings)
    assert rendered == release
    for name in RENDERED_NAMES:
        link = home_settings.publish / name
        assert link.is_symlink() and link.resolve() == release / name and link.stat().st_size > 0
    assert result.run_id in (home_settings.publish / "report.html").read_text(encoding="utf-8")
    # the snapshot rendering read is still the published one, unchanged
    assert json.loads(manifest_path(home_settings).read_text(encoding="utf-8"))["snapshot"]["sha256"] == (
        sha256_of(snapshot_path(home_settings))
    )


_PUBLISH_LOOP = """
import sys
from quality.gate import run_gate
from warehouse.publish import publish
only = sys.argv[2:]
for _ in range(int(sys.argv[1])):
    assert publish(gate=run_gate(only=only)).published
"""


def test_readers_keep_reading_while_another_publication_runs(home_settings: Settings) -> None:
    _publish_clean(home_settings)
    snapshot = snapshot_path(home_settings)
    proc = subprocess.Popen(
        [sys.executable, "-c", _PUBLISH_LOOP, "3", *GATE_ONLY],
        cwd=REPO_ROOT,
        env=home_settings.subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    reads = 0
    seen_runs = set()
    try:
        while proc.poll() is None or reads == 0:
            con = duckdb.connect(str(snapshot), read_only=True)
            try:
                for (mart,) in con.execute(
                    "select table_name from information_schema.tables where table_schema = 'marts'"
                ).fetchall():
                    assert con.execute(f'select count(*) from marts."{mart}"').fetchone()[0] > 0
                seen_runs.add(con.execute("select run_id from meta.publication").fetchone()[0])
            finally:
                con.close()
            reads += 1
    finally:
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert reads > 1
    assert len(seen_runs) >= 1
    releases = [p for p in (home_settings.publish / "releases").iterdir() if not p.name.startswith(".")]
    assert len(releases) == 3  # the newest three are kept


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    fail_next = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail_next > 0:
            type(self).fail_next -= 1
            self.send_response(503)
            self.end_headers()
            return
        payload = json.loads(body)
        payload["idempotency_key"] = self.headers["Idempotency-Key"]
        type(self).received.append(payload)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch):
    _Receiver.received = []
    _Receiver.fail_next = 0
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SCORECARD_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/alerts")
    yield _Receiver
    server.shutdown()
    server.server_close()


def _changes(received: list[dict]) -> list[dict]:
    return [c for payload in received for c in payload["digest"]["changes"]]


def test_missed_target_alerts_reach_the_webhook_once_across_two_runs(
    home_settings: Settings, webhook
) -> None:
    reports: list[DeliveryReport] = []
    for _ in range(2):
        _publish_clean(home_settings)
        reports.append(deliver_alerts(home_settings, backoff_seconds=0.01))
    missed = [c for c in _changes(webhook.received) if c["kind"] == "target_missed"]
    with open_snapshot(settings=home_settings) as con:
        expected = {
            r[0]
            for r in con.execute(
                "select alert_id from marts.fct_alerts where alert_kind = 'target_missed'"
            ).fetchall()
        }
    assert len(expected) == 3
    assert sorted(c["rule"] for c in missed) == sorted(expected)  # each exactly once
    assert all(c["change"] == "firing" and c["owner"] == "social_assistance" for c in missed)
    assert all(p["idempotency_key"] == p["digest"]["digest_id"] for p in webhook.received)
    owners = [p["digest"]["owner"] for p in webhook.received]
    assert len(owners) == len(set(owners))  # one digest per owner
    assert reports[0].channels["webhook"].sent == len(_changes(webhook.received))
    assert reports[1].changes == 0 and reports[1].channels["webhook"].sent == 0
    lines = (home_settings.alerts_dir / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len({json.loads(line)["fingerprint"] for line in lines}) == reports[0].changes


def test_transient_webhook_failures_are_retried_and_still_sent_once(home_settings: Settings, webhook) -> None:
    _publish_clean(home_settings)
    webhook.fail_next = 1  # one 503, then success within the same run
    report = deliver_alerts(home_settings, backoff_seconds=0.01)
    assert report.ok and report.channels["webhook"].sent == report.changes
    ids = [c["seq"] for c in _changes(webhook.received)]
    assert len(ids) == len(set(ids)) == report.changes


def test_failed_delivery_is_retried_on_the_next_run(home_settings: Settings, monkeypatch) -> None:
    _publish_clean(home_settings)
    monkeypatch.setenv("SCORECARD_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/unreachable")
    first = deliver_alerts(home_settings, retries=2, backoff_seconds=0.01)
    assert not first.ok and first.channels["webhook"].failed == first.changes
    assert first.channels["jsonl"].sent == first.changes  # other channels are unaffected


def test_quality_failures_and_anomalies_become_alerts(injected_settings: Settings) -> None:
    """Published clean, then anomalies injected and built (``injected_settings``): the published
    marts' alerts, the failed checks and the flagged values all become alerts."""
    home_settings = injected_settings
    assert not run_gate(home_settings, only=GATE_ONLY).ok
    alerts = publication_alerts(home_settings).alerts + quality_alert_list(home_settings).alerts
    kinds = {a.kind for a in alerts}
    assert {"target_missed", "quality_check", "anomaly"} <= kinds
    flagged = {(a.measure, a.region, a.year) for a in alerts if a.kind == "anomaly"}
    assert ("PP03A", "330105", "2025") in flagged
    # A second gate run that sees the same problems gives the same fingerprints.
    run_gate(home_settings, only=GATE_ONLY)
    again = publication_alerts(home_settings).alerts + quality_alert_list(home_settings).alerts
    assert {a.fingerprint for a in again} == {a.fingerprint for a in alerts}


def test_smtp_channel_is_configured_from_the_environment(home_settings: Settings) -> None:
    from alerts.channels import EmailChannel
    from alerts.config import load_routing
    from alerts.engine import configured_channels

    env = {
        "SCORECARD_SMTP_HOST": "127.0.0.1",
        "SCORECARD_SMTP_PORT": "2525",
        "SCORECARD_SMTP_FROM": "scorecard@example.org",
        "SCORECARD_SMTP_TO": "a@example.org, b@example.org",
    }
    channels = configured_channels(home_settings, load_routing(env=env))
    assert [c.name for c in channels] == ["jsonl", "email"]
    smtp = channels[1]
    assert (
        isinstance(smtp, EmailChannel)
        and smtp.port == 2525
        and smtp.recipients == ["a@example.org", "b@example.org"]
    )


def test_smtp_delivery_to_a_local_server(home_settings: Settings) -> None:
    """A minimal SMTP sink on 127.0.0.1 receives one e-mail per owner (HTML and plain text), once."""
    import email
    import socketserver

    messages: list[bytes] = []

    class Sink(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 sink\r\n")
            data = False
            buf: list[bytes] = []
            while line := self.rfile.readline():
                if data:
                    if line == b".\r\n":
                        messages.append(b"".join(buf))
                        data, buf = False, []
                        self.wfile.write(b"250 ok\r\n")
                    else:
                        buf.append(line)
                    continue
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    self.wfile.write(b"250 sink\r\n")
                elif verb == b"DATA":
                    data = True
                    self.wfile.write(b"354 go\r\n")
                elif verb == b"QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from alerts.channels import EmailChannel

        _publish_clean(home_settings)
        channel = EmailChannel(
            "smtp", "127.0.0.1", server.server_address[1], "s@example.org", ["o@example.org"]
        )
        first = deliver_alerts(home_settings, channels=[channel])
        second = deliver_alerts(home_settings, channels=[channel])
        deadline = time.monotonic() + 300
        while len(messages) < first.channels["smtp"].messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    owners = {owner for _, owner, _, _ in first.digests}
    assert first.channels["smtp"].messages == len(owners) == len(messages) > 0
    assert first.channels["smtp"].sent == first.changes
    assert second.channels["smtp"].sent == 0
    parsed = [email.message_from_bytes(m) for m in messages]
    assert all(m["X-Scorecard-Digest-Id"] for m in parsed)
    types = {part.get_content_type() for m in parsed for part in m.walk()}
    assert {"text/plain", "text/html"} <= types
    text = "".join(
        part.get_payload(decode=True).decode("utf-8")
        for m in parsed
        for part in m.walk()
        if part.get_content_maintype() == "text"
    )
    assert "新预警" in text and "new" in text  # zh and en


def test_nothing_published_means_no_mart_alerts(home_settings: Settings) -> None:
    assert not Path(snapshot_path(home_settings)).exists()
    run_gate(home_settings, only=GATE_ONLY)
    assert publication_alerts(home_settings).alerts == []
