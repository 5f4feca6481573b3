"""The hypothesis profiles (tests/hypothesis_profiles.py): ``make check`` runs a tenth of each
property's examples, ``make test`` (the default and ci profiles) all of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hypothesis_profiles import examples


@pytest.fixture
def restore_profile() -> Iterator[None]:
    previous = settings.get_current_profile_name()
    yield
    settings.load_profile(previous)


@pytest.mark.usefixtures("restore_profile")
@pytest.mark.parametrize(("profile", "share"), [("default", 1.0), ("ci", 1.0), ("check", 0.1)])
def test_each_property_runs_its_share_of_examples(profile: str, share: float) -> None:
    settings.load_profile(profile)
    assert examples(150) == round(150 * share)
    assert examples(300) == round(300 * share)
    assert examples(3) == max(1, round(3 * share))  # never none
    runs: list[int] = []

    # Decorated after the profile is loaded, as a test module is imported after pytest loads it.
    @settings(max_examples=examples(40), database=None)
    @given(st.integers())
    def prop(number: int) -> None:
        runs.append(number)

    prop()
    assert len(runs) == round(40 * share)
    # A property that names no count follows the profile: hypothesis' 100, or 10 under check.
    assert settings.default is not None and settings.default.max_examples == round(100 * share)
