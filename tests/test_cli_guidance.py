"""A CLI that guides: comma lists, a scope check before sending, the field list."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import cli, embedded_env, run_py


def test_backtest_scope_typo_fails_at_once_listing_what_is_stored(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "data")
    flt = tmp_path / "flt.json"
    flt.write_text(
        json.dumps(
            {
                "rules": [{"field": "home_odds", "op": ">", "value": 1.5}],
                "market": "home",
                "price": "avg",
            }
        )
    )
    run_py(
        env, "import json, filterbets_nb as fb; fb.load_demo(n_matches=300); print(json.dumps(1))"
    )
    for args in (["--leagues", "E0,SP1"], ["--leagues", "E0", "--leagues", "SP1"]):
        done = cli(env, "backtest", str(flt), *args, timeout=120)
        assert done.returncode == 1
        assert "no stored match in the scope (leagues E0,SP1)" in done.stderr
        assert "stored: SYN1 2021-22 (90); SYN2 2021-22 (110)" in done.stderr
    listed = cli(env, "jobs")
    assert listed.stdout.strip() == "no jobs yet"


def test_fields_lists_descriptions_and_file_columns(tmp_path: Path) -> None:
    done = cli(embedded_env(tmp_path / "data"), "fields")
    assert done.returncode == 0
    assert "home_odds  (number)" in done.stdout and "AvgH / BbAvH" in done.stdout
    assert "CODES" in cli(embedded_env(tmp_path / "data"), "backtest", "--help").stdout


def test_help_shows_plain_metavars() -> None:
    from typer.testing import CliRunner

    from filterbets_nb.cli import app

    runner = CliRunner()
    for command in (["backtest"], ["import"], ["jobs"], ["fields"], ["demo"], ["worker"], []):
        shown = runner.invoke(app, [*command, "--help"])
        assert shown.exit_code == 0, shown.output
        assert "<" not in shown.output, shown.output  # no <list[str]>, <bool>, <path>
    backtest = runner.invoke(app, ["backtest", "--help"]).output
    assert "--leagues CODES" in backtest and "--timeout SECONDS" in backtest
