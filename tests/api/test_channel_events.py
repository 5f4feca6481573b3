"""The inbox trigger's claim events and the ingest DAG's asset events name the channel a file came
by (file drop or API) and, for the API, the department whose token sent it."""

from __future__ import annotations

from pathlib import Path

from scorecard.airflow.inbox import InboxScanner
from scorecard.api.submissions import accept
from scorecard.core.settings import Settings

CSV = b"region_code,measure_code,period,value\n330100,WS08,2025,3\n"


class _Events:
    """Stands in for Airflow's outlet events: records what the commit announces."""

    def __init__(self) -> None:
        self.added: list[tuple[str, dict]] = []

    def __getitem__(self, alias):
        return self

    def add(self, asset, extra=None) -> None:
        self.added.append((asset.name, dict(extra or {})))


def test_claims_and_asset_events_show_the_channel(settings: Settings, tmp_path: Path) -> None:
    from scorecard.airflow.tasks import commit_claims, parse_claims

    answer, _ = accept(
        settings,
        department="resettlement",
        token_id="0" * 12,
        sent_name="系统报送.csv",
        extension=".csv",
        data=CSV,
        idempotency_key=None,
    )
    submission_id = answer.body["submission_id"]
    (settings.inbox / "resettlement" / "clerk.csv").write_bytes(CSV + b"330100,WS08,2024,2\n")
    # a clerk's file named like a submission id of another department's record: a file drop
    (settings.inbox / "place_names").mkdir()
    (settings.inbox / "place_names" / f"{submission_id}.csv").write_bytes(CSV)

    claims = list(InboxScanner(settings.inbox, settings.processing, min_age_seconds=0).claim_ready())
    payloads = {(c.department, c.original_name): c.payload() for c in claims}
    api = payloads[("resettlement", f"{submission_id}.csv")]
    assert (api["channel"], api["authenticated_department"], api["submission_id"]) == (
        "api",
        "resettlement",
        submission_id,
    )
    for key in (("resettlement", "clerk.csv"), ("place_names", f"{submission_id}.csv")):
        assert (payloads[key]["channel"], payloads[key]["authenticated_department"]) == ("file_drop", None)

    items = [{"path": c.path, "department": c.department, "original_name": c.original_name} for c in claims]
    events = _Events()
    commit_claims([parse_claims(items)], events)
    extras = {(name, extra["original_name"]): extra for name, extra in events.added}
    sent = extras[("submissions_resettlement", "系统报送.csv")]  # the name the system gave
    assert (sent["channel"], sent["authenticated_department"]) == ("api", "resettlement")
    dropped = extras[("submissions_resettlement", "clerk.csv")]
    assert (dropped["channel"], dropped["authenticated_department"]) == ("file_drop", None)
