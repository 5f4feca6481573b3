"""``scorecard publish`` (发布): run the quality gate, publish when it passes, then render what
people read from the new release.

Orchestration, not the warehouse: ``warehouse.publish.publish`` takes the gate's result and
renders nothing; ``reports.release.render_release`` reads the released snapshot.
"""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from quality.cli import print_gate
    from quality.gate import run_gate
    from reports.release import render_release
    from scorecard.core.settings import get_settings
    from warehouse.publish import publish, snapshot_path

    settings = get_settings()
    result = publish(settings, gate=run_gate(settings))
    if result.published:
        render_release(settings, result.release)
    if getattr(args, "json", False):
        print(
            json.dumps(
                {
                    "published": result.published,
                    "reason": result.reason,
                    "run_id": result.run_id,
                    "snapshot": str(result.snapshot) if result.snapshot else None,
                    "manifest": str(result.manifest_path) if result.manifest_path else None,
                    "marts": result.marts,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        if result.gate is not None and not result.gate.ok:
            print_gate(result.gate, only_problems=True)
        if result.published:
            print(f"已发布 published {result.run_id}: {len(result.marts)} marts -> {result.snapshot}")
            print(f"Parquet: {settings.publish / 'parquet'}  manifest: {result.manifest_path}")
        else:
            print(f"未发布 not published: {result.reason}")
            print(f"The previous snapshot (if any) is unchanged: {snapshot_path(settings)}")
    return 0 if result.published else 1
