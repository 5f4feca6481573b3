"""A submission by the API is loaded and published like a dropped file: one department's files go
through the real server on loopback, the others are dropped in the inbox; the inbox trigger's
claim path takes them all, the pipeline loads, builds, checks and publishes, and the ledger, the
manifest, the report and the status answer show each file's channel and authenticated department."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from ingest.loader import stage_file
from scorecard.airflow.inbox import InboxScanner
from scorecard.core.settings import Settings
from scorecard.pipeline import run_pipeline
from tests.api.conftest import start_server, stop_server

pytestmark = pytest.mark.slow

BY_API = "resettlement"


def test_an_api_submission_is_loaded_and_published_like_a_dropped_file(
    settings: Settings, generated: Path, tmp_path: Path
) -> None:
    server = start_server(settings.home, SCORECARD_API_SUBMISSIONS_PER_MINUTE="1000")
    try:
        token = server.token(BY_API)
        sent: dict[str, Path] = {}
        for path in sorted((generated / BY_API).iterdir()):
            answer = server.submit_file(path.name, path.read_bytes(), token=token, key=f"e2e-{path.name}")
            assert answer.status == 202, answer.body
            sent[answer.json()["submission_id"]] = path
        for department in sorted(p for p in generated.iterdir() if p.is_dir() and p.name != BY_API):
            shutil.copytree(department, settings.inbox / department.name)

        # The inbox trigger's claim (min age 0: the test does not wait for files to settle)
        claims = list(InboxScanner(settings.inbox, settings.processing, min_age_seconds=0).claim_ready())
        by_api = [c for c in claims if c.department == BY_API]
        assert len(by_api) == len(sent)
        result = run_pipeline([settings.processing], settings)
        assert result.ok and result.published, [s.line() for s in result.steps]

        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            ledger = con.execute(
                "select submission_id, file_name, department_code, channel, authenticated_department,"
                " status, rows_loaded, rows_rejected from raw.file_ledger"
            ).fetchall()
        api_rows = {row[0]: row for row in ledger if row[3] == "api"}
        assert set(api_rows) == set(sent)
        for submission_id, path in sent.items():
            _, file_name, department, _, authenticated, status, loaded, rejected = api_rows[submission_id]
            assert (file_name, department, authenticated) == (path.name, BY_API, BY_API)
            # the same rows as the same file dropped in the folder would give
            dropped = stage_file(path, tmp_path / "stage" / path.name, department=BY_API, settings=settings)
            assert (status, loaded, rejected) == (dropped.status, dropped.rows_loaded, dropped.rows_rejected)
        others = [row for row in ledger if row[3] != "api"]
        assert others and {(row[3], row[4], row[0]) for row in others} == {("file_drop", None, None)}

        manifest = json.loads((settings.publish / "manifest.json").read_text(encoding="utf-8"))
        channels = {(f["channel"], f["authenticated_department"]) for f in manifest["source_files"]}
        assert channels == {("api", BY_API), ("file_drop", None)}
        report = (settings.publish / "report.html").read_text(encoding="utf-8")
        assert f'接口 <span class="en">API</span> · <code>{BY_API}</code>' in report
        assert '文件投递 <span class="en">file drop</span>' in report

        assert result.publication is not None
        for submission_id, path in sent.items():
            answer = server.request("GET", f"/v1/submissions/{submission_id}", token=token)
            assert answer.status == 200
            status = answer.json()
            assert status["status"] in {"loaded", "loaded_with_rejects"}
            assert status["file_name"] == path.name and status["channel"] == "api"
            assert status["rows_loaded"] + status["rows_rejected"] == status["rows_input"]
            assert len(status["reasons"]) == min(status["reasons_total"], 100)
            assert status["publication"]["run_id"] == result.publication.run_id
    finally:
        stop_server(server)
