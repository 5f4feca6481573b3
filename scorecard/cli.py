"""``scorecard``: one command for the whole pipeline, with or without Airflow.

Each subcommand lives in the package that owns its logic; a module named here provides
``configure(parser)`` and ``run(args) -> int``. Those modules keep heavy imports (duckdb,
dbt, Soda, Airflow) inside functions, so building the parser stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

# name -> (module, one-line help). Order is the order of --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("samples.generate", "write realistic sample submissions (生成样例报送数据)"),
    "templates": ("ingest.templates", "write blank submission templates per department (报送模板)"),
    "ingest": ("scorecard.ingest_command", "load submission files into the raw layer (导入报送文件)"),
    "doctor": ("ingest.doctor", "find and repair raw rows that break the raw contracts (体检与修复)"),
    "build": ("warehouse.dbt", "run dbt build and summarise (构建数据仓库)"),
    "dbt-worker": ("warehouse.dbt_worker", "keep dbt warm for the builds (dbt 常驻进程)"),
    "check": ("quality.cli", "run the Soda quality gate (质量检查)"),
    "publish": ("scorecard.publish_command", "publish the marts after a passing check (发布)"),
    "alerts": ("alerts.cli", "deliver alert changes, or list firing ones (预警)"),
    "run": ("scorecard.pipeline", "ingest, build, check, publish and alert in one go (全流程)"),
    "summary": ("reports.summary", "print the indicators and their 2021-2025 targets (指标与目标)"),
    "demo": ("scorecard.demo", "the demo: the pipeline through a real Airflow (演示)"),
    "bi": ("scorecard.bi", "Apache Superset on the published snapshot, with a dashboard (BI 看板)"),
    "serve": ("scorecard.api.serve", "the submission API for departments' systems (报送接口)"),
    "tokens": ("scorecard.api.tokens", "create, list, revoke and rotate API tokens (接口令牌)"),
    "audit": ("scorecard.api.audit", "verify the submission API's audit log (审计日志校验)"),
}


def package_version() -> str:
    try:
        return version("common-prosperity-scorecard")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scorecard",
        description="Common Prosperity Scorecard 共同富裕评价: submissions to published scorecards.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("version", help="print the version (版本)")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part of the pipeline is not installed in this build
            raise
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "version":
        print(package_version())
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
