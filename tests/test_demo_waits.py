"""``scorecard demo`` waits for what it points people at: the report and the workbook of the
release it announces are rendered in a task of their own after publication (``render_release``),
so the manifest alone is not the end of the run. No Airflow here: the waits read publish/."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from reports.release import RENDERED_NAMES
from scorecard.demo import DemoError, wait_for_rendering


def release(publish: Path, run_id: str, *, rendered: bool) -> Path:
    folder = publish / "releases" / run_id
    folder.mkdir(parents=True)
    if rendered:
        for name in RENDERED_NAMES:
            (folder / name).write_text(run_id, encoding="utf-8")
            link = publish / name
            if link.is_symlink():
                link.unlink()
            os.symlink(Path("releases") / run_id / name, link)
    return folder


def test_the_demo_waits_until_the_announced_release_is_rendered(tmp_path: Path) -> None:
    publish = tmp_path / "publish"
    settings = SimpleNamespace(publish=publish)
    release(publish, "r1", rendered=True)
    release(publish, "r2", rendered=False)  # published, its rendering not done yet

    # the links still show the previous release's report: not the one announced
    with pytest.raises(DemoError, match="r2"):
        wait_for_rendering(settings, {"run_id": "r2"}, timeout=1)

    for name in RENDERED_NAMES:
        (publish / "releases" / "r2" / name).write_text("r2", encoding="utf-8")
        (publish / name).unlink()
        os.symlink(Path("releases") / "r2" / name, publish / name)
    wait_for_rendering(settings, {"run_id": "r2"}, timeout=600)


def test_airflow_is_ready_when_its_task_execution_api_has_answered(tmp_path: Path) -> None:
    """The API server builds the task execution API's routes on the first request into it and
    answers nothing else meanwhile; the demo asks for it as soon as the server answers and calls
    Airflow ready only after it did, so the first task start after the drop does not wait."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from scorecard.demo import Standalone

    answered = threading.Event()
    asked: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if self.path == "/execution/health":
                answered.wait(timeout=60)  # the routes being built
                body = b'{"status": "healthy"}'
            else:
                status = {"status": "healthy"}
                body = json.dumps({c: status for c in ("metadatabase", "scheduler", "triggerer")}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    airflow = Standalone({}, tmp_path, server.server_address[1])
    airflow.proc = SimpleNamespace(poll=lambda: None)  # type: ignore[assignment]
    waited: list[float] = []
    waiting = threading.Thread(target=lambda: waited.append(airflow.wait_healthy(timeout=120)))
    try:
        waiting.start()
        deadline = time.monotonic() + 60
        while "/execution/health" not in asked:
            assert time.monotonic() < deadline, asked
            time.sleep(0.05)
        waiting.join(timeout=2)
        assert waiting.is_alive() and not waited  # components healthy, the execution API not yet
        answered.set()
        waiting.join(timeout=60)
        assert waited and not waiting.is_alive()
    finally:
        answered.set()
        server.shutdown()
