"""The football-data.co.uk importer: real files of three eras, edge cases, and every rejection."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filterbets_nb.importer import (
    FRAME_COLUMNS,
    CsvFormatError,
    ImportedFile,
    parse_football_data,
    read_football_data,
)
from filterbets_nb.schema import MATCH_COLUMNS, ODDS_COLUMNS, PRICE_COLUMNS, season_of

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "football-data"

HEADER = "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,HTHG,HTAG,B365H,B365D,B365A"


def real(name: str) -> ImportedFile:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"sample file {path} is not available")
    return read_football_data(path)


def parse(*rows: str, header: str = HEADER, name: str = "E0.csv") -> ImportedFile:
    return parse_football_data("\n".join([header, *rows]) + "\n", name)


def row_of(frame: pd.DataFrame, home: str, away: str) -> pd.Series:
    hit = frame[(frame["home_team"] == home) & (frame["away_team"] == away)]
    assert len(hit) == 1, f"{home} v {away}: {len(hit)} rows"
    return hit.iloc[0]


def assert_canonical(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == FRAME_COLUMNS
    assert FRAME_COLUMNS[:-1] == tuple(c for c in MATCH_COLUMNS if c != "match_id")
    assert frame["kickoff"].dtype == np.dtype("datetime64[ns]")
    assert frame["fthg"].dtype == np.int64 and frame["ftag"].dtype == np.int64
    assert frame["hthg"].dtype == np.float64 and frame["htag"].dtype == np.float64
    assert all(frame[c].dtype == np.float64 for c in ODDS_COLUMNS)
    for column in ("league", "season", "home_team", "away_team"):
        assert pd.api.types.is_string_dtype(frame[column].dtype), column
    assert all(isinstance(extra, dict) for extra in frame["extra_odds"])
    prices = frame[list(PRICE_COLUMNS)].to_numpy()
    assert np.all(np.isnan(prices) | (prices >= 1.0))
    assert frame[[c for c in ODDS_COLUMNS if "btts" in c]].isna().all().all()


# --- real files ------------------------------------------------------------------------------


def test_2019_20_layout_time_closing_and_over_under() -> None:
    imported = real("E0_2019-20.csv")
    frame = imported.frame
    assert_canonical(frame)
    assert len(frame) == imported.rows_read == 380
    assert imported.rows_skipped == 0 and not imported.derived_aggregates
    # The season ended in July 2020 but is still 2019-20.
    assert frame["kickoff"].max() > pd.Timestamp("2020-07-01")
    assert set(frame["season"]) == {"2019-20"}
    match = row_of(frame, "Liverpool", "Norwich")
    assert (match["fthg"], match["ftag"], match["hthg"], match["htag"]) == (4, 1, 4.0, 0.0)
    assert match["league"] == "E0"
    assert match["kickoff"] == pd.Timestamp("2019-08-09 20:00")
    assert match["avg_home"] == 1.14
    assert match["b365_home"] == 1.14 and match["b365_over25"] == 1.4
    assert match["b365_close_home"] == 1.14
    assert match["pinnacle_home"] == 1.15 and match["pinnacle_close_home"] == 1.14
    assert match["pinnacle_close_draw"] == 10.43 and match["pinnacle_close_under25"] == 3.44
    assert match["avg_over25"] == 1.41 and match["avg_under25"] == 2.92
    assert match["max_away"] == 23.0 and match["max_close_draw"] == 10.5
    assert match["avg_close_away"] == 19.18
    extra = match["extra_odds"]
    assert extra["BWH"] == 1.14 and match["ah_home_line"] == -2.25
    assert match["avg_close_ah_away"] == 1.99 and "AHh" not in extra
    assert "B365H" not in extra and "AvgH" not in extra  # mapped ones are not repeated
    assert "Referee" in imported.columns_unmapped and "HS" in imported.columns_unmapped
    assert "PSCH" in imported.columns_mapped and "BWH" in imported.columns_extra_odds
    assert frame.loc[frame["kickoff"].dt.hour == 0].empty  # every row had a Time


def test_2015_16_layout_betbrain_aggregates() -> None:
    imported = real("E0_2015-16.csv")
    frame = imported.frame
    assert_canonical(frame)
    assert len(frame) == 380
    assert set(frame["season"]) == {"2015-16"}
    match = row_of(frame, "Bournemouth", "Aston Villa")
    assert match["kickoff"] == pd.Timestamp("2015-08-08")  # no Time column: midnight
    assert (match["fthg"], match["ftag"]) == (0, 1)
    assert match["avg_home"] == 1.96  # BbAvH
    assert match["max_home"] == 2.1 and match["max_over25"] == 2.11  # BbMxH, BbMx>2.5
    assert match["avg_over25"] == 2.02 and match["avg_under25"] == 1.79
    assert match["b365_home"] == 2.0 and math.isnan(match["b365_over25"])
    assert match["pinnacle_home"] == 1.95 and match["pinnacle_close_away"] == 4.7
    assert frame["avg_close_home"].isna().all() and frame["b365_close_home"].isna().all()
    assert match["ah_home_line"] == -0.5 and match["extra_odds"]["Bb1X2"] == 45.0
    assert not imported.derived_aggregates


def test_2000_01_layout_derives_aggregates_from_bookmakers() -> None:
    imported = real("E0_2000-01.csv")
    frame = imported.frame
    assert_canonical(frame)
    assert len(frame) == 380
    assert imported.derived_aggregates and imported.derived_sources == ("avg", "max")
    assert set(frame["season"]) == {"2000-01"}
    match = row_of(frame, "Charlton", "Man City")
    assert match["kickoff"] == pd.Timestamp("2000-08-19")  # dd/mm/yy
    books = {"GB": (2.0, 3.0, 3.2), "IW": (2.2, 2.9, 2.7), "LB": (2.2, 3.25, 2.75)}
    books |= {"SB": (2.2, 3.25, 2.88), "WH": (2.1, 3.2, 3.1)}
    for i, outcome in enumerate(("home", "draw", "away")):
        prices = [p[i] for p in books.values()]
        assert match[f"avg_{outcome}"] == pytest.approx(sum(prices) / len(prices))
        assert match[f"max_{outcome}"] == max(prices)
    assert match["extra_odds"]["GBH"] == 2.0
    assert frame["b365_home"].isna().all() and frame["avg_over25"].isna().all()


# --- encodings and shape ---------------------------------------------------------------------


def test_latin1_bytes_are_decoded() -> None:
    text = f"{HEADER}\nSP1,01/09/2019,Atlético Madrid,Eibar,3,2,1,1,1.3,5,9\n"
    imported = parse_football_data(text.encode("latin-1"), "SP1.csv")
    assert imported.encoding == "latin-1"
    assert imported.frame["home_team"].iloc[0] == "Atlético Madrid"


def test_utf8_with_bom() -> None:
    text = f"{HEADER}\nSP1,01/09/2019,Atlético Madrid,Eibar,3,2,1,1,1.3,5,9\n"
    imported = parse_football_data(b"\xef\xbb\xbf" + text.encode("utf-8"), "SP1.csv")
    assert imported.encoding == "utf-8"
    assert imported.frame["league"].iloc[0] == "SP1"  # "Div" recognised despite the BOM
    assert imported.frame["home_team"].iloc[0] == "Atlético Madrid"


def test_crlf_line_endings() -> None:
    text = f"{HEADER}\r\nE0,01/09/2019,A,B,1,0,0,0,2,3,4\r\nE0,02/09/2019,C,D,x,0,0,0,2,3,4\r\n"
    with pytest.raises(CsvFormatError) as err:
        parse_football_data(text, "E0.csv")
    assert err.value.line == 3


def test_two_and_four_digit_years_mixed_in_one_file() -> None:
    imported = parse(
        "E0,19/08/00,A,B,1,0,0,0,2,3,4",
        "E0,01/05/2001,C,D,1,0,0,0,2,3,4",
        "E0,7/8/99,E,F,1,0,0,0,2,3,4",
        "E0,05/05/25,G,H,1,0,0,0,2,3,4",
    )
    assert imported.frame["kickoff"].dt.date.tolist() == [
        dt.date(2000, 8, 19),
        dt.date(2001, 5, 1),
        dt.date(1999, 8, 7),
        dt.date(2025, 5, 5),
    ]
    # more than a year apart: labelled row by row
    assert imported.frame["season"].tolist() == ["2000-01", "2000-01", "1999-00", "2024-25"]


def test_time_column_and_blank_time_is_midnight() -> None:
    header = "Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG"
    imported = parse("E0,09/08/2019,20:00,A,B,1,0", "E0,10/08/2019,,C,D,1,1", header=header)
    assert imported.frame["kickoff"].tolist() == [
        pd.Timestamp("2019-08-09 20:00"),
        pd.Timestamp("2019-08-10 00:00"),
    ]
    assert np.isnan(imported.frame["hthg"]).all()  # no half-time columns: NaN


def test_trailing_empty_column_and_trailing_commas() -> None:
    imported = parse(
        "E0,01/09/2019,A,B,1,0,0,0,2,3,4,",
        "E0,02/09/2019,C,D,2,2,1,1,2.5,3.1,2.9,,,",
        header=HEADER + ",",
    )
    assert len(imported.frame) == 2
    assert imported.frame["b365_away"].tolist() == [4.0, 2.9]
    assert imported.frame["extra_odds"].tolist() == [{}, {}]


def test_blank_lines_and_empty_rows_are_skipped_and_counted() -> None:
    imported = parse("", "E0,01/09/2019,A,B,1,0,0,0,2,3,4", ",,,,,,,,,,", "  ", "")
    assert len(imported.frame) == 1
    assert imported.rows_read == 5 and imported.rows_skipped_blank == 4
    assert imported.rows_skipped == 4


def test_unplayed_fixtures_are_skipped_and_counted() -> None:
    imported = parse("E0,01/09/2019,A,B,1,0,0,0,2,3,4", "E0,08/09/2019,C,D,,,,,2,3,4")
    assert imported.frame["home_team"].tolist() == ["A"]
    assert imported.rows_skipped_unplayed == 1 and imported.rows_skipped == 1


def test_missing_zero_and_sub_one_odds_are_nan() -> None:
    header = HEADER + ",BWH,BWD,BWA"
    imported = parse(
        "E0,01/09/2019,A,B,1,0,0,0,,3,4,2,3,4",
        "E0,02/09/2019,C,D,1,0,0,0,0,0.95,1.0,0,,3",
        header=header,
    )
    frame = imported.frame
    assert math.isnan(frame["b365_home"].iloc[0]) and frame["b365_draw"].iloc[0] == 3.0
    assert math.isnan(frame["b365_home"].iloc[1]) and math.isnan(frame["b365_draw"].iloc[1])
    assert frame["b365_away"].iloc[1] == 1.0  # evens-or-worse is still a price
    # extra odds are raw values; blanks are dropped
    assert frame["extra_odds"].tolist() == [
        {"BWH": 2.0, "BWD": 3.0, "BWA": 4.0},
        {"BWH": 0.0, "BWA": 3.0},
    ]


def test_old_team_and_goal_column_names() -> None:
    imported = parse(
        "E0,19/08/95,Arsenal,Leeds,2,1",
        header="Div,Date,HT,AT,HG,AG",
    )
    match = imported.frame.iloc[0]
    assert (match["home_team"], match["away_team"], match["fthg"], match["ftag"]) == (
        "Arsenal",
        "Leeds",
        2,
        1,
    )
    assert match["season"] == "1995-96"


def test_header_only_file_gives_an_empty_canonical_frame() -> None:
    imported = parse()
    assert imported.frame.empty and imported.rows_read == 0
    assert_canonical(imported.frame)


def test_extra_leagues_layout() -> None:
    header = "Country,League,Season,Date,Time,Home,Away,HG,AG,Res,PSCH,PSCD,PSCA,MaxCH,AvgCH"
    imported = parse(
        "Argentina,Liga Profesional,2019/2020,26/07/2019,23:10,Velez,Huracan,3,1,H,"
        "1.8,3.4,5.2,1.9,1.82",
        header=header,
        name="ARG.csv",
    )
    assert imported.layout == "extra"
    match = imported.frame.iloc[0]
    assert match["league"] == "ARG"
    assert match["kickoff"] == pd.Timestamp("2019-07-26 23:10")
    assert match["season"] == season_of(2019, 7) == "2019-20"
    assert match["pinnacle_close_home"] == 1.8 and match["max_close_home"] == 1.9
    assert match["avg_close_home"] == 1.82 and math.isnan(match["avg_home"])
    assert imported.seasons == ("2019-20",)


def test_read_from_path(tmp_path: Path) -> None:
    path = tmp_path / "E1.csv"
    path.write_text(f"{HEADER}\nE1,01/09/2019,A,B,1,0,0,0,2,3,4\n")
    imported = read_football_data(path)
    assert imported.path == str(path) and imported.frame["league"].tolist() == ["E1"]


def test_round_trip_of_synthetic_matches_through_csv() -> None:
    """A frame written in football-data's 2019 layout reads back to the same values."""
    from filterbets_nb.synthetic import generate_matches

    made = generate_matches(leagues=("E0",), seasons=1, teams_per_league=6, seed=3)
    spelled = {"b365": "B365", "pinnacle": "PS", "avg": "Avg", "max": "Max"}
    csv = pd.DataFrame(
        {
            "Div": made["league"],
            "Date": made["kickoff"].dt.strftime("%d/%m/%Y"),
            "Time": made["kickoff"].dt.strftime("%H:%M"),
            "HomeTeam": made["home_team"],
            "AwayTeam": made["away_team"],
            "FTHG": made["fthg"],
            "FTAG": made["ftag"],
            "HTHG": made["hthg"].astype(int),
            "HTAG": made["htag"].astype(int),
            **{
                f"{prefix}{suffix}": made[f"{source}_{market}"]
                for source, prefix in spelled.items()
                for market, suffix in (("home", "H"), ("draw", "D"), ("away", "A"))
            },
        }
    ).to_csv(index=False)
    frame = parse_football_data(csv, "E0.csv").frame
    for column in ("league", "season", "kickoff", "home_team", "away_team", "fthg", "ftag"):
        assert frame[column].tolist() == made[column].tolist(), column
    for source in spelled:
        for market in ("home", "draw", "away"):
            column = f"{source}_{market}"
            np.testing.assert_array_equal(frame[column], made[column])


@settings(max_examples=60, deadline=None)
@given(
    st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date.today()),
    st.booleans(),
    st.booleans(),
)
def test_any_valid_date_spelling_parses(day: dt.date, two_digit_year: bool, padded: bool) -> None:
    year = f"{day.year % 100:02d}" if two_digit_year else str(day.year)
    d, m = (f"{day.day:02d}", f"{day.month:02d}") if padded else (str(day.day), str(day.month))
    frame = parse(f"E0,{d}/{m}/{year},A,B,1,0,0,0,2,3,4").frame
    assert frame["kickoff"].iloc[0] == pd.Timestamp(day)
    assert frame["season"].iloc[0] == season_of(day.year, day.month)


# --- rejections ------------------------------------------------------------------------------

GOOD = "E0,01/09/2019,A,B,1,0,0,0,2,3,4"


@pytest.mark.parametrize(
    ("header", "rows", "line", "column", "fragment"),
    [
        (HEADER.replace("Div,", ""), [GOOD[3:]], 1, "Div", "missing required column"),
        (HEADER.replace("Date", "Day"), [GOOD], 1, "Date", "missing required column"),
        (HEADER.replace("HomeTeam", "Home_Team"), [GOOD], 1, "HomeTeam", "missing required"),
        (HEADER.replace("AwayTeam", "Visitor"), [GOOD], 1, "AwayTeam", "missing required"),
        (HEADER.replace("FTHG", "Goals"), [GOOD], 1, "FTHG", "missing required column"),
        (HEADER.replace("FTAG", "X"), [GOOD], 1, "FTAG", "missing required column"),
        (HEADER, [GOOD, "E0,32/01/2020,C,D,1,0,0,0,2,3,4"], 3, "Date", "'32/01/2020'"),
        (HEADER, [GOOD, "E0,29/02/2019,C,D,1,0,0,0,2,3,4"], 3, "Date", "not a dd/mm/yy"),
        (HEADER, [GOOD, "E0,2019/09/02,C,D,1,0,0,0,2,3,4"], 3, "Date", "not a dd/mm/yy"),
        (HEADER, [GOOD, "E0,02/09-2019,C,D,1,0,0,0,2,3,4"], 3, "Date", "not a dd/mm/yy"),
        (HEADER, [GOOD, "E0,02/09/2019,C,C,1,0,0,0,2,3,4"], 3, "AwayTeam", "'C' plays itself"),
        (HEADER, [GOOD, "E0,02/09/2019,C,D,1,0,2,0,2,3,4"], 3, "HTHG", "half-time goals 2"),
        (HEADER, [GOOD, "E0,02/09/2019,C,D,99999999999,0,0,0,2,3,4"], 3, "FTHG", "too large"),
        (HEADER, [GOOD, "E0,02/09/2099,C,D,1,0,0,0,2,3,4"], 3, "Date", "in the future"),
        (HEADER, [GOOD, "E0,02/09/2019,C" + "x" * 200 + ",D,1,0,0,0,2,3,4"], 3, "HomeTeam", "128"),
        (HEADER, [GOOD, "E0,02/09/2019,C,D,1,0,0,0,2,3,4\x00"], 3, "B365A", "NUL byte"),
        (HEADER, [GOOD, 'E0,02/09/2019,"C,D,1,0,0,0,2,3,4'], 3, "HomeTeam", "unbalanced quote"),
        (HEADER, [GOOD, GOOD[:-1] + "5" + "," * 10**6], 3, None, "1000011 cells on one line"),
        (HEADER + ",FTR", [GOOD + ",A"], 2, "FTR", "'A' contradicts the score 1-0"),
        (HEADER + ",FTR", [GOOD + ",Z"], 2, "FTR", "'Z' contradicts"),
        (HEADER + ",FTR", ["E0,02/09/2019,C,D,,,,,2,3,4,H"], 2, "FTR", "'H' contradicts no score"),
        (HEADER, [GOOD, "E0,02/09/2019,C,D,x,0,0,0,2,3,4"], 3, "FTHG", "'x' is not a whole"),
        (HEADER, [GOOD, "E0,02/09/2019,C,D,1,-1,0,0,2,3,4"], 3, "FTAG", "'-1' is not a whole"),
        (HEADER, [GOOD, "E0,02/09/2019,C,D,1,1.5,0,0,2,3,4"], 3, "FTAG", "'1.5' is not a whole"),
        (HEADER, [GOOD, "E0,02/09/2019,C,D,1,1,h,0,2,3,4"], 3, "HTHG", "'h' is not a whole"),
        (HEADER, [GOOD, "E0,02/09/2019,C,D,1,,0,0,2,3,4"], 3, "FTAG", "blank, but the other"),
        (HEADER, [GOOD, "E0,02/09/2019,,D,1,1,0,0,2,3,4"], 3, "HomeTeam", "blank team name"),
        (HEADER, [GOOD, "E0,02/09/2019,C, ,1,1,0,0,2,3,4"], 3, "AwayTeam", "blank team name"),
        (HEADER, [GOOD, ",02/09/2019,C,D,1,1,0,0,2,3,4"], 3, "Div", "blank value"),
        (HEADER, [GOOD, GOOD + ",surprise"], 3, "#12 (no header)", "column with no name"),
        (HEADER + ",Time", [GOOD + ",25:00"], 2, "Time", "'25:00' is not an HH:MM"),
    ],
)
def test_malformed_files_are_rejected_naming_line_and_column(
    header: str, rows: list[str], line: int, column: str | None, fragment: str
) -> None:
    with pytest.raises(CsvFormatError) as err:
        parse(*rows, header=header, name="/some/dir/E0_2019-20.csv")
    assert err.value.line == line and err.value.column == column
    assert err.value.path == "/some/dir/E0_2019-20.csv"
    message = str(err.value)
    where = f", column {column}" if column else ""
    assert message.startswith(f"E0_2019-20.csv line {line}{where}: "), message
    assert fragment in message
    assert isinstance(err.value, ValueError)


def test_message_format_of_a_bad_goal() -> None:
    rows = [GOOD] * 0 + [f"E0,{d:02d}/09/2019,T{d},U{d},1,0,0,0,2,3,4" for d in range(1, 16)]
    rows.append("E0,20/09/2019,Liverpool,Norwich,x,1,0,0,2,3,4")
    with pytest.raises(CsvFormatError) as err:
        parse(*rows, name="E0_2019-20.csv")
    assert str(err.value) == "E0_2019-20.csv line 17, column FTHG: 'x' is not a whole number"


def test_the_first_bad_line_is_reported_whatever_the_column() -> None:
    rows = [
        GOOD,
        "E0,02/09/2019,C,D,1,0,0,0,2,3,zz",  # line 3: odds
        "E0,99/09/2019,E,F,x,0,0,0,2,3,4",  # line 4: date and goals
    ]
    with pytest.raises(CsvFormatError) as err:
        parse_football_data("\n".join([HEADER, *rows]), "E0.csv", strict=True)
    assert (err.value.line, err.value.column) == (3, "B365A")
    with pytest.raises(CsvFormatError) as err:
        parse(GOOD, rows[2])
    assert (err.value.line, err.value.column) == (3, "Date")  # leftmost column on the line


def test_blank_lines_count_in_line_numbers() -> None:
    with pytest.raises(CsvFormatError) as err:
        parse(GOOD, "", "", "E0,02/09/2019,C,D,q,0,0,0,2,3,4")
    assert err.value.line == 5


def test_duplicate_match_names_both_lines() -> None:
    rows = [GOOD, "E0,02/09/2019,C,D,1,0,0,0,2,3,4", "E0,01/09/2019,A,B,3,3,0,0,2,3,4"]
    with pytest.raises(CsvFormatError) as err:
        parse(*rows, name="E0.csv")
    assert (err.value.other_line, err.value.line) == (2, 4)
    assert str(err.value).startswith("E0.csv lines 2 and 4: duplicate match E0 2019-09-01 A v B")


def test_duplicated_used_column_and_empty_file() -> None:
    with pytest.raises(CsvFormatError, match="line 1, column FTHG: column appears twice"):
        parse(GOOD + ",1", header=HEADER + ",FTHG")
    with pytest.raises(CsvFormatError, match="line 1: no header row"):
        parse_football_data(b"", "E0.csv")


def test_unknown_extra_leagues_country() -> None:
    header = "Country,League,Season,Date,Time,Home,Away,HG,AG,Res"
    with pytest.raises(CsvFormatError) as err:
        parse("Atlantis,L,2019,01/08/2019,18:00,A,B,1,0,H", header=header, name="ATL.csv")
    assert (err.value.line, err.value.column) == (2, "Country")


# --- real-world variants (issue 11) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("01/09/2019", dt.date(2019, 9, 1)),
        ("1-9-19", dt.date(2019, 9, 1)),
        ("01.09.2019", dt.date(2019, 9, 1)),
        ("2019-09-01", dt.date(2019, 9, 1)),
        ("31.12.99", dt.date(1999, 12, 31)),
    ],
)
def test_day_first_dates_with_any_separator_and_iso(cell: str, expected: dt.date) -> None:
    frame = parse(f"E0,{cell},A,B,1,0,0,0,2,3,4").frame
    assert frame["kickoff"].dt.date.tolist() == [expected]


def test_month_first_files_are_refused_by_name() -> None:
    with pytest.raises(CsvFormatError) as err:
        parse("E0,08/09/2019,A,B,1,0,0,0,2,3,4", "E0,08/31/2019,C,D,1,0,0,0,2,3,4")
    assert (err.value.line, err.value.column) == (3, "Date")
    assert "month first" in str(err.value)


SHIFTED = "E0,02/09/2019,C,D,2,1,1,0,Bet365,2.1,3.4"  # a name where B365H belongs, shifted on


def test_a_stray_price_cell_drops_that_rows_prices_and_is_reported() -> None:
    imported = parse(GOOD, SHIFTED + ",3.9", "E0,03/09/2019,E,F,0,0,0,0,1.5,4,7")
    frame = imported.frame
    assert len(frame) == 3  # the match is kept
    kept = row_of(frame, "C", "D")
    assert (kept["fthg"], kept["ftag"], kept["hthg"]) == (2, 1, 1.0)
    assert all(math.isnan(kept[c]) for c in ODDS_COLUMNS) and kept["extra_odds"] == {}
    assert row_of(frame, "A", "B")["b365_home"] == 2.0  # other rows keep theirs
    assert row_of(frame, "E", "F")["b365_away"] == 7.0
    (dropped,) = imported.dropped_prices
    assert (dropped.line, dropped.column, dropped.value) == (3, "B365H", "Bet365")
    assert dropped.reason == "not a number"
    with pytest.raises(CsvFormatError) as err:
        parse_football_data("\n".join([HEADER, GOOD, SHIFTED + ",3.9"]), "E0.csv", strict=True)
    assert (err.value.line, err.value.column) == (3, "B365H")


def test_a_price_beyond_1000_is_not_a_price() -> None:
    imported = parse(GOOD, "E0,02/09/2019,C,D,1,0,0,0,2,1e300,4")
    assert math.isnan(row_of(imported.frame, "C", "D")["b365_home"])
    assert [(d.line, d.column) for d in imported.dropped_prices] == [(3, "B365D")]
    assert "not a price" in imported.dropped_prices[0].reason


def test_identity_problems_still_reject_the_file_in_lenient_mode() -> None:
    with pytest.raises(CsvFormatError, match="column FTHG: 'two' is not a whole number"):
        parse(GOOD, "E0,02/09/2019,C,D,two,1,0,0,Bet365,2.1,3.4")


EXTRA = "Country,League,Season,Date,Time,Home,Away,HG,AG,Res,PSCH,PSCD,PSCA"


def test_extra_layout_seasons_come_from_the_season_column() -> None:
    imported = parse(
        "Brazil,Serie A,2012,19/05/2012,21:00,Palmeiras,Portuguesa,1,1,D,2,3.3,4",
        "Brazil,Serie A,2012,02/12/2012,19:00,Santos,Palmeiras,3,1,H,1.9,3.5,4.2",
        "Brazil,Serie A,2013,25/05/2013,21:00,Santos,Flamengo,0,0,D,2.1,3.2,3.8",
        header=EXTRA,
        name="BRA.csv",
    )
    assert imported.frame["season"].tolist() == ["2012", "2012", "2013"]
    split = parse(
        "Russia,Premier League,2012/2013,21/07/2012,15:00,Zenit,Spartak,2,1,H,1.8,3.4,5",
        "Russia ,Premier League,2012/2013,26/05/2013,15:00,Spartak,Zenit,0,1,A,2.5,3.2,2.9",
        header=EXTRA,
        name="RUS.csv",
    )
    assert split.frame["season"].tolist() == ["2012-13", "2012-13"]
    assert split.frame["league"].tolist() == ["RUS", "RUS"]


def test_extra_layout_variants_no_country_misspelt_close_and_fixtures() -> None:
    header = "League,Season,Date,Time,Home,Away,HG,AG,Res,PCSH,PCSD,PCSA"
    imported = parse(
        "Serie A ,2024,13/04/2024,21:00,Internacional,Bahia,2,1,H,1.9,3.4,4.1",
        "Serie A,2024,08/12/2024,16:00,Bahia,Internacional,,,,2.2,3.3,3.3",
        header=header,
        name="/cache/new/BRA.csv",
    )
    frame = imported.frame
    assert frame["league"].tolist() == ["BRA"] and frame["season"].tolist() == ["2024"]
    assert frame["pinnacle_close_home"].tolist() == [1.9]  # PCSH is the site's typo of PSCH
    assert imported.rows_skipped_unplayed == 1
    with pytest.raises(CsvFormatError, match="column Country: missing required column"):
        parse("Serie A,2024,13/04/2024,21:00,A,B,2,1,H,1.9,3.4,4.1", header=header, name="x.csv")
    with pytest.raises(CsvFormatError, match="column Season: '2012/2014' is not a season"):
        parse(
            "Russia,L,2012/2014,21/07/2012,15:00,A,B,2,1,H,1.8,3.4,5", header=EXTRA, name="RUS.csv"
        )


# --- fuzzing: any text either parses or is refused with a location ---------------------------

_CELLS = st.sampled_from(
    [
        "E0",
        "01/09/2019",
        "2019-09-01",
        "A",
        "B",
        "1",
        "0",
        "2.5",
        "",
        " ",
        '"',
        "x",
        "\x00",
        "1e300",
        "-1",
        "99999999999",
        "H",
        "D",
        "Z",
        "\t",
        "é",
        "08/31/2019",
        "nan",
        "inf",
    ]
)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.lists(_CELLS | st.text(max_size=6), max_size=14), max_size=6),
    st.booleans(),
    st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_fuzzed_files_parse_or_raise_csv_format_error(
    rows: list[list[str]], strict: bool, newline: str
) -> None:
    text = newline.join([HEADER + ",FTR", *(",".join(row) for row in rows)])
    try:
        imported = parse_football_data(
            text.encode("utf-8", "surrogatepass"), "E0.csv", strict=strict
        )
    except CsvFormatError as exc:
        assert exc.line >= 1 and str(exc).startswith("E0.csv line")
    else:
        assert_canonical(imported.frame)
        assert len(imported.frame) <= len(rows)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=300))
def test_fuzzed_bytes_parse_or_raise_csv_format_error(data: bytes) -> None:
    try:
        parse_football_data(data, "E0.csv")
    except CsvFormatError as exc:
        assert exc.line >= 1


def test_the_fast_date_and_time_paths_read_what_the_regular_expressions_read() -> None:
    """Cells the code-point readers accept give the regex readers' values; others are left to
    the regexes (None), so no spelling is read two ways."""
    from filterbets_nb import importer

    dates = ["01/02/2020", "31/12/99", "05/06/89", "29/02/2021", "00/13/2020", "10/10/10"]
    fast = importer._slash_dates(np.array(dates))
    assert fast is not None
    slow = importer._any_dates(pd.Series(dates, dtype="str"))
    for mine, theirs in zip(fast, slow[:3], strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for other in (["1/02/2020"], ["01-02-2020"], ["2020-02-01"], ["01/02/2020", "ab/02/2020"]):
        assert importer._slash_dates(np.array(other)) is None
    times = np.array(["15:00", "", "09:45", "25:99"])
    hour, minute = importer._colon_times(times)  # type: ignore[misc]
    parts = pd.Series(times, dtype="str").str.extract(importer._TIME_RE)
    np.testing.assert_array_equal(hour, pd.to_numeric(parts[0]).to_numpy(dtype=float))
    np.testing.assert_array_equal(minute, pd.to_numeric(parts[1]).to_numpy(dtype=float))
    assert importer._colon_times(np.array(["9:45"])) is None


def test_a_load_report_names_a_few_leagues_and_counts_many() -> None:
    from filterbets_nb.loading import NAMED_LEAGUES, LoadReport

    few = LoadReport(added=2, updated=0, unchanged=1, leagues=["E0", "SP1"])
    assert str(few) == "2 added, 0 updated, 1 skipped (unchanged) in E0, SP1"
    codes = sorted(f"SYN{i}" for i in range(1, 879))  # as a load sorts them: SYN1, SYN10, ...
    line = str(LoadReport(added=10, updated=0, unchanged=0, leagues=codes))
    assert line.endswith("in 878 leagues (SYN1, SYN2, SYN3, ..., SYN878)")
    assert len(line) < 100 and NAMED_LEAGUES < 878
    assert str(LoadReport(added=0, updated=0, unchanged=0)).endswith("in no league")
