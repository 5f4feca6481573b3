"""The ledger's channel cannot be faked from the shared folder: a file is "api" only when the API's
record of it (kept outside the inbox) names the same department and the same bytes."""

from __future__ import annotations

import hashlib

from ingest.loader import load_file
from ingest.provenance import record_path, write_record
from scorecard.core.settings import Settings

CSV = b"region_code,measure_code,period,value\n330100,WS08,2025,3\n"
SUBMISSION_ID = "sub_" + "ab" * 16


def _dropped(settings: Settings, name: str, data: bytes = CSV):
    folder = settings.inbox / "resettlement"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return load_file(path, settings=settings)


def _record(settings: Settings, department: str = "resettlement", data: bytes = CSV) -> None:
    write_record(
        settings.home,
        {
            "submission_id": SUBMISSION_ID,
            "department": department,
            "token_id": "0" * 12,
            "sent_name": "from-the-system.csv",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data),
            "received_at": "2026-01-15T00:00:00+00:00",
        },
    )


def test_a_file_named_like_a_submission_without_its_record_is_a_file_drop(settings: Settings) -> None:
    result = _dropped(settings, f"{SUBMISSION_ID}.csv")
    assert (result.provenance.channel, result.provenance.submission_id) == ("file_drop", None)
    assert result.file_name == f"{SUBMISSION_ID}.csv"


def test_other_bytes_or_another_department_than_the_record_are_a_file_drop(settings: Settings) -> None:
    _record(settings, data=CSV + b"330100,WS08,2024,2\n")
    assert _dropped(settings, f"{SUBMISSION_ID}.csv").provenance.channel == "file_drop"
    record_path(settings.home, SUBMISSION_ID).unlink()
    _record(settings, department="place_names")
    assert _dropped(settings, f"{SUBMISSION_ID}.csv", CSV + b"#\n").provenance.channel == "file_drop"


def test_the_record_and_the_same_bytes_make_it_the_apis(settings: Settings) -> None:
    _record(settings)
    result = _dropped(settings, f"{SUBMISSION_ID}.csv")
    assert result.provenance.channel == "api"
    assert result.provenance.authenticated_department == "resettlement"
    assert result.file_name == "from-the-system.csv"  # the name the sender gave, shown in the ledger
