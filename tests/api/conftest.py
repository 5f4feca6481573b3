"""The submission API's tests run the real server (``scorecard serve --port 0``) in a subprocess on
loopback, with its own data directory; they wait on its "listening on" line and on /v1/health with
generous deadlines, and never time anything."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from scorecard.api.audit import audit_path, read_lines
from scorecard.api.tokens import TokenStore
from scorecard.core.settings import REPO_ROOT

STARTUP_DEADLINE_SECONDS = 120  # a generous bound on a loaded 2-core machine, not a figure


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A running ``scorecard serve`` and the data directory it serves."""

    url: str
    home: Path
    process: subprocess.Popen[str]
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def token(self, holder: str) -> str:
        """A token for a department (or ADMIN), created once per server."""
        if holder not in self.tokens:
            self.tokens[holder] = TokenStore(self.home).create(holder)[1]
        return self.tokens[holder]

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> Response:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        try:
            sent = dict(headers or {})
            if token is not None:
                sent["Authorization"] = f"Bearer {token}"
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            connection.close()

    def submit_file(
        self, name: str, content: bytes, *, token: str | None, key: str | None = None, query: str = ""
    ) -> Response:
        body, content_type = multipart(name, content)
        headers = {"Content-Type": content_type}
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.request("POST", "/v1/submissions" + query, body=body, headers=headers, token=token)

    def audit(self) -> list[dict[str, Any]]:
        return read_lines(audit_path(self.home))

    def stored(self) -> list[Path]:
        """Everything a request could have stored: files in the inbox (hidden ones too), the
        processing folder, submission records and idempotency answers."""
        found: list[Path] = []
        for folder in (
            self.home / "inbox",
            self.home / "processing",
            self.home / "api" / "submissions",
            self.home / "api" / "idempotency",
        ):
            if folder.exists():
                found.extend(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".lock"))
        return sorted(found)


class RawClient:
    """A hand-driven HTTP/1.1 exchange over a socket: headers, then body pieces when the test says,
    for the clients an ordinary library will not play (a slow sender, one waiting for 100-continue,
    one that keeps sending past a refusal)."""

    def __init__(self, server: Server) -> None:
        import socket

        self.socket = socket.create_connection((server.host, server.port), timeout=120)
        self.buffer = b""

    def send_headers(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        self.socket.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send(self, data: bytes) -> bool:
        """False once the server has closed its side (it refused and stopped reading)."""
        try:
            self.socket.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.socket.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        head, found, rest = self.buffer.partition(marker)
        self.buffer = rest
        return head + found

    def interim(self) -> int:
        """The status of an interim (1xx) answer, e.g. 100 once the server reads the body."""
        return int(self.read_until(b"\r\n\r\n").split(b" ", 2)[1])

    def response(self) -> Response:
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.strip().split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            chunk = self.socket.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Response(int(status_line.split(" ", 2)[1]), headers, body)

    def close(self) -> None:
        self.socket.close()


def multipart(name: str, content: bytes, extra: dict[str, str] | None = None) -> tuple[bytes, str]:
    boundary = f"scorecard-{uuid.uuid4().hex}"
    parts = []
    for field_name, value in (extra or {}).items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"\r\n\r\n{value}\r\n'.encode()
        )
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def start_server(home: Path, **env_overrides: str) -> Server:
    env = dict(os.environ)
    env.update(
        SCORECARD_HOME=str(home),
        SCORECARD_AS_OF=os.environ.get("SCORECARD_AS_OF", "2026-01-15"),
        PYTHONUNBUFFERED="1",
        **env_overrides,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "scorecard.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the socket is bound (or the process died)
    match = re.search(r"listening on (http://\S+)", line)
    if match is None:
        process.kill()
        raise AssertionError(f"scorecard serve did not start: {line}{process.stdout.read()}")
    server = Server(match.group(1), home, process, env)
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while True:
        try:
            if server.request("GET", "/v1/health").status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise AssertionError("scorecard serve never answered /v1/health")
        time.sleep(0.2)


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample submissions (``scorecard generate``), written once per test session."""
    from datetime import date

    from samples.generate import generate
    from scorecard.core.settings import Settings

    root = tmp_path_factory.mktemp("generated")
    generate(root / "set", settings=Settings(home=root / "home", as_of=date(2026, 1, 15)))
    return root / "set"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module, on a data directory of its own (tests compare what a request
    adds to the audit log and the stores, so they do not depend on each other's order)."""
    running = start_server(tmp_path_factory.mktemp("api") / "home")
    try:
        yield running
    finally:
        stop_server(running)


SAMPLE_CSV = b"region_code,measure_code,period,value\n330100,EC05,2025,52.4\n"
