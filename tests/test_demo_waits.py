"""``scorecard demo`` waits for what it points people at: the report and the workbook of the
release it announces are rendered in a task of their own after publication (``render_release``),
so the manifest alone is not the end of the run. No Airflow here: the waits read publish/."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from reports.release import RENDERED_NAMES
from scorecard.demo import DemoError, wait_for_rendering


def release(publish: Path, run_id: str, *, rendered: bool) -> Path:
    folder = publish / "releases" / run_id
    folder.mkdir(parents=True)
    if rendered:
        for name in RENDERED_NAMES:
            (folder / name).write_text(run_id, encoding="utf-8")
            link = publish / name
            if link.is_symlink():
                link.unlink()
            os.symlink(Path("releases") / run_id / name, link)
    return folder


def test_the_demo_waits_until_the_announced_release_is_rendered(tmp_path: Path) -> None:
    publish = tmp_path / "publish"
    settings = SimpleNamespace(publish=publish)
    release(publish, "r1", rendered=True)
    release(publish, "r2", rendered=False)  # published, its rendering not done yet

    # the links still show the previous release's report: not the one announced
    with pytest.raises(DemoError, match="r2"):
        wait_for_rendering(settings, {"run_id": "r2"}, timeout=1)

    for name in RENDERED_NAMES:
        (publish / "releases" / "r2" / name).write_text("r2", encoding="utf-8")
        (publish / name).unlink()
        os.symlink(Path("releases") / "r2" / name, publish / name)
    wait_for_rendering(settings, {"run_id": "r2"}, timeout=600)
