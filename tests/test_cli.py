import subprocess
import sys
from pathlib import Path

import pytest

from scorecard.cli import COMMANDS, main, package_version
from scorecard.core.settings import Settings


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


ANSI = "\x1b["


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_ingest_prints_a_file_level_problem_once_with_its_count_and_a_near_miss(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drop = tmp_path / "drop"
    regions = ("330102", "330105", "330106")
    rows = "".join(f"{region},EC01,2024,{20 + n}\n" for n, region in enumerate(regions))
    _write(drop / "elderly_cars" / "2024_ec.csv", "region_code,measure_code,period,value\n" + rows)
    _write(
        drop / "social_assistance" / "2021-Q1_pp.csv",
        "region_code,measure_code,period,value,extra_col\n330102,PP01,2021-Q1,782,x\n",
    )
    assert main(["ingest", str(drop)]) == 1
    out = capsys.readouterr().out
    assert out.count("unknown department 'elderly_cars'") == 1, out  # once, not once per row
    assert "did you mean `elderly_care`? (3 rows)" in out, out
    assert "是否应为「elderly_care」" in out and "共 3 行" in out, out
    # an unknown extra column is loaded around, with a warning rather than in silence
    assert "warning: 已忽略未识别的列 ignored unrecognised columns: extra_col" in out, out
    assert ANSI not in out


def _read_until_exit(proc: subprocess.Popen[str], wanted: str) -> tuple[list[str], bool]:
    """Every line the process prints; and whether a line containing ``wanted`` was read while the
    process was still running (i.e. it was streamed, not printed at the end)."""
    lines: list[str] = []
    streamed = False
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if wanted in line and not streamed:
            streamed = proc.poll() is None
    proc.wait(timeout=600)
    return lines, streamed


def _scorecard(args: list[str], home: Path) -> subprocess.Popen[str]:
    import os

    env = {**os.environ, "SCORECARD_HOME": str(home), "SCORECARD_AS_OF": "2026-01-15"}
    env.pop("SCORECARD_DBT_WORKER", None)
    env.update(DBT_TARGET_PATH=str(home / "dbt-target"), DBT_LOG_PATH=str(home / "dbt-logs"))
    return subprocess.Popen(
        [sys.executable, "-m", "scorecard.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


@pytest.mark.slow  # runs dbt
def test_build_streams_its_progress_without_colour_codes(tmp_path: Path) -> None:
    # two seeds only (quick); their relationship tests to the other, unbuilt seeds fail, so the
    # progress shows failures as they happen, and the output of a failed build has no colour either
    proc = _scorecard(["build", "--select", "zones departments"], tmp_path / "home")
    lines, streamed = _read_until_exit(proc, "  dbt ")
    text = "".join(lines)
    assert proc.returncode == 1 and "dbt build (full) FAILED (exit 1)" in text, text
    assert any(line.startswith("  dbt ") and " ERROR relationships_" in line for line in lines), text
    assert streamed, text  # dbt's progress arrives while dbt still runs, not all at the end
    assert lines[0].startswith("dbt build (full) 开始构建 started"), text
    assert any(line.startswith("  dbt ") and "/" in line and "%" in line for line in lines), text
    assert ANSI not in text  # a pipe is not a terminal


@pytest.mark.slow  # runs dbt
def test_run_shows_a_refused_only_file_as_a_warning_not_ok(tmp_path: Path) -> None:
    empty = _write(tmp_path / "drop" / "social_assistance" / "empty.csv", "")
    proc = _scorecard(["run", str(empty.parent)], tmp_path / "home")
    lines, streamed = _read_until_exit(proc, "[WRN] ingest")
    text = "".join(lines)
    ingest_line = next(line for line in lines if "] ingest " in line and "…" not in line)
    assert ingest_line.startswith("[WRN] ingest"), text
    assert "1 rejected" in ingest_line, text
    assert streamed, text  # each step's line is printed when the step ends
    assert any(line.startswith("[") and "] build" in line for line in lines), text
    assert ANSI not in text


def test_the_demo_names_the_password_file_not_a_folder(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scorecard.demo import airflow_ui_line

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "af"))
    line = airflow_ui_line(settings, "http://127.0.0.1:8080")
    assert f"password in {tmp_path / 'af' / 'simple_auth_manager_passwords.json.generated'} " in line, line
