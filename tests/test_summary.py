"""The programme summary reads the seeded warehouse, not the CSV files."""

import pytest

from reports.summary import read_indicator_targets, render
from scorecard.core.settings import Settings
from warehouse.dbt import run_dbt


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


def test_summary_wraps_long_names_between_words(seeded: Settings) -> None:
    indicators = read_indicator_targets(seeded)
    text = render(indicators)
    words = set(text.split())
    for item in indicators:
        for word in item.name_en.split():
            assert word in words, f"{item.indicator_code}: {word!r} is cut in\n{text}"
    assert "碑）" in text  # a closing bracket stays with the text before it


def test_summary_on_an_empty_home_refuses_instead_of_building(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from scorecard.cli import main

    assert main(["summary"]) == 1
    err = capsys.readouterr().err
    assert "no warehouse yet" in err and "scorecard build" in err
    assert not settings.warehouse_path.exists()  # nothing was built


def test_summary_has_no_build_option(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """A read command never builds: the builder is `scorecard build`, summary takes no --build."""
    from scorecard.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["summary", "--build"])
    assert exited.value.code == 2  # argparse: unrecognised argument
    assert "--build" in capsys.readouterr().err
    assert not settings.warehouse_path.exists()
