"""The fault-free reference: the same submissions through the pipeline's functions in one process,
no Airflow, in a separate SCORECARD_HOME. Run by the distributed tests as a child process:

    python tests/distributed/reference.py <out> <label>=<folder>[,<folder>...] [<label>=...]

For each step, in order: load the folders, ``dbt build``, the gate, publish; then copy the
published Parquet files to ``<out>/<label>/``. Exits non-zero if any step fails.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from ingest.loader import load_paths
    from quality.gate import run_gate
    from scorecard.core.settings import get_settings
    from warehouse.dbt import dbt_build
    from warehouse.publish import publish

    out = Path(argv[0])
    settings = get_settings()
    for step in argv[1:]:
        label, _, folders = step.partition("=")
        results = load_paths([Path(f) for f in folders.split(",")], settings=settings)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            print(f"{label}: load failed: {[r.message for r in failed]}", file=sys.stderr)
            return 1
        build = dbt_build(settings)
        if not build.ok:
            print(f"{label}: dbt build failed:\n{build.stdout[-3000:]}", file=sys.stderr)
            return 1
        gate = run_gate()
        if not gate.ok:
            print(f"{label}: gate failed: {[c.check for c in gate.failures]}", file=sys.stderr)
            return 1
        result = publish(gate=gate)
        if not result.published:
            print(f"{label}: not published: {result.reason}", file=sys.stderr)
            return 1
        target = out / label
        shutil.copytree((settings.publish / "parquet").resolve(), target / "parquet")
        shutil.copy2((settings.publish / "manifest.json").resolve(), target / "manifest.json")
        print(f"{label}: published {result.run_id}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
