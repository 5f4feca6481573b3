"""Every file gets a receipt (issue #24, point 2): the department (the data team for an unknown
folder) is told per file what was loaded and what was refused and why, through the channels."""

from __future__ import annotations

import json

import pytest

from scorecard.cli import main
from scorecard.core.settings import Settings
from tests.alerts.conftest import Receiver


def test_scorecard_ingest_sends_a_receipt_per_file_to_its_department_or_the_data_team(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("SCORECARD_ALERT_WEBHOOK_URL", receiver.url)
    (settings.inbox / "elderly_care").mkdir(parents=True)
    (settings.inbox / "elderly_care" / "empty.csv").write_bytes(b"")
    (settings.inbox / "eldery_care").mkdir()  # a misspelled department folder
    (settings.inbox / "eldery_care" / "values.csv").write_text(
        "region_code,measure_code,period,value\n330102,EC01,2025,5\n", encoding="utf-8"
    )
    assert main(["ingest"]) == 1
    capsys.readouterr()
    by_owner = {r["json"]["digest"]["owner"]: r["json"]["digest"] for r in receiver.requests}
    assert set(by_owner) == {"elderly_care", "data_team"}  # one message each
    (empty,) = by_owner["elderly_care"]["changes"]
    assert (
        empty["change"] == "receipt" and "empty.csv" in empty["message_en"] and "empty" in empty["message_en"]
    )
    assert "被拒收" in empty["message_zh"]
    (unknown,) = by_owner["data_team"]["changes"]
    assert "values.csv" in unknown["message_en"] and "eldery_care" in unknown["message_en"]
    assert "文件回执" in by_owner["data_team"]["markdown"]
    lines = [
        json.loads(x) for x in (settings.alerts_dir / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert sorted(x["owner"] for x in lines) == ["data_team", "elderly_care"]
    # the same files are not receipted twice when nothing new arrives
    assert main(["ingest"]) == 0
    assert len(receiver.requests) == 2


def test_a_loaded_file_gets_a_receipt_too(settings: Settings) -> None:
    from alerts.receipts import receipt, refused

    ok = {"original_name": "a.xlsx", "department": "elderly_care", "status": "loaded", "rows_loaded": 90}
    partly = {
        **ok,
        "original_name": "b.xlsx",
        "status": "loaded_with_rejects",
        "rows_rejected": 3,
        "reason_zh": "第 4 行：数值不是数字",
        "reason_en": "row 4: value is not a number",
    }
    assert (
        receipt(ok).owner == "elderly_care"
        and "90" in receipt(ok).message_zh
        and receipt(ok).severity == "info"
    )
    assert "3" in receipt(partly).message_en and "not a number" in receipt(partly).message_en
    assert refused([ok, partly, {**ok, "status": "rejected"}]) == ["a.xlsx"]


def test_an_undecodable_file_name_still_gets_a_receipt() -> None:
    from alerts.receipts import receipt

    sent = receipt({"original_name": "\udcb1\udca8.csv", "department": "elderly_care", "status": "loaded"})
    assert "\\udcb1" in sent.message_en and sent.message_zh.encode("utf-8")
