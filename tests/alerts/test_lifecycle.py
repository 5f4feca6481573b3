"""The alert lifecycle: fingerprints and state kept across publications, digests per owner,
silences, reminders, the settling window, go-live, and restarts between publications."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts import engine
from alerts.config import ConfigError, Silence, load_routing, load_silences, routing_from_dict
from alerts.engine import deliver_alerts, firing
from alerts.model import Alert
from alerts.sources import Observation
from scorecard.core.settings import Settings
from tests.alerts.conftest import REGIONS, Receiver, missed, publication, quality, routing

T0 = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)


def log_lines(settings: Settings) -> list[dict]:
    path = settings.alerts_dir / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def digests(receiver: Receiver) -> list[dict]:
    return [r["json"]["digest"] for r in receiver.requests]


def run(settings, route, alerts=None, *, run_id="pub-1", gate=None, now=T0, **kw):
    obs = {"publication": publication(run_id, alerts or []), "quality": gate}
    return deliver_alerts(
        settings, routing=route, silences=kw.pop("silences", []), observations=obs, now=now, **kw
    )


def test_firing_unchanged_resolved_reopened_each_sent_once(settings: Settings, receiver: Receiver) -> None:
    route = routing(receiver.url)
    a, b = missed("PP01", "330102", "2025"), missed("PP01", "330105", "2025")
    first = run(settings, route, [a, b], run_id="pub-1")
    assert first.ok and first.changes == 2
    # the same publication evaluated again, and a new one raising the same alerts: nothing to send
    assert run(settings, route, [a, b], run_id="pub-1").changes == 0
    assert run(settings, route, [a, b], run_id="pub-2", now=T0 + timedelta(hours=1)).changes == 0
    # a corrected submission meets a's target: a resolves
    third = run(settings, route, [b], run_id="pub-3", now=T0 + timedelta(hours=2))
    assert third.changes == 1
    # a returns
    fourth = run(settings, route, [a, b], run_id="pub-4", now=T0 + timedelta(hours=3))
    assert fourth.changes == 1
    changes = [(line["fingerprint"], line["change"]) for line in log_lines(settings)]
    assert changes == [
        (a.fingerprint, "firing"),
        (b.fingerprint, "firing"),
        (a.fingerprint, "resolved"),
        (a.fingerprint, "reopened"),
    ]
    sent = [(c["fingerprint"], c["change"]) for d in digests(receiver) for c in d["changes"]]
    assert sent == changes  # every change once on the webhook too, nothing repeated
    assert len(receiver.requests) == 3  # one digest per delivery with changes (one owner)
    assert {r["headers"]["Idempotency-Key"] for r in receiver.requests} == {
        d["digest_id"] for d in digests(receiver)
    }


def test_fingerprint_is_kind_measure_region_year_rule() -> None:
    a = missed("PP01", "330102", "2025")
    assert a.fingerprint == missed("PP01", "330102", "2025", severity="medium").fingerprint
    for other in (
        missed("PP02", "330102", "2025"),
        missed("PP01", "330105", "2025"),
        missed("PP01", "330102", "2024"),
    ):
        assert other.fingerprint != a.fingerprint


def test_one_digest_per_owner_per_channel_grouped_highest_severity_first(
    settings: Settings, receiver: Receiver
) -> None:
    alerts = [
        missed(m, r, str(y), severity=("high" if (i + y) % 3 else "medium"))
        for i, r in enumerate(REGIONS)
        for m in ("PP01", "PP02", "PP03A")
        for y in range(2021, 2026)
    ]
    report = run(
        settings, routing(receiver.url, top_items=5), alerts, gate=Observation("gate-1", [quality("x")])
    )
    assert report.changes == len(alerts) + 1
    owners = [d["owner"] for d in digests(receiver)]
    assert sorted(owners) == sorted(set(owners))  # one message per owner
    # PP01 and PP03A belong to social_assistance, PP02 to child_welfare; the check to the data team
    assert set(owners) == {"social_assistance", "child_welfare", "data_team"}
    for digest in digests(receiver):
        markdown = digest["markdown"]
        assert ("按领域与地区 By zone and region" in markdown and "精准保障" in markdown) or digest[
            "owner"
        ] == "data_team"
        listed = [c for c in digest["changes"]]
        assert sum(digest["summary"]["by_change"].values()) == len(listed)
    sa = next(d for d in digests(receiver) if d["owner"] == "social_assistance")
    assert sa["summary"]["changes"] == 2 * 5 * 5
    top = [line for line in sa["markdown"].splitlines() if line.startswith("- [")]
    assert len(top) <= 5 + 1  # five items (the go-live policy may list fewer)
    severities = [line.split("]")[0][3:] for line in top]
    assert severities == sorted(severities, key=["high", "medium"].index)


def test_go_live_details_only_the_latest_year(settings: Settings, receiver: Receiver) -> None:
    alerts = [missed("PP01", r, str(y)) for r in REGIONS for y in range(2021, 2026)]
    run(settings, routing(receiver.url, top_items=0), alerts)
    (digest,) = digests(receiver)
    listed = [line for line in digest["markdown"].splitlines() if line.startswith("- [")]
    assert len(listed) == len(REGIONS) and all("2025" in line for line in listed)
    assert "首次发布：2021–2024 年历史预警 20 条仅汇总" in digest["markdown"]
    # later publications list every change
    more = [missed("PP01", r, "2024", severity="medium") for r in ("330203",)] + alerts
    run(
        settings,
        routing(receiver.url, top_items=0),
        [missed("PP02", "330102", "2023"), *more],
        run_id="pub-2",
    )
    assert "2023" in digests(receiver)[-1]["markdown"] and "首次发布" not in digests(receiver)[-1]["markdown"]


def test_a_silenced_alert_is_not_sent_but_logged_and_listed(settings: Settings, receiver: Receiver) -> None:
    silence = Silence((("measure", "PP01"), ("region", "3301*")), T0 + timedelta(days=7), "张三", "口径调整")
    a, b = missed("PP01", "330102", "2025"), missed("PP01", "330203", "2025")
    route = routing(receiver.url, reminder_hours=720)
    report = run(settings, route, [a, b], silences=[silence])
    assert report.channels["hook"].skipped == 1
    sent = [c["fingerprint"] for d in digests(receiver) for c in d["changes"]]
    assert sent == [b.fingerprint]
    logged = {line["fingerprint"]: line["silenced_by"] for line in log_lines(settings)}
    assert logged == {a.fingerprint: silence.id, b.fingerprint: None}
    # after the silence expires, the still-firing alert is sent (as a reminder)
    later = T0 + timedelta(days=8)
    run(settings, route, [a, b], run_id="pub-2", silences=[silence], now=later)
    last = digests(receiver)[-1]["changes"]
    assert [(c["fingerprint"], c["change"]) for c in last] == [(a.fingerprint, "reminder")]


def test_reminders_on_the_configured_interval_only(settings: Settings, receiver: Receiver) -> None:
    route = routing(receiver.url, reminder_hours=24)
    a = missed("PP01", "330102", "2025")
    run(settings, route, [a])
    assert run(settings, route, [a], now=T0 + timedelta(hours=23)).changes == 0
    assert run(settings, route, [a], now=T0 + timedelta(hours=25)).changes == 1
    assert run(settings, route, [a], now=T0 + timedelta(hours=26)).changes == 0
    assert [c["change"] for d in digests(receiver) for c in d["changes"]] == ["firing", "reminder"]


def test_restart_between_evaluation_and_delivery_neither_repeats_nor_loses(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = routing(receiver.url)
    a, b = missed("PP01", "330102", "2025"), missed("PP01", "330105", "2025")
    run(settings, route, [a, b], run_id="pub-1")
    real = engine._deliver

    def crash(*args, **kwargs):
        raise SystemExit("killed after the state changes were recorded")

    monkeypatch.setattr(engine, "_deliver", crash)
    with pytest.raises(SystemExit):
        run(settings, route, [b], run_id="pub-2")  # a resolves; the process dies before sending
    monkeypatch.setattr(engine, "_deliver", real)
    # the pipeline restarts: the same publication again, then the next one
    assert run(settings, route, [b], run_id="pub-2").changes == 0
    run(settings, route, [b], run_id="pub-3")
    sent = [(c["fingerprint"], c["change"]) for d in digests(receiver) for c in d["changes"]]
    assert sent == [(a.fingerprint, "firing"), (b.fingerprint, "firing"), (a.fingerprint, "resolved")]
    assert [(x["fingerprint"], x["change"]) for x in log_lines(settings)] == sent


def test_a_failed_channel_keeps_its_changes_for_the_next_delivery(
    settings: Settings, receiver: Receiver
) -> None:
    route = routing(receiver.url)
    receiver.fail_next = 10  # 503s: transient, retried, then left pending
    first = run(settings, route, [missed("PP01", "330102", "2025")], retries=2, backoff_seconds=0.01)
    assert not first.ok and first.channels["hook"].failed == 1 and first.channels["jsonl"].sent == 1
    receiver.fail_next = 0
    second = run(settings, route, [missed("PP01", "330102", "2025")], retries=2, backoff_seconds=0.01)
    assert second.ok and second.changes == 0 and second.channels["hook"].sent == 1
    assert len(log_lines(settings)) == 1


def test_settling_window_holds_completeness_failures_until_it_closes(
    settings: Settings, receiver: Receiver
) -> None:
    route = routing(receiver.url, settling_minutes=30, settling_checks=["*complete*", "*has every*"])
    complete = quality("marts.dim_region · dim_region has every reference region")
    other = quality("raw.submissions · value is a number")
    # a submission wave: files arrive (their receipts open the window), the gate runs half-loaded
    from alerts.receipts import receipt

    def arrive(name: str, now: datetime) -> None:
        load = {"original_name": name, "department": "elderly_care", "status": "loaded"}
        deliver_alerts(
            settings, routing=route, silences=[], observations={}, receipts=[receipt(load)], now=now
        )

    arrive("a.csv", T0)
    gate = Observation("gate-1", [complete, other])
    report = run(settings, route, gate=gate, now=T0 + timedelta(minutes=5))
    assert report.held == 1
    fired = [
        c["fingerprint"] for d in digests(receiver) for c in d["changes"] if c["kind"] == "quality_check"
    ]
    assert fired == [other.fingerprint]  # only the non-completeness failure
    # the data became complete before the window closed: nothing is ever sent for it
    ok_gate = Observation("gate-2", [other])
    run(settings, route, gate=ok_gate, now=T0 + timedelta(minutes=20))
    run(settings, route, gate=ok_gate, now=T0 + timedelta(minutes=40))
    assert complete.fingerprint not in {c["fingerprint"] for d in digests(receiver) for c in d["changes"]}
    # another wave that stays incomplete: the alert goes out once the window has closed
    arrive("b.csv", T0 + timedelta(minutes=60))
    still = Observation("gate-3", [complete, other])
    assert run(settings, route, gate=still, now=T0 + timedelta(minutes=70)).held == 1
    assert run(settings, route, gate=still, now=T0 + timedelta(minutes=89)).held == 1
    closed = run(settings, route, gate=still, now=T0 + timedelta(minutes=91))
    assert closed.held == 0 and closed.changes == 1
    fired = [c["fingerprint"] for d in digests(receiver) for c in d["changes"] if c["change"] == "firing"]
    assert fired.count(complete.fingerprint) == 1


def test_dry_run_records_and_sends_nothing(settings: Settings, receiver: Receiver) -> None:
    route = routing(receiver.url)
    dry = run(settings, route, [missed("PP01", "330102", "2025")], dry_run=True)
    assert dry.changes == 1 and [(c, o) for c, o, _, _ in dry.digests] == [("hook", "social_assistance")]
    assert receiver.requests == [] and log_lines(settings) == []
    real = run(settings, route, [missed("PP01", "330102", "2025")])
    assert real.changes == 1 and len(receiver.requests) == 1


def test_status_lists_firing_alerts_with_age_and_owner(
    settings: Settings, receiver: Receiver, capsys
) -> None:
    run(settings, routing(receiver.url), [missed("PP01", "330102", "2025"), missed("PP02", "330102", "2025")])
    rows = firing(settings, now=T0 + timedelta(days=2, hours=3))
    assert {(r["owner"], r["age"]) for r in rows} == {
        ("social_assistance", timedelta(days=2, hours=3)),
        ("child_welfare", timedelta(days=2, hours=3)),
    }
    from scorecard.cli import main

    assert main(["alerts", "status"]) == 0
    out = capsys.readouterr().out
    assert "2 firing alerts" in out and "social_assistance" in out and "child_welfare" in out


def test_routing_and_silence_files_errors_name_the_file_and_entry(tmp_path: Path) -> None:
    bad = tmp_path / "routing.yml"
    bad.write_text("channels:\n  x: {type: pager}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"routing.yml: channel 'x' has type 'pager'"):
        load_routing(bad)
    bad.write_text("owners:\n  elderly_care: {channels: [nowhere]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"owner 'elderly_care' names unknown channels \['nowhere'\]"):
        load_routing(bad)
    silences = tmp_path / "silences.yml"
    silences.write_text(
        "silences:\n  - matchers: {measure: PP01}\n    expires: soon\n    created_by: a\n    comment: b\n"
    )
    with pytest.raises(
        ConfigError, match=r"silences.yml: silence 1: field 'expires' is not an ISO date-time"
    ):
        load_silences(silences)
    silences.write_text("silences:\n  - matchers: {measure: PP01}\n    expires: 2026-02-01\n")
    with pytest.raises(ConfigError, match=r"silence 1: field 'created_by' is required"):
        load_silences(silences)


def test_the_shipped_routing_file_routes_every_department_and_the_data_team() -> None:
    from scorecard.airflow.assets import DEPARTMENTS

    route = load_routing(env={})
    assert set(DEPARTMENTS) <= set(route.owners) and route.data_team in route.owners
    assert route.owner("no_such_department").channels == route.default_channels == ["feishu_data_team"]
    env = {"SCORECARD_ALERT_WEBHOOK_URL": "http://127.0.0.1:1/x"}
    assert "webhook" in load_routing(env=env).channels_for("elderly_care")
    assert load_silences(env={}) == []


def test_event_alerts_fire_once(settings: Settings, receiver: Receiver) -> None:
    event = Alert("pipeline_failure", "high", "失败", "failed", "event", rule="dag.task:run:1")
    route = routing(receiver.url)
    for _ in range(2):
        deliver_alerts(settings, routing=route, silences=[], observations={}, events=[event], now=T0)
    (digest,) = digests(receiver)
    assert digest["owner"] == "data_team" and len(log_lines(settings)) == 1


def test_routing_from_dict_defaults() -> None:
    route = routing_from_dict({})
    assert route.top_items == 10 and route.reminder_hours == 168 and route.settling_minutes == 30


def test_the_report_lists_active_silences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reports.html import section_silences

    path = tmp_path / "silences.yml"
    path.write_text(
        "silences:\n"
        "  - matchers: {kind: target_missed, region: '3301*'}\n"
        "    expires: 2026-03-31T00:00:00+08:00\n    created_by: 张三\n    comment: 口径调整中\n"
        "  - matchers: {measure: PP02}\n    expires: 2026-01-01T00:00:00+08:00\n"
        "    created_by: 李四\n    comment: 已过期\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SCORECARD_ALERT_SILENCES", str(path))
    html = section_silences(now=T0)
    assert "kind=target_missed, region=3301*" in html and "张三" in html and "口径调整中" in html
    assert "2026-03-31T00:00:00+08:00" in html
    assert "李四" not in html  # expired
    monkeypatch.setenv("SCORECARD_ALERT_SILENCES", str(tmp_path / "none.yml"))
    assert "No active silences" in section_silences(now=T0)


def test_cli_dry_run_prints_what_would_go_to_whom(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from alerts.receipts import receipt
    from scorecard.cli import main

    monkeypatch.setenv("SCORECARD_ALERT_WEBHOOK_URL", receiver.url)
    load = {
        "original_name": "a.xlsx",
        "department": "elderly_care",
        "status": "rejected",
        "message": "空文件 empty",
    }
    report = deliver_alerts(settings, observations={}, receipts=[receipt(load)], dry_run=True)
    assert [(c, o) for c, o, _, _ in report.digests] == [("webhook", "elderly_care")]
    assert main(["alerts", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would send" in out and receiver.requests == []
    assert not (settings.alerts_dir / "alerts.jsonl").exists()


_KILLED_CHILD = """
import os, signal, sys
from datetime import datetime
from tests.alerts.conftest import missed, publication, routing
from alerts import engine

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # after the evaluation committed, before any send

engine._deliver = die
obs = {"publication": publication("pub-2", [missed("PP01", "330105", "2025")])}
engine.deliver_alerts(routing=routing(sys.argv[1]), silences=[], observations=obs,
                      now=datetime.fromisoformat(sys.argv[2]))
"""


def test_a_killed_process_between_publications_loses_and_repeats_nothing(
    settings: Settings, receiver: Receiver
) -> None:
    import signal
    import subprocess
    import sys

    from scorecard.core.settings import REPO_ROOT

    route = routing(receiver.url)
    a, b = missed("PP01", "330102", "2025"), missed("PP01", "330105", "2025")
    run(settings, route, [a, b], run_id="pub-1")
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, receiver.url, (T0 + timedelta(hours=1)).isoformat()],
        cwd=REPO_ROOT,
        env=settings.subprocess_env(),
        capture_output=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    # the restarted pipeline: the same publication again (nothing new), then the next one
    assert run(settings, route, [b], run_id="pub-2", now=T0 + timedelta(hours=2)).changes == 0
    run(settings, route, [b], run_id="pub-3", now=T0 + timedelta(hours=3))
    sent = [(c["fingerprint"], c["change"]) for d in digests(receiver) for c in d["changes"]]
    assert sent == [(a.fingerprint, "firing"), (b.fingerprint, "firing"), (a.fingerprint, "resolved")]
    assert [(x["fingerprint"], x["change"]) for x in log_lines(settings)] == sent
