"""A CLI that guides: comma lists, a scope check before sending, the field list, plain help."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from filterbets_nb.cli import app

runner = CliRunner()


def test_backtest_scope_typo_fails_at_once_listing_what_is_stored(settings_env: Path) -> None:
    import filterbets_nb as fb

    fb.load_demo(n_matches=300)
    flt = settings_env.parent / "flt.json"
    flt.write_text(
        json.dumps(
            {
                "rules": [{"field": "home_odds", "op": ">", "value": 1.5}],
                "market": "home",
                "price": "avg",
            }
        )
    )
    for args in (["--leagues", "E0,SP1"], ["--leagues", "E0", "--leagues", "SP1"]):
        done = runner.invoke(app, ["backtest", str(flt), *args])
        assert done.exit_code == 1
        assert "no stored match in the scope (leagues E0,SP1)" in done.output
        assert "stored: SYN1 2021-22 (90); SYN2 2021-22 (110)" in done.output
    assert runner.invoke(app, ["jobs"]).output.strip() == "no jobs yet"  # nothing was sent


def test_fields_lists_descriptions_and_file_columns() -> None:
    done = runner.invoke(app, ["fields"])
    assert done.exit_code == 0
    assert "home_odds  (number)" in done.output and "AvgH / BbAvH" in done.output
    records = json.loads(runner.invoke(app, ["fields", "--json"]).output)
    assert {"field", "type", "description", "football_data"} <= set(records[0])


def test_help_shows_plain_metavars() -> None:
    for command in (["backtest"], ["import"], ["jobs"], ["fields"], ["demo"], ["worker"], []):
        shown = runner.invoke(app, [*command, "--help"])
        assert shown.exit_code == 0, shown.output
        assert "<" not in shown.output, shown.output  # no <list[str]>, <bool>, <path>
    backtest = runner.invoke(app, ["backtest", "--help"]).output
    assert "--leagues CODES" in backtest and "--timeout SECONDS" in backtest
