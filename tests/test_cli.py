import subprocess
import sys

import pytest

from scorecard.cli import COMMANDS, main, package_version


def test_version_subcommand_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == package_version()
    assert printed[0].isdigit()


def test_help_lists_every_installed_subcommand() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scorecard.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "version" in proc.stdout
    assert "summary" in proc.stdout
    for name, (module, _help) in COMMANDS.items():
        try:
            __import__(module)
        except ModuleNotFoundError:
            continue
        assert name in proc.stdout, f"{name} ({module}) is installed but missing from --help"


def test_unknown_subcommand_exits_with_usage_error() -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["no-such-command"])
    assert excinfo.value.code == 2
