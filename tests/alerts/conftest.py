"""Alert lifecycle fixtures: synthetic observations, a local webhook receiver, routing files."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alerts.config import Routing, routing_from_dict
from alerts.model import Alert
from alerts.sources import Observation

# Measures of different departments (dbt seed measures.csv): PP01 social_assistance,
# PP02 child_welfare; counties of Hangzhou and Ningbo.
REGIONS = ("330102", "330105", "330106", "330203", "330205")


def missed(measure: str, region: str, year: str, severity: str = "high") -> Alert:
    return Alert(
        kind="target_missed",
        severity=severity,
        message_zh=f"{region}「{measure}」{year}年未完成年度目标",
        message_en=f"{region}: {measure} missed its {year} target",
        scope="publication",
        measure=measure,
        region=region,
        year=year,
        rule=f"md5-{measure}-{region}-{year}",
    )


def quality(check: str, outcome: str = "fail") -> Alert:
    return Alert(
        kind="quality_check",
        severity="high" if outcome == "fail" else "medium",
        message_zh=f"质量检查未通过：{check}",
        message_en=f"Quality check {outcome}: {check}",
        scope="quality",
        rule=check,
    )


def publication(run_id: str, alerts: list[Alert]) -> Observation:
    return Observation(run_id, alerts)


def routing(url: str | None = None, **settings: Any) -> Routing:
    """Every owner on one webhook (when given), like a central sink."""
    channels = {"hook": {"type": "webhook", "url": url or "", "all_owners": True}}
    return routing_from_dict({"settings": settings, "channels": channels, "owners": {}, "default": {}})


class Receiver:
    """A local HTTP server that records every POST (path, query, headers, JSON body, time)."""

    def __init__(self, answer: Any = None, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = answer if answer is not None else {}
        self.status = status
        self.fail_next = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers["Content-Length"] or 0))
                if outer.fail_next > 0:
                    outer.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                status, answer = outer.respond(self.path, dict(self.headers), body, arrived)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def respond(self, path: str, headers: dict[str, str], body: bytes, arrived: float) -> tuple[int, Any]:
        self.requests.append(
            {"path": path, "headers": headers, "json": json.loads(body or b"null"), "at": arrived}
        )
        return self.status, self.answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()
