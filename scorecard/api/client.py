"""A small client of the submission API, and the server as a child process: what ``scorecard demo
--via-api <department>`` uses to send one department's files through the API instead of the
folder and to print their status answers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from scorecard.core.settings import REPO_ROOT


class ApiServer:
    """``scorecard serve --port 0`` in its own session, on loopback; ``url`` once it listens."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 120) -> str:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "scorecard.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
            cwd=REPO_ROOT,
            env={**self.env, "PYTHONUNBUFFERED": "1", "SCORECARD_API_LOG_LEVEL": "warning"},
            stdout=subprocess.PIPE,
            stderr=self.log_path.open("a"),
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        match = re.search(r"listening on (http://\S+)", self.proc.stdout.readline())
        if match is None:
            raise RuntimeError(f"scorecard serve did not start (log: {self.log_path})")
        self.url = match.group(1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if request(self.url, "GET", "/v1/health")[0] == 200:
                    return self.url
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"scorecard serve never answered /v1/health (log: {self.log_path})")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def request(
    url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request; (status, JSON answer) also for 4xx/5xx answers."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    call = urllib.request.Request(url + path, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(call, timeout=120) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def submit_file(url: str, token: str, path: Path, *, idempotency_key: str | None = None) -> tuple[int, dict]:
    """POST one file as multipart (field ``file``, the file's own name)."""
    boundary = f"scorecard-{uuid.uuid4().hex}"
    quoted = path.name.replace("\\", "\\\\").replace('"', '\\"')
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return request(url, "POST", "/v1/submissions", token=token, body=body, headers=headers)
