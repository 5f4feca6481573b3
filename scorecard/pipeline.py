"""``scorecard run PATH...`` (全流程): ingest, build, check, publish and alert, without Airflow.

For development and for users without a scheduler. The steps are the same library calls the
Airflow tasks make, in the same order, in one process (dbt runs as a child process, see
``warehouse.dbt``):

1. ingest  ``ingest.loader.load_paths`` (no PATH: the inbox)
2. build   ``warehouse.dbt.dbt_build``; a failed build stops the run (the gate would be checking
           a half-built warehouse)
3. check   ``quality.gate.run_gate``
4. publish ``warehouse.publish.publish`` with the gate's result when it passed, then
           ``reports.release.render_release`` (the report and workbook from the new release);
           otherwise nothing is published and the previous snapshot stays
5. alerts  ``alerts.engine.deliver_alerts``: always after the check, so quality
           failures go out even when nothing was published; the files' receipts (sent right
           after the ingest) and the state changes of the alerts, one digest per owner and channel

The run fails (exit 1) when a file failed to load, the build failed, the gate failed, publication
failed or an alert could not be delivered.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scorecard.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from alerts.engine import DeliveryReport
    from quality.gate import GateResult
    from warehouse.publish import PublishResult


@dataclass
class StepResult:
    name: str
    ok: bool
    summary: str
    seconds: float = 0.0
    skipped: bool = False
    # ran, but something in it needs a person's attention (e.g. a refused file): not green
    warning: bool = False

    @property
    def mark(self) -> str:
        if not self.ok:
            return "-- " if self.skipped else "ERR"
        return "WRN" if self.warning else "ok "

    def line(self) -> str:
        return f"[{self.mark}] {self.name:<8} {self.seconds:>6.1f}s  {self.summary}"


@dataclass
class PipelineResult:
    """Every step's outcome; ``ok`` when all steps that ran succeeded and none was skipped for a failure."""

    steps: list[StepResult] = field(default_factory=list)
    loads: list[Any] = field(default_factory=list)
    gate: GateResult | None = None
    publication: PublishResult | None = None
    delivery: DeliveryReport | None = None

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def published(self) -> bool:
        return bool(self.publication and self.publication.published)

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.name == name), None)


def _quiet(_text: str) -> None:
    pass


def run_pipeline(
    paths: Iterable[str | os.PathLike[str]] | None,
    settings: Settings | None = None,
    *,
    progress: Callable[[str], None] = _quiet,
) -> PipelineResult:
    """Ingest ``paths`` (files or folders; none: the inbox), build, check, publish, alert.

    ``progress`` gets a line when each step starts and ends, and dbt's progress during the build.
    """
    from alerts.engine import deliver_alerts
    from alerts.receipts import receipts
    from ingest.loader import load_paths
    from quality.gate import run_gate
    from reports.release import render_release
    from warehouse.dbt import BuildProgress, dbt_build, strip_ansi
    from warehouse.publish import publish

    settings = settings or get_settings()
    settings.ensure_dirs()
    result = PipelineResult()

    def add(step: StepResult) -> None:
        result.steps.append(step)
        progress(step.line())

    def _timed(result: PipelineResult, name: str, func: Any) -> Any:
        progress(f"[...] {name} …")
        started = time.monotonic()
        value, ok, summary, *warning = func()
        seconds = round(time.monotonic() - started, 2)
        add(StepResult(name, ok, summary, seconds, warning=bool(warning and warning[0])))
        return value

    def ingest() -> tuple[Any, bool, str, bool]:
        loads = load_paths(list(paths or []), settings=settings)
        by_status: dict[str, int] = {}
        for load in loads:
            by_status[load.status] = by_status.get(load.status, 0) + 1
        failed = by_status.get("failed", 0)
        text = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "no files"
        refused = sum(1 for load in loads if load.status == "rejected" or load.rows_rejected)
        if refused:
            text += f"; {refused} with refused rows or refused whole 有被拒文件/行 (see `scorecard ingest`)"
        return loads, failed == 0, f"{len(loads)} files: {text}", refused > 0

    result.loads = _timed(result, "ingest", ingest)
    if result.loads:  # every file's receipt to its department (undelivered ones stay in the outbox)
        deliver_alerts(settings, observations={}, receipts=receipts(result.loads))

    def build() -> tuple[Any, bool, str]:
        dbt = dbt_build(settings, mode="auto", on_line=BuildProgress(progress))
        tail = (strip_ansi(dbt.stdout).strip().splitlines() or [""])[-1].strip()
        return dbt, dbt.ok, tail if dbt.ok else f"dbt build failed (rc {dbt.returncode}): {tail}"

    dbt_result = _timed(result, "build", build)
    if not dbt_result.ok:
        for name in ("check", "publish", "alerts"):
            add(StepResult(name, False, "not run: the build failed", skipped=True))
        return result

    def check() -> tuple[Any, bool, str]:
        gate = run_gate(settings)
        counts = gate.counts()
        text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        flagged = f", {len(gate.anomalies)} flagged values" if gate.anomalies else ""
        return gate, gate.ok, f"{'passed' if gate.ok else 'FAILED'}: {text}{flagged}"

    result.gate = _timed(result, "check", check)

    if result.gate.ok:

        def do_publish() -> tuple[Any, bool, str]:
            publication = publish(settings, gate=result.gate)
            if publication.published:  # what people read follows the release, from its snapshot
                render_release(settings, publication.release)
            return publication, publication.published, publication.reason

        result.publication = _timed(result, "publish", do_publish)
    else:
        add(
            StepResult(
                "publish",
                False,
                "not published: the quality gate failed; previous snapshot kept",
                skipped=True,
            )
        )

    def alerts() -> tuple[Any, bool, str]:
        report = deliver_alerts(settings)
        parts = [
            f"{n}: {c.sent} sent in {c.messages} messages, {c.skipped} skipped, {c.failed} failed"
            for n, c in report.channels.items()
        ]
        return report, report.ok, f"{report.changes} alert state changes; " + "; ".join(parts)

    result.delivery = _timed(result, "alerts", alerts)
    return result


def print_result(result: PipelineResult, *, steps: bool = True) -> None:
    if steps:
        for step in result.steps:
            print(step.line())
    verdict = "完成 done" if result.ok else "失败 failed"
    print(f"scorecard run {verdict}")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", help="submission files or folders (default: the inbox)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the full check table")


def run(args: argparse.Namespace) -> int:
    from quality.cli import print_gate

    result = run_pipeline(getattr(args, "paths", None) or [], progress=lambda text: print(text, flush=True))
    if result.gate is not None and (getattr(args, "verbose", False) or not result.gate.ok):
        print()
        print_gate(result.gate, only_problems=not getattr(args, "verbose", False))
        print()
    print_result(result, steps=False)
    return 0 if result.ok else 1


__all__: Sequence[str] = ("PipelineResult", "StepResult", "run_pipeline")
