"""A deliberately plain reference for the backtest engine: one Python loop over rows.

It re-implements filter evaluation, settlement (Asian handicap quarter lines included), staking
and the multiplicative fair closing probability from the *stored dict* of a filter, with Python
floats and ``if`` statements, sharing no code with :mod:`filterbets_nb.engine`,
:mod:`filterbets_nb.filters` or :mod:`filterbets_nb.prices` beyond the schema constants. The
property tests check the vectorised engine against it; the benchmark times it. Clarity over
speed, on purpose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from filterbets_nb.schema import ODDS_MARKETS


@dataclass
class ReferenceResult:
    bets: list[dict[str, Any]] = field(default_factory=list)
    skipped_no_odds: int = 0
    skipped_no_edge: int = 0
    matches_considered: int = 0
    selected: int = 0


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _line_column(price: str) -> str:
    return "ah_home_line_close" if price.endswith("_close") else "ah_home_line"


def _column(field_name: str, price: str) -> str:
    if field_name == "date":
        return "kickoff"
    if field_name == "ah_line":
        return _line_column(price)
    if field_name.endswith("_odds") and field_name[: -len("_odds")] in ODDS_MARKETS:
        return price + "_" + field_name[: -len("_odds")]
    return field_name


def _cell(row: dict[Any, Any], field_name: str, price: str) -> Any:
    value = row[_column(field_name, price)]
    if _is_missing(value):
        return None
    if field_name == "date":
        return pd.Timestamp(value).date().isoformat()  # ISO strings order like dates
    if field_name in ("league", "season"):
        return str(value)
    return float(value)


def rule_holds(row: dict[Any, Any], rule: dict[str, Any], price: str) -> bool:
    cell = _cell(row, rule["field"], price)
    if cell is None:
        return False
    op, value = rule["op"], rule["value"]
    if op == "=":
        return bool(cell == value)
    if op == "!=":
        return bool(cell != value)
    if op == ">":
        return bool(cell > value)
    if op == "<":
        return bool(cell < value)
    if op == ">=":
        return bool(cell >= value)
    if op == "<=":
        return bool(cell <= value)
    if op == "in":
        found = False
        for candidate in value:
            found = found or cell == candidate
        return found
    if op == "between":
        return bool(value[0] <= cell and cell <= value[1])
    raise ValueError(op)


def bet_won(market: str, home_goals: int, away_goals: int) -> bool:
    if market == "home":
        return home_goals > away_goals
    if market == "draw":
        return home_goals == away_goals
    if market == "away":
        return home_goals < away_goals
    if market == "over25":
        return home_goals + away_goals > 2
    if market == "under25":
        return home_goals + away_goals < 3
    if market == "btts_yes":
        return home_goals > 0 and away_goals > 0
    if market == "btts_no":
        return home_goals == 0 or away_goals == 0
    raise ValueError(market)


def asian_handicap(margin: int, line: float, odds: float) -> tuple[str, float]:
    """(outcome, profit per unit) of a handicap bet, one half-stake at a time."""
    quarter = (line * 4) % 2 == 1  # half the stake on each neighbouring line
    halves = [line - 0.25, line + 0.25] if quarter else [line, line]
    profit = 0.0
    wins = losses = 0
    for half_line in halves:
        result = margin + half_line
        if result > 0:
            profit += 0.5 * (odds - 1.0)
            wins += 1
        elif result < 0:
            profit -= 0.5
            losses += 1
    if wins == 2:
        return "win", profit
    if losses == 2:
        return "loss", profit
    if wins == 1:
        return "half_win", profit
    if losses == 1:
        return "half_loss", profit
    return "push", profit


_OUTCOMES = {
    "home": ("home", "draw", "away"),
    "draw": ("home", "draw", "away"),
    "away": ("home", "draw", "away"),
    "over25": ("over25", "under25"),
    "under25": ("over25", "under25"),
    "btts_yes": ("btts_yes", "btts_no"),
    "btts_no": ("btts_yes", "btts_no"),
    "ah_home": ("ah_home", "ah_away"),
    "ah_away": ("ah_home", "ah_away"),
}


def fair_close_multiplicative(row: dict[Any, Any], market: str) -> float | None:
    """1/o over the sum of 1/o of the market's closing prices: Pinnacle if complete, else avg."""
    for source in ("pinnacle_close", "avg_close"):
        inverse = []
        for outcome in _OUTCOMES[market]:
            price = row.get(source + "_" + outcome)
            if _is_missing(price) or float(price) <= 1.0:
                break
            inverse.append(1.0 / float(price))
        else:
            return inverse[_OUTCOMES[market].index(market)] / sum(inverse)
    return None


def reference_backtest(matches: pd.DataFrame, flt: dict[str, Any]) -> ReferenceResult:
    """Backtest the stored filter ``flt`` with a row loop; bets in (kickoff, match_id) order."""
    price = flt.get("price", "avg")
    market = flt["market"]
    unit = float(flt.get("stake", 1.0))
    kelly = flt.get("staking", "flat") == "kelly"
    odds_col = price + "_" + market
    close_source = price if price.endswith("_close") else price + "_close"
    close_col = close_source + "_" + market
    out = ReferenceResult()
    for row in matches.to_dict("records"):
        if _is_missing(row["fthg"]) or _is_missing(row["ftag"]):
            continue
        out.matches_considered += 1
        selected = True
        for rule in flt["rules"]:
            if not rule_holds(row, rule, price):
                selected = False
                break
        if not selected:
            continue
        out.selected += 1
        odds = row[odds_col]
        line: float | None = None
        if market in ("ah_home", "ah_away"):
            home_line = row[_line_column(price)]
            if _is_missing(home_line) or float(home_line) * 4 != int(float(home_line) * 4):
                odds = None  # no line, no bet
            else:
                line = float(home_line) if market == "ah_home" else -float(home_line)
        if _is_missing(odds) or float(odds) <= 1.0:
            out.skipped_no_odds += 1
            continue
        odds = float(odds)
        p = None
        if kelly:
            p = row[flt["prob_field"]]
            if _is_missing(p):
                out.skipped_no_edge += 1
                continue
            p = float(p)
            edge = (p * odds - 1.0) / (odds - 1.0)
            if edge <= 0:
                out.skipped_no_edge += 1
                continue
            stake = unit * flt["kelly_fraction"] * edge
        else:
            stake = unit
        closing: Any = row.get(close_col)
        p_fair = fair_close_multiplicative(row, market)
        if line is None:
            won = bet_won(market, int(row["fthg"]), int(row["ftag"]))
            outcome = "win" if won else "loss"
            profit = stake * (odds - 1.0) if won else -stake
        else:
            margin = int(row["fthg"]) - int(row["ftag"])
            if market == "ah_away":
                margin = -margin
            outcome, per_unit = asian_handicap(margin, line, odds)
            won = outcome in ("win", "half_win")
            profit = stake * per_unit
            # A price at another line than the close is another bet: no closing comparison.
            if row[_line_column(price)] != row["ah_home_line_close"]:
                closing = None
                p_fair = None
        out.bets.append(
            {
                "match_id": row["match_id"],
                "kickoff": pd.Timestamp(row["kickoff"]),
                "odds": odds,
                "closing_odds": None if _is_missing(closing) else float(closing),
                "p_fair_close": p_fair,
                "clv": None if p_fair is None else odds * p_fair - 1.0,
                "prob": p,
                "line": line,
                "stake": stake,
                "outcome": outcome,
                "won": won,
                "profit": profit,
            }
        )
    out.bets.sort(key=lambda b: (b["kickoff"], b["match_id"]))  # sort() is stable
    running = 0.0
    for bet in out.bets:
        running += bet["profit"]
        bet["cum_profit"] = running
    return out


def reference_features(matches: pd.DataFrame) -> dict[Any, dict[str, float]]:
    """Per-match pre-match features by brute force: for every match, scan all earlier matches.

    Quadratic and obvious: {match_id: {feature column: value}}; NaN where undefined.
    """
    rows = [r for r in matches.to_dict("records")]
    nan = float("nan")

    def played(r: dict[Any, Any]) -> bool:
        return not (_is_missing(r["fthg"]) or _is_missing(r["ftag"]))

    def team_rows(league: str, team: str, before: pd.Timestamp) -> list[tuple[Any, bool, Any]]:
        found = []
        for r in rows:
            if r["league"] != league or not played(r) or not pd.Timestamp(r["kickoff"]) < before:
                continue
            if r["home_team"] == team:
                found.append((r, True, (float(r["fthg"]), float(r["ftag"]))))
            elif r["away_team"] == team:
                found.append((r, False, (float(r["ftag"]), float(r["fthg"]))))
        found.sort(key=lambda t: (pd.Timestamp(t[0]["kickoff"]), t[0]["match_id"]))
        return found

    def points(gf: float, ga: float) -> int:
        return 3 if gf > ga else (1 if gf == ga else 0)

    def avg(values: list[float]) -> float:
        return sum(values) / len(values) if values else nan

    out: dict[Any, dict[str, float]] = {}
    for r in rows:
        feats: dict[str, float] = {}
        kick = pd.Timestamp(r["kickoff"])
        for side in ("home", "away"):
            team = r[f"{side}_team"]
            history = team_rows(r["league"], team, kick)
            season = [h for h in history if h[0]["season"] == r["season"]]
            gfs = [h[2][0] for h in season]
            gas = [h[2][1] for h in season]
            feats[f"{side}_played"] = len(season)
            feats[f"{side}_ppg"] = avg([points(*h[2]) for h in season])
            feats[f"{side}_gf_avg"] = avg(gfs)
            feats[f"{side}_ga_avg"] = avg(gas)
            feats[f"{side}_gf_avg_home"] = avg([h[2][0] for h in season if h[1]])
            feats[f"{side}_ga_avg_home"] = avg([h[2][1] for h in season if h[1]])
            feats[f"{side}_gf_avg_away"] = avg([h[2][0] for h in season if not h[1]])
            feats[f"{side}_ga_avg_away"] = avg([h[2][1] for h in season if not h[1]])
            feats[f"{side}_clean_sheet_pct"] = (
                100.0 * sum(1 for g in gas if g == 0) / len(gas) if gas else nan
            )
            feats[f"{side}_failed_to_score_pct"] = (
                100.0 * sum(1 for g in gfs if g == 0) / len(gfs) if gfs else nan
            )
            for n in (5, 10):
                last = history[-n:]
                pts = [points(*h[2]) for h in last]
                feats[f"{side}_form_pts_{n}"] = float(sum(pts)) if last else nan
                feats[f"{side}_form_w_{n}"] = float(pts.count(3)) if last else nan
                feats[f"{side}_form_d_{n}"] = float(pts.count(1)) if last else nan
                feats[f"{side}_form_l_{n}"] = float(pts.count(0)) if last else nan
        out[r["match_id"]] = feats
    return out
