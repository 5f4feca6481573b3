"""Chat group robots (DingTalk, WeCom, Feishu) against a local server that checks what the real
ones check: the documented JSON, the signature (DingTalk, Feishu), the size limit, and at most
20 messages a minute per robot (the 21st is answered with the robot's rate-limit code, as the
real robots do before muting the robot for ten minutes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
from dataclasses import replace
from typing import Any

import pytest

from alerts.channels import ROBOTS, build_channel
from alerts.config import load_routing, routing_from_dict
from alerts.engine import deliver_alerts
from scorecard.core.settings import Settings
from tests.alerts.conftest import Receiver, missed, publication

# Made per run: a literal would be a committed secret to the repository scan (test_security.py).
DING_SECRET = "SEC" + secrets.token_hex(16)
FEISHU_SECRET = secrets.token_hex(16)
LIMIT = 20  # messages per window per robot, as the real robots allow
WINDOW = 3.0  # seconds; the real robots' window is 60 s (the default, test_robots_default_to_20_a_minute)
SIZE = {"dingtalk": 20000, "wecom": 4096, "feishu": 20000}


class RobotStub(Receiver):
    """/dingtalk?access_token=..., /wecom?key=..., /feishu: validates and answers like the robots."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.texts: dict[str, list[str]] = {"dingtalk": [], "wecom": [], "feishu": []}
        self.times: dict[str, list[float]] = {"dingtalk": [], "wecom": [], "feishu": []}
        super().__init__()

    def respond(self, path: str, headers: dict[str, str], body: bytes, arrived: float) -> tuple[int, Any]:
        import json

        parts = urllib.parse.urlsplit(path)
        robot = parts.path.strip("/")
        query = dict(urllib.parse.parse_qsl(parts.query))
        data = json.loads(body)
        recent = [t for t in self.times[robot] if t > arrived - WINDOW]
        self.times[robot].append(arrived)
        if len(recent) >= LIMIT:
            self.problems.append(f"{robot}: {len(recent) + 1} messages within {WINDOW} s")
            code = {"dingtalk": {"errcode": 130101}, "wecom": {"errcode": 45009}, "feishu": {"code": 9499}}
            return 200, code[robot]
        if robot == "dingtalk":
            ts = int(query.get("timestamp", "0"))
            want = base64.b64encode(
                hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
            ).decode()
            if (
                query.get("access_token") != "T0K"
                or query.get("sign") != want
                or abs(ts / 1000 - arrived) > 3600
            ):
                self.problems.append(f"dingtalk: bad signature {query}")
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
            if data.get("msgtype") != "markdown" or not data["markdown"].get("title"):
                self.problems.append(f"dingtalk: bad shape {list(data)}")
                return 200, {"errcode": 40035}
            text = data["markdown"]["text"]
        elif robot == "wecom":
            if query.get("key") != "K3Y" or data.get("msgtype") != "markdown":
                self.problems.append(f"wecom: bad shape {list(data)}")
                return 200, {"errcode": 40008}
            text = data["markdown"]["content"]
        else:
            ts = int(data.get("timestamp", "0"))
            want = base64.b64encode(
                hmac.new(f"{ts}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()
            ).decode()
            if data.get("sign") != want or abs(ts - arrived) > 3600:
                self.problems.append("feishu: bad signature")
                return 200, {"code": 19021, "msg": "sign match fail"}
            if data.get("msg_type") != "interactive":
                self.problems.append(f"feishu: bad shape {list(data)}")
                return 200, {"code": 9499}
            (element,) = data["card"]["elements"]
            text = element["content"]
        if len(text.encode("utf-8")) > SIZE[robot]:
            self.problems.append(f"{robot}: {len(text.encode())} bytes")
            return 200, {"errcode": 40058}
        self.texts[robot].append(text)
        return 200, {"errcode": 0, "errmsg": "ok"} if robot != "feishu" else {"code": 0, "msg": "success"}


@pytest.fixture
def robots():
    stub = RobotStub()
    yield stub
    stub.close()


def test_500_changes_reach_three_robots_signed_within_the_rate_limit_nothing_lost(
    settings: Settings, robots: RobotStub
) -> None:
    base = f"http://127.0.0.1:{robots.server.server_port}"
    limit = {"rate_limit": LIMIT, "rate_window_seconds": WINDOW}
    route = routing_from_dict(
        {
            "settings": {"top_items": 0},  # list every change: the digest must be split
            "channels": {
                "ding": {
                    "type": "dingtalk",
                    "url": f"{base}/dingtalk?access_token=T0K",
                    "secret": DING_SECRET,
                    **limit,
                },
                "wecom": {"type": "wecom", "url": f"{base}/wecom?key=K3Y", **limit},
                "feishu": {"type": "feishu", "url": f"{base}/feishu", "secret": FEISHU_SECRET, **limit},
            },
            "owners": {"social_assistance": {"channels": ["ding", "wecom", "feishu"]}},
        }
    )
    # messages as long as fct_alerts' (region, measure, actual, target, attainment; zh and en)
    alerts = [
        replace(
            missed("PP01", f"33{i:04d}", "2025"),
            message_zh=f"第{i}县「最低生活保障年标准」2025年未完成年度目标：实际 12,{i:03d} 元/人·年，"
            f"目标 13,000 元/人·年，完成率 93.{i % 10}%。",
            message_en=f"County {i}: Minimum living allowance annual standard missed its 2025 target: "
            f"actual 12,{i:03d}, target 13,000 (yuan_per_year), attainment 93.{i % 10}%.",
        )
        for i in range(500)
    ]
    started = time.time()
    report = deliver_alerts(
        settings, routing=route, silences=[], observations={"publication": publication("pub-1", alerts)}
    )
    assert robots.problems == []
    assert report.ok, report.errors
    for name, robot in (("ding", "dingtalk"), ("wecom", "wecom"), ("feishu", "feishu")):
        assert report.channels[name].sent == 500
        joined = "\n".join(robots.texts[robot])
        missing = [a.fingerprint[:8] for a in alerts if f"`{a.fingerprint[:8]}`" not in joined]
        assert missing == [], (robot, len(missing))
        times = robots.times[robot]
        assert len(times) == report.channels[name].messages
        assert all(b - a >= WINDOW for a, b in zip(times, times[LIMIT:], strict=False)), robot
    # WeCom's 4,096 bytes need more than 20 messages for 500 changes: the limiter had to wait
    assert report.channels["wecom"].messages > LIMIT
    assert robots.times["wecom"][LIMIT] - started >= WINDOW


def test_robots_default_to_20_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped routing file's robots, and a robot channel with no rate options, are limited to
    20 messages a minute, the real robots' limit (the delivery test above runs a shorter window)."""
    monkeypatch.delenv("SCORECARD_ALERT_ROUTING", raising=False)
    for name in ("DINGTALK", "WECOM", "FEISHU", "FEISHU_DATA_TEAM"):
        monkeypatch.setenv(f"SCORECARD_{name}_URL", f"http://127.0.0.1:9/{name.lower()}")
    shipped = load_routing()
    robots = [spec for spec in shipped.channels.values() if spec.type in ROBOTS]
    assert {spec.type for spec in robots} == set(ROBOTS)
    bare = routing_from_dict(
        {"settings": {}, "channels": {"r": {"type": "wecom", "url": "http://127.0.0.1:9/r"}}, "owners": {}}
    )
    for spec in [*robots, *bare.channels.values()]:
        channel = build_channel(spec)
        assert channel is not None, spec.name
        assert channel.rate == (20, 60.0), spec.name
