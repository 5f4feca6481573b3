"""The programme summary reads the seeded warehouse, not the CSV files."""

import pytest

from scorecard.config import Settings
from warehouse.dbt import run_dbt
from warehouse.summary import read_indicator_targets, render


@pytest.fixture
def seeded(settings: Settings) -> Settings:
    result = run_dbt(["seed"], settings)
    assert result.ok, result.stdout[-3000:]
    return settings


def test_summary_lists_29_indicators_with_their_annual_targets(seeded: Settings) -> None:
    indicators = read_indicator_targets(seeded)
    by_code = {item.indicator_code: item for item in indicators}
    assert len(indicators) == 29
    assert by_code["PP01"].targets == {2021: 10000, 2022: 11000, 2023: 11500, 2024: 12500, 2025: 13000}
    # "——" in the original: no target that year
    assert by_code["EC05"].targets[2021] is None
    assert by_code["WS04"].targets[2024] is None and by_code["WS04"].targets[2023] == 300
    # the milestone indicator shows its ordered status per year
    assert by_code["EC02"].targets[2021] == "plan_made"
    text = render(indicators)
    assert "29 indicators" in text and "精准保障" in text and "99.5" in text
