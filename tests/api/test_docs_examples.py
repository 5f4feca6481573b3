"""docs/submissions.md's API examples run as written against the real server on loopback, and the
committed OpenAPI document is the one the server serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from scorecard.core.settings import REPO_ROOT
from tests.api.conftest import Server

DOC = REPO_ROOT / "docs" / "submissions.md"
BLOCK = re.compile(r"```(bash|json)\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    """(command, documented answer) of each block marked ``<!-- api-example -->``: the bash block
    right after the mark, and the first json block after that."""
    found = []
    for chunk in DOC.read_text(encoding="utf-8").split("<!-- api-example -->")[1:]:
        blocks = BLOCK.findall(chunk)
        assert blocks and blocks[0][0] == "bash", chunk[:200]
        answer = next(text for kind, text in blocks[1:] if kind == "json")
        found.append((blocks[0][1], answer))
    return found


def test_the_doc_has_its_examples() -> None:
    commands = [command for command, _ in examples()]
    assert len(commands) == 5
    assert sum("curl" in command for command in commands) == 5


def test_the_curl_examples_answer_as_documented(server: Server, generated: Path, tmp_path: Path) -> None:
    shutil.copy(generated / "resettlement" / "2025_resettlement_values.csv", tmp_path)
    env = {
        "PATH": "/usr/bin:/bin",
        "SCORECARD_API": server.url,
        "TOKEN": server.token("resettlement"),
        "ADMIN_TOKEN": server.token("*admin"),
    }
    for command, documented in examples():
        completed = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert completed.returncode == 0, completed.stderr
        answer = json.loads(completed.stdout)
        expected = json.loads(documented.replace("…", ""))
        assert set(answer) == set(expected), command
        for key in ("status", "department", "file_name", "sha256", "size_bytes", "error"):
            if expected.get(key):
                assert answer[key] == expected[key], (command, key)
        if "submission_id" in answer and "SUBMISSION_ID" not in env:
            env["SUBMISSION_ID"] = answer["submission_id"]  # the later examples ask about it


def test_the_committed_openapi_document_is_the_served_one(server: Server) -> None:
    served = server.request("GET", "/v1/openapi.json")
    assert served.status == 200
    committed = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert served.json() == committed, "regenerate: scorecard serve --openapi > docs/openapi.json"
    assert set(committed["paths"]) == {"/v1/health", "/v1/submissions", "/v1/submissions/{submission_id}"}
