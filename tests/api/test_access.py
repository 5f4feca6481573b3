"""Who may do what, against the real server on loopback: refused requests (no token, a malformed,
wrong, revoked token; another department; an admin submitting) get 401/403 and leave nothing but
their audit line; a token reads only its own department's submissions; an admin reads all."""

from __future__ import annotations

import pytest

from scorecard.api.tokens import ADMIN, TokenStore
from tests.api.conftest import SAMPLE_CSV, Server, multipart


def _refused_without_trace(server: Server, send, status: int, outcome: str) -> dict:
    stored_before, audit_before = server.stored(), server.audit()
    answer = send()
    assert answer.status == status, answer.body
    assert answer.json()["error"] == outcome
    assert answer.json()["message_zh"] and answer.json()["message_en"]
    assert server.stored() == stored_before  # nothing in the inbox, no record, no idempotency answer
    new_lines = server.audit()[len(audit_before) :]
    assert len(new_lines) == 1
    assert (new_lines[0]["status"], new_lines[0]["outcome"]) == (status, outcome)
    assert "body" not in new_lines[0] and SAMPLE_CSV.decode() not in str(new_lines[0])
    return new_lines[0]


def test_no_token_is_refused(server: Server) -> None:
    line = _refused_without_trace(
        server, lambda: server.submit_file("a.csv", SAMPLE_CSV, token=None), 401, "unauthorized"
    )
    assert line["token_id"] is None and line["department"] is None


@pytest.mark.parametrize(
    "presented",
    [
        "not-a-token",
        "scp_000000000000_" + "A" * 43,  # well-formed, unknown id
        "Basic dXNlcjpwYXNz",
    ],
)
def test_malformed_and_unknown_tokens_are_refused(server: Server, presented: str) -> None:
    _refused_without_trace(
        server, lambda: server.submit_file("a.csv", SAMPLE_CSV, token=presented), 401, "unauthorized"
    )


def test_a_wrong_secret_for_a_real_token_id_is_refused(server: Server) -> None:
    real = server.token("elderly_care")
    wrong = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    _refused_without_trace(
        server, lambda: server.submit_file("a.csv", SAMPLE_CSV, token=wrong), 401, "unauthorized"
    )


def test_a_revoked_token_is_refused_and_its_rotation_works(server: Server) -> None:
    store = TokenStore(server.home)
    entry, token = store.create("social_affairs")
    replacement_entry, replacement = store.rotate(entry.token_id)  # type: ignore[misc]
    _refused_without_trace(
        server, lambda: server.submit_file("a.csv", SAMPLE_CSV, token=token), 401, "unauthorized"
    )
    accepted = server.submit_file("a.csv", SAMPLE_CSV, token=replacement)
    assert accepted.status == 202
    assert accepted.json()["department"] == "social_affairs" == replacement_entry.holder


def test_a_token_submits_for_its_own_department_only(server: Server) -> None:
    token = server.token("elderly_care")
    # the department is the token's; a request that names another one is refused, not obeyed
    _refused_without_trace(
        server,
        lambda: server.submit_file("a.csv", SAMPLE_CSV, token=token, query="?department=child_welfare"),
        403,
        "forbidden",
    )
    body, content_type = multipart("a.csv", SAMPLE_CSV, extra={"department": "child_welfare"})
    _refused_without_trace(
        server,
        lambda: server.request(
            "POST", "/v1/submissions", body=body, headers={"Content-Type": content_type}, token=token
        ),
        403,
        "forbidden",
    )
    other = b'{"department": "child_welfare", "records": []}'
    _refused_without_trace(
        server,
        lambda: server.request(
            "POST", "/v1/submissions", body=other, headers={"Content-Type": "application/json"}, token=token
        ),
        403,
        "forbidden",
    )
    # an admin token reads, it does not submit
    _refused_without_trace(
        server, lambda: server.submit_file("a.csv", SAMPLE_CSV, token=server.token(ADMIN)), 403, "forbidden"
    )


def test_a_token_reads_only_its_own_departments_submissions(server: Server) -> None:
    sent = server.submit_file("mine.csv", SAMPLE_CSV, token=server.token("place_names"))
    assert sent.status == 202
    submission_id = sent.json()["submission_id"]
    assert sent.json()["department"] == "place_names"
    assert sent.headers["location"] == f"/v1/submissions/{submission_id}"

    own = server.request("GET", f"/v1/submissions/{submission_id}", token=server.token("place_names"))
    assert own.status == 200
    assert own.json()["status"] == "received"  # not loaded yet: no ledger row
    assert own.json()["file_name"] == "mine.csv"

    stored_before = server.stored()
    foreign = server.request("GET", f"/v1/submissions/{submission_id}", token=server.token("resettlement"))
    assert foreign.status == 403
    assert "mine.csv" not in foreign.body.decode() and "place_names" not in foreign.body.decode()
    assert server.stored() == stored_before
    line = server.audit()[-1]
    assert (line["status"], line["outcome"], line["department"]) == (403, "forbidden", "resettlement")

    anonymous = server.request("GET", f"/v1/submissions/{submission_id}")
    assert anonymous.status == 401
    admin = server.request("GET", f"/v1/submissions/{submission_id}", token=server.token(ADMIN))
    assert admin.status == 200 and admin.json()["department"] == "place_names"
    missing = server.request("GET", "/v1/submissions/sub_" + "0" * 32, token=server.token("place_names"))
    assert missing.status == 404


def test_every_request_is_audited_and_the_chain_detects_a_rewrite(server: Server) -> None:
    from scorecard.api.audit import audit_path, verify

    server.request("GET", "/v1/health")
    server.submit_file("b.csv", SAMPLE_CSV, token=server.token("elderly_care"))
    lines = server.audit()
    assert lines[-2]["endpoint"] == "/v1/health" and lines[-2]["status"] == 200
    accepted = lines[-1]
    assert accepted["outcome"] == "accepted" and accepted["department"] == "elderly_care"
    assert accepted["bytes"] > len(SAMPLE_CSV)  # the request's size (multipart around the file)
    assert set(accepted) == {
        *("time", "token_id", "department", "method", "endpoint", "status", "outcome"),
        *("bytes", "declared_bytes", "submission_id", "prev", "hash"),
    }
    path = audit_path(server.home)
    intact, count, _, problem = verify(path)
    assert intact and count == len(lines) and problem is None

    # A copy rewritten as someone with the file would: the chain names the changed line.
    text = path.read_text(encoding="utf-8").splitlines()
    tampered = path.with_name("tampered.log")
    tampered.write_text("\n".join([*text[:-1], text[-1].replace('"accepted"', '"unauthorized"')]) + "\n")
    intact, _, _, problem = verify(tampered)
    assert not intact and problem == f"line {len(text)}: changed after it was written"
    tampered.write_text("\n".join(text[:1] + text[2:]) + "\n")  # a line removed
    intact, _, _, problem = verify(tampered)
    assert not intact and problem is not None and problem.startswith("line 2: does not follow")
