"""Exclusions from the taste: the rules a listener can write, and the plays each leaves out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from services.features.domain.exclusions import (
    ExclusionError,
    build_exclusion,
    excluded_plays,
    keep_plays,
    parse_hours,
    parse_window,
)
from services.features.domain.taste import PlayColumns


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


PLAYS = PlayColumns(
    artist=["Baby Shark", "Deftones", "DEFTONES", "Burial", "Burial"],
    ended_at_s=np.array(
        [
            at("2020-04-01T09:00"),  # in the window
            at("2018-12-31T23:30"),  # before 2019 in UTC
            at("2021-06-01T02:00"),  # after May 2021, at night
            at("2022-01-10T23:00"),  # night in UTC
            at("2022-01-10T12:00"),
        ]
    ),
    ms_played=np.full(5, 200_000, dtype=np.int64),
    skipped=np.zeros(5, dtype=bool),
    track=["Baby Shark", "Change", "Digital Bath", "Archangel", "Near Dark"],
    track_uri=["", "", "", "", ""],
)
PLATFORMS = ["Living Room Speaker (Cast)", "iOS", "android", "windows", "Living Room Speaker"]


def excluded(time_zone: str = "UTC", **rule: str) -> list[bool]:
    exclusion = build_exclusion(uuid.uuid4(), time_zone=time_zone, **rule)
    return list(excluded_plays(PLAYS, PLATFORMS, [exclusion], time_zone))


def test_an_artist_any_case() -> None:
    assert excluded(artist="deftones") == [False, True, True, False, False]


def test_a_track_alone_or_of_one_artist() -> None:
    assert excluded(track="near dark") == [False, False, False, False, True]
    assert excluded(track="near dark", artist="Deftones") == [False] * 5


def test_time_windows_in_the_listeners_zone() -> None:
    assert excluded(window="2020-03-01..2020-06-30") == [True, False, False, False, False]
    assert excluded(window="before 2019") == [False, True, False, False, False]
    # in Kolkata (UTC+5:30) that 2018-12-31 23:30 UTC play was already in 2019
    assert excluded(window="before 2019", time_zone="Asia/Kolkata") == [False] * 5
    assert excluded(window="after 2021-05") == [False, False, True, True, True]
    assert excluded(window="since 2022") == [False, False, False, True, True]
    assert excluded(window="2020") == [True, False, False, False, False]


def test_a_platform_by_part_of_its_name_and_hours_that_wrap_midnight() -> None:
    assert excluded(platform="living room") == [True, False, False, False, True]
    assert excluded(hours="22-06") == [False, True, True, True, False]
    assert excluded(hours="night") == [False, False, True, False, False]
    # the kids' songs on the living-room speaker, in the morning only: every condition at once
    assert excluded(platform="living room", hours="morning") == [True, False, False, False, False]


def test_several_exclusions_leave_out_what_any_matches_and_keep_the_rest() -> None:
    rules = [
        build_exclusion(uuid.uuid4(), artist="Baby Shark"),
        build_exclusion(uuid.uuid4(), window="before 2019"),
    ]
    mask = excluded_plays(PLAYS, PLATFORMS, rules)
    kept, platforms = keep_plays(PLAYS, PLATFORMS, ~mask)
    assert kept.artist == ["DEFTONES", "Burial", "Burial"]
    assert list(kept.track) == ["Digital Bath", "Archangel", "Near Dark"]
    assert platforms == ["android", "windows", "Living Room Speaker"]


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ({}, "say what to exclude"),
        ({"window": "2020-06-30..2020-03-01"}, "ends before it starts"),
        ({"window": "last summer"}, "is not a time window"),
        ({"window": "2021-02-30"}, "not a date of the calendar"),
        ({"window": "before"}, "is not a time window"),
        ({"hours": "25-3"}, "give a band"),
        ({"hours": "6-6"}, "from and to differ"),
        ({"hours": "teatime"}, "give a band"),
        ({"artist": "x" * 501}, "at most 500 characters"),
        ({"artist": "Beyoncé\x00"}, "without NUL"),
    ],
)
def test_rules_that_cannot_be_applied_say_what_to_pass(rule: dict[str, str], says: str) -> None:
    with pytest.raises(ExclusionError, match=says):
        build_exclusion(uuid.uuid4(), **rule)


def test_window_and_hour_parsing() -> None:
    start, end = parse_window("2020-03..2020-03", "UTC")
    assert (start, end) == (datetime(2020, 3, 1, tzinfo=UTC), datetime(2020, 4, 1, tzinfo=UTC))
    assert parse_window("before 2019-07-15", "UTC") == (None, datetime(2019, 7, 15, tzinfo=UTC))
    assert parse_hours("evening") == (18, 24)
    assert parse_hours("22 - 6") == (22, 6)


def test_descriptions_name_what_is_left_out() -> None:
    rule = build_exclusion(uuid.uuid4(), artist="Baby Shark", platform="living room")
    assert rule.describe() == "plays of Baby Shark on living room"
    rule = build_exclusion(uuid.uuid4(), window="before 2019", hours="night")
    assert rule.describe() == "plays before 2019 at night"
    rule = build_exclusion(uuid.uuid4(), track="Near Dark", window="2020", hours="22-06")
    assert rule.describe() == "plays of “Near Dark” in 2020 at 22-06 h"
