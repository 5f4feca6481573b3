"""``make demo VIA_API=<department>`` (``scorecard demo --via-api``): that department's files go
through the real submission API, the others into the folder as before, and the status answers are
what the demo prints. Airflow is not started here: the files are loaded by the loader directly
(the demo's Airflow path is the one of every dropped file)."""

from __future__ import annotations

import json
import subprocess

import pytest

from ingest.loader import load_paths
from scorecard.api.client import ApiServer
from scorecard.api.tokens import TokenStore
from scorecard.core.settings import REPO_ROOT, Settings
from scorecard.demo import api_status_lines, pending_files, stage_and_drop

DEPARTMENT = "resettlement"


@pytest.mark.slow
def test_one_department_through_the_api_and_its_status_answers(settings: Settings) -> None:
    server = ApiServer(settings.subprocess_env(), settings.home / "api-server.log")
    try:
        url = server.start()
        _, token = TokenStore(settings.home).create(DEPARTMENT)
        dropped = stage_and_drop(settings, 0, (url, DEPARTMENT, token))
        by_api = [d for d in dropped if "submission_id" in d]
        assert by_api and {d["relative"].split("/")[0] for d in by_api} == {DEPARTMENT}
        assert all("submission_id" not in d for d in dropped if not d["relative"].startswith(DEPARTMENT))
        assert sorted(p.name for p in (settings.inbox / DEPARTMENT).iterdir()) == sorted(
            d["inbox_name"] for d in by_api
        )
        assert len(pending_files(settings, dropped)) == len(dropped)  # the API's files count as pending

        before = api_status_lines(url, token, dropped)
        assert [json.loads(line.split(" ", 1)[1])["status"] for line in before] == ["received"] * len(by_api)

        load_paths(settings=settings)
        after = api_status_lines(url, token, dropped)
        answers = [json.loads(line.split(" ", 1)[1]) for line in after]
        assert [line.split(" ", 1)[0] for line in after] == ["200"] * len(by_api)
        assert {a["status"] for a in answers} == {"loaded"}
        assert {a["file_name"] for a in answers} == {d["name"] for d in by_api}
        assert pending_files(settings, dropped) == []
    finally:
        server.stop()


def test_the_make_target_passes_the_flag_only_when_asked() -> None:
    def dry_run(*args: str) -> str:
        return subprocess.run(
            ["make", "-n", "-s", "demo", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout

    assert dry_run().strip().splitlines()[-1].endswith("scorecard demo")
    assert (
        dry_run(f"VIA_API={DEPARTMENT}")
        .strip()
        .splitlines()[-1]
        .endswith(f"scorecard demo --via-api {DEPARTMENT}")
    )
