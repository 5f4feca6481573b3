"""The API's limits against the real server on loopback: oversize, slow and malformed bodies are
refused before anything reaches the inbox; a burst past the rate limit gets 429s and every
accepted submission is loaded; concurrent uploads past the limit get 503; an Idempotency-Key
replay returns the first answer and stores nothing; a file name is data, never a path."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.loader import load_paths
from scorecard.core.settings import Settings
from tests.api.conftest import SAMPLE_CSV, RawClient, Server, multipart, start_server, stop_server

LIMIT = 4096


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a small body limit, a short request time, 3 submissions a minute per token
    and one upload at a time."""
    running = start_server(
        tmp_path_factory.mktemp("limited") / "home",
        SCORECARD_MAX_FILE_BYTES=str(LIMIT),
        SCORECARD_API_REQUEST_TIMEOUT_SECONDS="10",
        SCORECARD_API_SUBMISSIONS_PER_MINUTE="3",
        SCORECARD_API_MAX_CONCURRENT_UPLOADS="1",
    )
    try:
        yield running
    finally:
        stop_server(running)


def _loader_settings(home: Path) -> Settings:
    from datetime import date

    return Settings(home=home, as_of=date(2026, 1, 15))


# --- size ----------------------------------------------------------------------------------------


def test_a_declared_oversize_body_is_refused_unread(limited: Server) -> None:
    token = limited.token("elderly_care")  # (each test uses its own department: its own rate budget)
    before = limited.stored()
    big = b"region_code,measure_code,period,value\n" + b"330100,EC05,2025,1\n" * 400
    answer = limited.submit_file("big.csv", big, token=token)
    assert answer.status == 413 and answer.json()["error"] == "too_large"
    assert str(LIMIT) in answer.json()["message_en"]
    assert limited.stored() == before
    assert limited.audit()[-1]["outcome"] == "too_large"


def test_a_streamed_oversize_body_is_cut_off(limited: Server) -> None:
    """No Content-Length (chunked): the server counts as it reads and stops past the limit."""
    token = limited.token("child_welfare")
    before = limited.stored()
    client = RawClient(limited)
    try:
        client.send_headers(
            "POST",
            "/v1/submissions",
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "text/csv",
                "X-File-Name": "stream.csv",
                "Transfer-Encoding": "chunked",
            },
        )
        piece = b"330100,EC05,2025,1\n" * 50
        for _ in range(20):  # 19 KB in all, past the 4 KB limit; the server may close early
            if not client.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n"):
                break
        client.send(b"0\r\n\r\n")
        answer = client.response()
    finally:
        client.close()
    assert answer.status == 413
    assert limited.stored() == before


# --- time ----------------------------------------------------------------------------------------


def test_a_slow_body_gets_408_and_nothing_is_stored(limited: Server) -> None:
    token = limited.token("social_welfare")
    before = limited.stored()
    body, content_type = multipart("slow.csv", SAMPLE_CSV)
    client = RawClient(limited)
    try:
        client.send_headers(
            "POST",
            "/v1/submissions",
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": content_type,
                "Content-Length": str(len(body)),
                "Expect": "100-continue",
            },
        )
        assert client.interim() == 100  # the server is reading the body now
        client.send(body[:20])  # ...and the rest never comes
        answer = client.response()  # the server's request time (10 s) decides, not this test
    finally:
        client.close()
    assert answer.status == 408 and answer.json()["error"] == "timeout"
    assert limited.stored() == before
    assert limited.audit()[-1]["outcome"] == "timeout"


# --- form ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "name", "body", "status"),
    [
        ("application/json", None, b'{"records": [', 400),
        ("application/json", None, b'"just a string"', 400),
        ("application/json", None, b"\xff\xfe not utf-8", 400),
        ("multipart", "book.xlsx", b"PK\x03\x04 not really a workbook", 400),
        ("multipart", "values.csv", b"", 400),
        ("multipart", "values.csv", b"region_code\0,value\n", 400),
        ("multipart", "values.exe", SAMPLE_CSV, 415),
        ("multipart", "values", SAMPLE_CSV, 415),
        ("text/plain", None, SAMPLE_CSV, 415),
        ("text/csv", None, SAMPLE_CSV, 400),  # a raw body without X-File-Name
        ("multipart/form-data; boundary=nothing-like-it", None, b"--wrong\r\n\r\n", 400),
    ],
)
def test_malformed_bodies_never_reach_the_inbox(
    server: Server, content_type: str, name: str | None, body: bytes, status: int
) -> None:
    token = server.token("community_governance")
    before = server.stored()
    if content_type == "multipart":
        answer = server.submit_file(name or "", body, token=token)
    else:
        answer = server.request(
            "POST", "/v1/submissions", body=body, headers={"Content-Type": content_type}, token=token
        )
    assert answer.status == status, answer.body
    assert answer.json()["message_zh"] and answer.json()["message_en"]
    assert server.stored() == before


def test_a_multipart_body_without_a_file_field(server: Server) -> None:
    token = server.token("community_governance")
    before = server.stored()
    body = b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b--\r\n'
    answer = server.request(
        "POST",
        "/v1/submissions",
        body=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        token=token,
    )
    assert answer.status == 400 and "file" in answer.json()["message_en"]
    assert server.stored() == before


# --- rate and concurrency --------------------------------------------------------------------------


def test_a_burst_past_the_rate_limit_gets_429_and_loses_nothing_accepted(limited: Server) -> None:
    token = limited.token("social_assistance")
    answers = [
        limited.submit_file(f"burst-{i}.csv", SAMPLE_CSV + f"330100,EC05,2024,{i}\n".encode(), token=token)
        for i in range(10)
    ]
    statuses = [a.status for a in answers]
    assert set(statuses) <= {202, 429}
    refused = [a for a in answers if a.status == 429]
    assert refused, statuses  # 10 requests, 3 a minute
    assert all(int(a.headers["retry-after"]) >= 1 for a in refused)
    assert all(a.json()["error"] == "rate_limited" for a in refused)
    accepted = {a.json()["submission_id"]: a.json()["sha256"] for a in answers if a.status == 202}
    assert len(accepted) >= 3
    folder = limited.home / "inbox" / "social_assistance"
    on_disk = {p.name.split(".")[0]: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert on_disk == accepted  # each accepted body is in the inbox, whole; no refused one is
    # ...and each is loaded, by the API's channel, under its submission id
    results = load_paths([folder], _loader_settings(limited.home))
    assert {r.provenance.submission_id for r in results} == set(accepted)
    assert {(r.provenance.channel, r.provenance.authenticated_department) for r in results} == {
        ("api", "social_assistance")
    }


def test_concurrent_uploads_past_the_limit_get_503(limited: Server) -> None:
    first_token, second_token = limited.token("resettlement"), limited.token("place_names")
    body, content_type = multipart("first.csv", SAMPLE_CSV)
    client = RawClient(limited)
    try:
        client.send_headers(
            "POST",
            "/v1/submissions",
            {
                "Authorization": f"Bearer {first_token}",
                "Content-Type": content_type,
                "Content-Length": str(len(body)),
                "Expect": "100-continue",
            },
        )
        assert client.interim() == 100  # the first upload holds the only slot
        busy = limited.submit_file("second.csv", SAMPLE_CSV, token=second_token)
        assert busy.status == 503 and busy.json()["error"] == "busy"
        assert int(busy.headers["retry-after"]) >= 1
        client.send(body)
        first = client.response()
    finally:
        client.close()
    assert first.status == 202
    again = limited.submit_file("second.csv", SAMPLE_CSV, token=second_token)
    assert again.status == 202


# --- idempotency -----------------------------------------------------------------------------------


def test_two_identical_requests_with_one_key_store_one_file(server: Server) -> None:
    token = server.token("charity_social_work")
    before = server.stored()
    first = server.submit_file("charity.csv", SAMPLE_CSV, token=token, key="charity-2025-q4")
    second = server.submit_file("charity.csv", SAMPLE_CSV, token=token, key="charity-2025-q4")
    assert first.status == second.status == 202
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    added = sorted(set(server.stored()) - set(before))
    submission_id = first.json()["submission_id"]
    assert [p.name for p in added if "inbox" in p.parts] == [f"{submission_id}.csv"]
    assert len(added) == 3  # the file, its record, the key's answer
    assert [line["outcome"] for line in server.audit()[-2:]] == ["accepted", "replayed"]

    # the same key with another body is refused, and stores nothing
    stored = server.stored()
    conflict = server.submit_file(
        "charity.csv", SAMPLE_CSV + b"330100,EC05,2024,1\n", token=token, key="charity-2025-q4"
    )
    assert conflict.status == 422
    assert server.stored() == stored


def test_identical_requests_racing_with_one_key_store_one_file(server: Server) -> None:
    token = server.token("charity_social_work")
    before = server.stored()
    answers = []

    def send() -> None:
        answers.append(server.submit_file("race.csv", SAMPLE_CSV + b"#race\n", token=token, key="race-key"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status for a in answers] == [202] * 4
    assert len({a.json()["submission_id"] for a in answers}) == 1
    added = sorted(set(server.stored()) - set(before))
    assert len([p for p in added if "inbox" in p.parts]) == 1


# --- names -----------------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../../../../tmp/scorecard-escape.csv",
    "..\\..\\windows\\escape.csv",
    "/etc/cron.d/escape.csv",
    "$(touch scorecard-pwned).csv",
    "`touch scorecard-pwned`.csv",
    "a;rm -rf ~;b.csv",
    "|cat /etc/passwd|.csv",
    ".hidden.csv",
]


def test_a_file_name_is_data_never_a_path(server: Server) -> None:
    token = server.token("social_affairs")
    outside_before = sorted(p for p in server.home.parent.rglob("*") if "home" not in p.parts)
    sent = {}
    for name in HOSTILE_NAMES:
        answer = server.submit_file(name, SAMPLE_CSV + name.encode() + b"\n", token=token)
        assert answer.status == 202, (name, answer.body)
        assert answer.json()["file_name"] == name  # echoed as data
        sent[answer.json()["submission_id"]] = name
    folder = server.home / "inbox" / "social_affairs"
    names_on_disk = sorted(p.name for p in folder.iterdir() if p.name.split(".")[0] in sent)
    assert names_on_disk == sorted(f"{sid}.csv" for sid in sent)  # ours, whatever was sent
    assert sorted(p for p in server.home.parent.rglob("*") if "home" not in p.parts) == outside_before
    assert not Path("/tmp/scorecard-escape.csv").exists()
    assert not list(Path.cwd().glob("scorecard-pwned*"))
    # the status answer and the ledger keep the name as data; the stored copy is in our folders
    results = load_paths([server.home / "inbox" / "social_affairs"], _loader_settings(server.home))
    by_id = {r.provenance.submission_id: r for r in results}
    for submission_id, name in sent.items():
        result = by_id[submission_id]
        assert result.stored_path is not None
        assert result.stored_path.resolve().is_relative_to(server.home.resolve())
        assert result.file_name == name
        status = server.request("GET", f"/v1/submissions/{submission_id}", token=token).json()
        assert status["file_name"] == name
        assert status["status"] in {"loaded", "loaded_with_rejects", "rejected", "duplicate"}
