"""``scorecard alerts [status] [--dry-run]``: deliver alert state changes, show what would be sent
to whom, or list the firing alerts with their age and owner."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("deliver", "status"),
        default="deliver",
        help="deliver (default): evaluate and send the state changes; status: the firing alerts",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be sent to whom; send nothing"
    )


def _age(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d{rest // 3600:02d}h" if days else f"{rest // 3600}h{rest % 3600 // 60:02d}m"


def print_report(report, *, dry_run: bool = False, detail: bool = True) -> None:
    verb = "would send 将发送" if dry_run else "sent 已发送"
    print(f"{report.changes} state changes 条状态变化; {report.held} held by the settling window 静默期暂缓")
    for name, counts in report.channels.items():
        print(
            f"  {name}: {verb} {counts.sent} changes in {counts.messages} messages, "
            f"skipped {counts.skipped}, failed {counts.failed}"
        )
    for channel, owner, parts, digest in report.digests:
        print(
            f"\n--- {channel} -> {owner} ({digest.owner.name_zh})" + (f", {parts} messages" if parts else "")
        )
        if detail:
            print(digest.markdown)
    for error in report.errors[:20]:
        print(f"  ! {error}")


def run(args: argparse.Namespace) -> int:
    from alerts.config import ConfigError
    from alerts.engine import deliver_alerts, firing
    from scorecard.core.settings import get_settings

    settings = get_settings()
    if args.action == "status":
        rows = firing(settings)
        print(f"{len(rows)} firing alerts 条预警未解除")
        print(f"{'owner':<22} {'age':>7}  {'severity':<7} {'kind':<20} message")
        for row in rows:
            alert = row["alert"]
            print(
                f"{row['owner'] or '-':<22} {_age(row['age'].total_seconds()):>7}  {alert.severity:<7} "
                f"{alert.kind:<20} {alert.message_zh} / {alert.message_en}"
            )
        return 0
    try:
        report = deliver_alerts(settings, dry_run=args.dry_run)
    except ConfigError as exc:
        print(f"预警配置错误 alert configuration error: {exc}")
        return 2
    print_report(report, dry_run=args.dry_run)
    return 0 if report.ok else 1
