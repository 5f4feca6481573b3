"""Hypothesis profiles of the suite (registered by tests/conftest.py, chosen on the command line).

- ``default`` (hypothesis' own; ``ci`` too, which hypothesis loads on a CI runner): every property
  runs the examples it asks for. ``make test`` and ``make unit`` run it: the full suite proves what
  it always proved.
- ``check``: ``make check`` (``pytest --hypothesis-profile=check``), the fast loop. A tenth of the
  examples, at least one: a property that asks for none (hypothesis' 100) runs 10, one that asks
  for 150 through :func:`examples` runs 15. Examples that failed before are replayed first under
  every profile (hypothesis' example database, ``.hypothesis/``).

A property that asks for its own number of examples takes it through :func:`examples`, so that the
profile scales it; a plain ``settings(max_examples=150)`` would override every profile.
"""

from __future__ import annotations

from hypothesis import settings

#: The share of each property's examples the ``check`` profile runs.
CHECK_SHARE = 0.1


def register_profiles() -> None:
    """Register ``check`` beside hypothesis' ``default`` and ``ci`` (tests/conftest.py calls this
    when pytest loads it, before ``--hypothesis-profile`` is read)."""
    full = settings.get_profile("default").max_examples
    settings.register_profile("check", max_examples=round(full * CHECK_SHARE))


def examples(full: int) -> int:
    """``full`` under the default and ci profiles; under another profile the same share of
    ``full`` as that profile's ``max_examples`` is of the default's (``check``: a tenth), at least 1.

    Read when a test module is imported, after pytest's ``--hypothesis-profile`` has been loaded."""
    current = settings.default
    assert current is not None
    share = current.max_examples / settings.get_profile("default").max_examples
    return max(1, round(full * share))
