"""``scorecard ingest PATH...``: the loader's command (``ingest.cli``), then every file's receipt
to its department through the alert channels (``alerts``)."""

from __future__ import annotations

import argparse

from ingest.cli import configure  # noqa: F401  (the command's arguments are the loader's)


def run(args: argparse.Namespace) -> int:
    from alerts.engine import deliver_alerts
    from alerts.receipts import receipts
    from ingest import cli
    from ingest.loader import explain_failure

    try:
        results = cli.load(args)
    except Exception as exc:  # the warehouse or the data directory as a whole: a reason, no traceback
        print(f"! {explain_failure(exc)}")
        return 2
    code = cli.finish(results)
    if results:
        report = deliver_alerts(observations={}, receipts=receipts(results))
        print(f"回执 receipts: {len(results)} files, sent on {', '.join(report.channels)}")
        for error in report.errors[:10]:
            print(f"  ! {error}")
    return code
