"""A deliberately plain reference for the backtest engine: one Python loop over rows.

It re-implements filter evaluation, settlement and staking from the *stored dict* of a filter,
with Python floats and ``if`` statements, sharing no code with :mod:`filterbets_nb.engine` or
:mod:`filterbets_nb.filters` beyond the schema constants. The property tests check the vectorised
engine against it; the benchmark times it. Clarity over speed, on purpose.
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


def _column(field_name: str, price: str) -> str:
    if field_name == "date":
        return "kickoff"
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
        won = bet_won(market, int(row["fthg"]), int(row["ftag"]))
        profit = stake * (odds - 1.0) if won else -stake
        closing: Any = row.get(close_col)
        out.bets.append(
            {
                "match_id": row["match_id"],
                "kickoff": pd.Timestamp(row["kickoff"]),
                "odds": odds,
                "closing_odds": None if _is_missing(closing) else float(closing),
                "prob": p,
                "stake": stake,
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
