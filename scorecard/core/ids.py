"""Ids the parts share: a run's id (the gate's results, the published release, the alerts name it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique id: UTC timestamp plus a short random suffix."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
