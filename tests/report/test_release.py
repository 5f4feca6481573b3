"""Rendering a release: the report and the workbook are written side by side (reports.release);
either failing fails the rendering, and people keep the previous release's links."""

from __future__ import annotations

from pathlib import Path

import pytest

from scorecard.core.settings import Settings
from tests.quality.conftest import GATE_ONLY


@pytest.mark.parametrize("failing", ["write_report", "write_workbook"])
def test_a_failed_rendering_links_nothing(home_settings: Settings, monkeypatch, failing: str) -> None:
    import reports.release
    from quality.gate import run_gate
    from warehouse.publish import publish

    gate = run_gate(home_settings, only=GATE_ONLY)
    assert gate.ok
    first = publish(home_settings, gate=gate)
    assert first.published, first.reason
    reports.release.render_release(home_settings, first.release)
    second = publish(home_settings, gate=gate)
    assert second.published, second.reason

    def broken(*args: object) -> Path:
        raise RuntimeError(f"{failing} broke")

    monkeypatch.setattr(reports.release, failing, broken)
    with pytest.raises(RuntimeError, match=f"{failing} broke"):
        reports.release.render_release(home_settings, second.release)
    for name in reports.release.RENDERED_NAMES:  # still the first release's
        assert (home_settings.publish / name).resolve() == (first.release / name).resolve(), name
