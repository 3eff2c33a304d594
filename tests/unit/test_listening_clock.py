"""The listening clock (every hour of every weekday) and each year's top artists and tags, in
the listener's own time zone: a play late in a UTC day is the local hour, weekday and year it
was where the listener lives."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.features.domain.contexts import ClockHour, listening_clock, yearly_tops
from services.features.domain.details import taste_details
from tests.unit.test_contexts import history, taste

TASTES = [taste(1, "Nils Frahm"), taste(2, "Daft Punk")]
TAGS = {
    "Nils Frahm": {"ambient": 100.0, "piano": 50.0},
    "Daft Punk": {"electronic": 100.0, "house": 80.0},
}


# 2024-03-01 is a Friday; 2023-12-31 a Sunday. Tokyo is UTC+9, São Paulo UTC-3 (no DST).
PLAYS = history(
    [
        ("Daft Punk", "2024-03-01 23:30", 200_000),  # Tokyo Sat 08:30; São Paulo Fri 20:30
        ("Daft Punk", "2024-03-08 23:30", 200_000),  # a week later, the same local hour
        ("Nils Frahm", "2024-03-08 23:40", 200_000),
        ("Nils Frahm", "2023-12-31 23:30", 200_000),  # Tokyo: 2024-01-01 08:30, a Monday
        ("Nils Frahm", "2024-03-09 23:30", 5_000),  # a skip: not a listen
    ]
)


def cells(clock: list[ClockHour]) -> dict[tuple[int, int], ClockHour]:
    return {(hour.weekday, hour.hour): hour for hour in clock if hour.listens}


def test_a_late_utc_play_counts_at_the_listeners_local_hour_and_weekday() -> None:
    tokyo = listening_clock(PLAYS, TASTES, time_zone="Asia/Tokyo")
    assert len(tokyo) == 7 * 24 and (tokyo[0].weekday, tokyo[0].hour) == (0, 0)
    assert [(h.weekday, h.hour) for h in tokyo[:2]] == [(0, 0), (0, 1)]
    busy = cells(tokyo)
    assert set(busy) == {(5, 8), (0, 8)}  # Saturday 08:00 and Monday 08:00
    saturday = busy[(5, 8)]
    assert saturday.listens == 3
    assert saturday.cluster_shares == pytest.approx({2: 2 / 3, 1: 1 / 3})
    assert tokyo[0].listens == 0 and tokyo[0].cluster_shares == {}

    sao_paulo = cells(listening_clock(PLAYS, TASTES, time_zone="America/Sao_Paulo"))
    assert set(sao_paulo) == {(4, 20), (6, 20)}  # Friday 20:00 and Sunday 20:00
    assert sum(h.listens for h in listening_clock(PLAYS, TASTES)) == 4  # every listen, once


def test_each_year_in_the_listeners_zone_has_its_top_artists_and_tags() -> None:
    tokyo = yearly_tops(PLAYS, TAGS, time_zone="Asia/Tokyo")
    assert [(y.year, y.listens) for y in tokyo] == [(2024, 4)]  # New Year's Eve is 2024 there
    assert tokyo[0].top_artists == (("Daft Punk", 2), ("Nils Frahm", 2))  # ties by name
    utc = yearly_tops(PLAYS, TAGS)
    assert [(y.year, y.listens) for y in utc] == [(2024, 3), (2023, 1)]  # newest first
    assert utc[0].top_artists == (("Daft Punk", 2), ("Nils Frahm", 1))
    tags = dict(utc[0].top_tags)
    assert next(iter(tags)) == "electronic" and sum(tags.values()) == pytest.approx(1.0)
    assert tags["electronic"] == pytest.approx(2 * 1.0 / (2 * 1.8 + 1.5))
    assert utc[1].top_tags == (
        ("ambient", pytest.approx(1 / 1.5)),
        ("piano", pytest.approx(0.5 / 1.5)),
    )


def test_the_stored_details_hold_the_clock_and_the_years_as_json() -> None:
    details = taste_details(
        PLAYS, ["ios"] * len(PLAYS.artist), datetime(2024, 4, 1, tzinfo=UTC), TAGS,
        time_zone="Asia/Tokyo",
    )  # fmt: skip
    assert json.loads(json.dumps(details)) == details
    assert len(details["clock"]) == 168
    saturday = details["clock"][5 * 24 + 8]
    assert (saturday["weekday"], saturday["hour"], saturday["listens"]) == (5, 8, 3)
    assert details["years"][0]["year"] == 2024
    assert details["years"][0]["top_artists"] == [["Daft Punk", 2], ["Nils Frahm", 2]]
