"""Spotify sync domain on real recorded recently-played responses; schedule; sealed tokens."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from services.ingest.domain.sync import (
    DEFAULT_MIN_SYNC_INTERVAL_S,
    DEFAULT_SYNC_CRON,
    RecentlyPlayedError,
    ScheduleError,
    check_sync_interval,
    has_possible_gap,
    newest_cursor_ms,
    next_sync_at,
    next_sync_times,
    parse_played_at,
    plausible_batch,
    play_from_recently_played,
    plays_from_recently_played,
    sync_batch_from_pages,
    unix_ms,
)
from services.ingest.domain.token_box import TokenBox, TokenBoxError, TokenSet

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ZMB3_RECENTLY_PLAYED = SHARED_DATA / "spotify-api-zmb3" / "player_recently_played.txt"
JAVA_RECENTLY_PLAYED = (
    SHARED_DATA
    / "spotify-api-spotify-web-api-java"
    / "GetCurrentUsersRecentlyPlayedTracksRequest.json"
)


def _recorded(path: Path) -> dict[str, Any]:
    response: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return response


@pytest.fixture(scope="module")
def zmb3() -> dict[str, Any]:
    return _recorded(ZMB3_RECENTLY_PLAYED)


@pytest.fixture(scope="module")
def java() -> dict[str, Any]:
    return _recorded(JAVA_RECENTLY_PLAYED)


# --- recently-played items become plays ------------------------------------------------------


def test_every_recorded_item_becomes_an_api_play(
    zmb3: dict[str, Any], java: dict[str, Any]
) -> None:
    for response, count in ((zmb3, 20), (java, 2)):
        plays = plays_from_recently_played(response["items"])
        assert len(plays) == count
        assert {play.source for play in plays} == {"api"}
        assert [play.ended_at for play in plays] == sorted(play.ended_at for play in plays)
        for play in plays:
            assert play.ended_at.tzinfo is UTC and play.ended_at.microsecond == 0
            assert play.track_uri is not None and play.track_uri.startswith("spotify:track:")
            assert play.ms_played > 30_000


def test_a_play_ends_one_track_length_after_played_at(java: dict[str, Any]) -> None:
    newest = java["items"][0]  # Maceo Plex - Solitary Daze, 463,405 ms, played 15:43:33.750
    play = play_from_recently_played(newest)
    assert play.track_name == "Solitary Daze"
    assert play.artist_name == "Maceo Plex"  # the first of the track's two artists
    assert play.album_name == "Solitary Daze"
    assert play.track_uri == "spotify:track:7vqcDtNvoJn5pXhktc8qe8"
    assert play.ms_played == 463_405
    assert play.ended_at == datetime(2023, 9, 22, 15, 51, 17, tzinfo=UTC)
    assert play.play_key == "2023-09-22T15:51:17Z|spotify:track:7vqcDtNvoJn5pXhktc8qe8"


def test_recorded_history_shows_played_at_is_when_a_play_started(zmb3: dict[str, Any]) -> None:
    """The evidence behind ended_at = played_at + duration: gaps fit the EARLIER track."""
    oldest_first = zmb3["items"][::-1]
    fits_earlier = fits_later = later_too_short = 0
    for earlier, later in pairwise(oldest_first):
        gap_s = (
            parse_played_at(later["played_at"]) - parse_played_at(earlier["played_at"])
        ).total_seconds()
        fits_earlier += abs(gap_s - earlier["track"]["duration_ms"] / 1000) < 1.5
        fits_later += abs(gap_s - later["track"]["duration_ms"] / 1000) < 1.5
        later_too_short += gap_s > later["track"]["duration_ms"] / 1000 + 5 and gap_s < 3600
    assert fits_earlier >= 4
    assert fits_later == 0
    assert later_too_short >= 4  # impossible without pauses if played_at were the end


def test_items_without_a_track_are_left_out_and_broken_ones_rejected(
    java: dict[str, Any],
) -> None:
    item = java["items"][0]
    assert plays_from_recently_played([{**item, "track": None}, item]) == [
        play_from_recently_played(item)
    ]
    with pytest.raises(RecentlyPlayedError, match="played_at"):
        play_from_recently_played({**item, "played_at": "yesterday"})
    with pytest.raises(RecentlyPlayedError, match="duration_ms"):
        play_from_recently_played({**item, "track": {**item["track"], "duration_ms": None}})


@pytest.mark.parametrize("name", ["nul\x00inside", "lone \ud800 surrogate"])
def test_items_whose_names_cannot_be_stored_are_left_out(java: dict[str, Any], name: str) -> None:
    item = java["items"][0]
    unstorable = {**item, "track": {**item["track"], "name": name}}
    assert plays_from_recently_played([unstorable, item]) == [play_from_recently_played(item)]


# --- cursors and gaps ------------------------------------------------------------------------


def test_cursor_is_the_newest_played_at_even_when_the_recorded_cursor_trails_it(
    zmb3: dict[str, Any], java: dict[str, Any]
) -> None:
    # zmb3 recorded cursors.after=1495915674720 for a play at 20:07:54.721Z.
    assert zmb3["cursors"]["after"] == "1495915674720"
    assert newest_cursor_ms(zmb3) == unix_ms(parse_played_at("2017-05-27T20:07:54.721Z"))
    assert newest_cursor_ms(java) == int(java["cursors"]["after"]) == 1695397413750
    assert newest_cursor_ms({"items": [], "cursors": None}) is None


def test_a_sync_keeps_only_plays_after_the_previous_cursor(zmb3: dict[str, Any]) -> None:
    batch = sync_batch_from_pages([zmb3], after_ms=int(zmb3["cursors"]["after"]))
    assert [play.track_name for play in batch.plays] == ["The Sound Of Silence"]
    assert batch.cursor_ms == 1495915674721
    nothing_new = sync_batch_from_pages([{"items": [], "cursors": None}], after_ms=1495915674721)
    assert nothing_new.plays == () and nothing_new.cursor_ms == 1495915674721
    assert not nothing_new.possible_gap


def test_a_full_single_page_newer_than_the_cursor_is_a_possible_gap(zmb3: dict[str, Any]) -> None:
    oldest_ms = int(zmb3["cursors"]["before"])
    limit = len(zmb3["items"])  # the recording holds 20 items: treat 20 as the page size
    assert has_possible_gap([zmb3], after_ms=oldest_ms - 60_000, page_limit=limit)
    assert sync_batch_from_pages([zmb3], oldest_ms - 60_000, page_limit=limit).possible_gap
    # The previous cursor is inside the page: nothing can be missing.
    assert not has_possible_gap([zmb3], after_ms=oldest_ms, page_limit=limit)
    # Not a full page: Spotify returned everything since the cursor.
    assert not has_possible_gap([zmb3], after_ms=0, page_limit=limit + 1)
    # Paging went on past the first page, so it started at the cursor itself.
    assert not has_possible_gap([zmb3, zmb3], after_ms=0, page_limit=limit)
    # First sync: there is no previous cursor to have a gap after.
    assert not has_possible_gap([zmb3], after_ms=None, page_limit=limit)


def _restamped(item: dict[str, Any], played_at: str) -> dict[str, Any]:
    return {**item, "played_at": played_at}


def test_a_sync_rejects_plays_dated_outside_the_window_and_keeps_its_cursor_sane(
    zmb3: dict[str, Any],
) -> None:
    synced_at = datetime(2017, 6, 1, tzinfo=UTC)  # days after zmb3's recording
    real = zmb3["items"][:3]
    page = {
        "items": [
            _restamped(zmb3["items"][3], "9999-12-31T23:59:59Z"),
            _restamped(zmb3["items"][4], "2017-06-08T00:00:00.000Z"),  # a week ahead
            _restamped(zmb3["items"][5], "1970-01-01T00:00:00Z"),
            _restamped(zmb3["items"][6], "1900-01-01T00:00:00Z"),
            *real,
        ],
        "cursors": None,
    }
    batch = plausible_batch(sync_batch_from_pages([page], after_ms=None), synced_at)

    assert batch.rejected == {"dated in the future": 2, "dated before Spotify existed": 2}
    assert [play.track_uri for play in batch.plays] == [
        play.track_uri for play in plays_from_recently_played(real)
    ]
    # The 9999 play would have moved the cursor past every real play still to come.
    assert batch.cursor_ms == unix_ms(synced_at)


def test_a_sync_of_plausible_plays_is_left_as_it_is(zmb3: dict[str, Any]) -> None:
    batch = sync_batch_from_pages([zmb3], after_ms=None)
    assert plausible_batch(batch, datetime(2017, 6, 1, tzinfo=UTC)) == batch


# --- the sync schedule -----------------------------------------------------------------------


def test_default_schedule_is_three_times_a_day_on_the_listeners_clock() -> None:
    times = next_sync_times(DEFAULT_SYNC_CRON, "Asia/Karachi", datetime(2025, 1, 10, tzinfo=UTC), 4)
    assert times == [
        datetime(2025, 1, 10, 3, tzinfo=UTC),  # 08:00 PKT (UTC+5)
        datetime(2025, 1, 10, 9, tzinfo=UTC),
        datetime(2025, 1, 10, 17, tzinfo=UTC),
        datetime(2025, 1, 11, 3, tzinfo=UTC),
    ]


def test_schedule_follows_the_wall_clock_across_a_dst_change() -> None:
    spring = next_sync_times(
        DEFAULT_SYNC_CRON, "Europe/Berlin", datetime(2024, 3, 30, 12, tzinfo=UTC), 4
    )
    assert spring == [
        datetime(2024, 3, 30, 13, tzinfo=UTC),  # 14:00 CET
        datetime(2024, 3, 30, 21, tzinfo=UTC),  # 22:00 CET
        datetime(2024, 3, 31, 6, tzinfo=UTC),  # 08:00 CEST: clocks went forward overnight
        datetime(2024, 3, 31, 12, tzinfo=UTC),
    ]
    autumn = next_sync_times(
        DEFAULT_SYNC_CRON, "America/New_York", datetime(2024, 11, 2, 20, tzinfo=UTC), 3
    )
    assert autumn == [
        datetime(2024, 11, 3, 2, tzinfo=UTC),  # 22:00 EDT on Nov 2
        datetime(2024, 11, 3, 13, tzinfo=UTC),  # 08:00 EST: clocks went back overnight
        datetime(2024, 11, 3, 19, tzinfo=UTC),
    ]


def test_skipped_and_repeated_wall_clock_times_fire_once() -> None:
    skipped = next_sync_times(
        "30 2 * * *", "Europe/Berlin", datetime(2024, 3, 30, 12, tzinfo=UTC), 2
    )
    assert skipped == [
        datetime(2024, 3, 31, 1, tzinfo=UTC),
        datetime(2024, 4, 1, 0, 30, tzinfo=UTC),
    ]
    repeated = next_sync_times(
        "30 2 * * *", "Europe/Berlin", datetime(2024, 10, 26, 12, tzinfo=UTC), 2
    )
    assert repeated == [
        datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
        datetime(2024, 10, 28, 1, 30, tzinfo=UTC),
    ]


@pytest.mark.parametrize("cron", ["0 8,14,22 * *", "61 8 * * *", "every morning", "0 8 * * * *"])
def test_bad_cron_strings_say_what_a_schedule_looks_like(cron: str) -> None:
    with pytest.raises(ScheduleError, match="five cron fields"):
        next_sync_times(cron, "UTC", datetime(2025, 1, 1, tzinfo=UTC), 1)


def test_bad_time_zones_and_naive_times_are_refused() -> None:
    with pytest.raises(ScheduleError, match="IANA"):
        next_sync_times(DEFAULT_SYNC_CRON, "Mars/Olympus_Mons", datetime(2025, 1, 1, tzinfo=UTC), 1)
    with pytest.raises(ScheduleError, match="timezone-aware"):
        next_sync_times(DEFAULT_SYNC_CRON, "UTC", datetime(2025, 1, 1), 1)


@pytest.mark.parametrize(
    ("cron", "apart"),
    [
        ("* * * * *", "1 minute"),
        ("*/5 * * * *", "5 minutes"),
        ("0,10 8 * * *", "10 minutes"),
        ("55 23 * * *", None),  # once a day
        ("50 23 * * 1", None),  # once a week
        ("0,50 0,23 * * *", "10 minutes"),  # 23:50, then 00:00
        ("*/14 * * * 3", "14 minutes"),  # on one weekday only
    ],
)
def test_a_schedule_that_syncs_too_often_is_refused_naming_the_minimum(
    cron: str, apart: str | None
) -> None:
    after = datetime(2025, 1, 1, 12, tzinfo=UTC)
    if apart is None:
        check_sync_interval(cron, "Europe/Berlin", DEFAULT_MIN_SYNC_INTERVAL_S, after)
        return
    with pytest.raises(ScheduleError) as refused:
        check_sync_interval(cron, "Europe/Berlin", DEFAULT_MIN_SYNC_INTERVAL_S, after)
    assert f"syncs {apart} apart" in str(refused.value)
    assert "at least 15 minutes apart (SPOTIFY_MIN_SYNC_INTERVAL_S" in str(refused.value)
    assert DEFAULT_SYNC_CRON in str(refused.value)


def test_the_default_and_a_quarter_hourly_schedule_pass_a_bad_cron_still_fails() -> None:
    after = datetime(2025, 3, 28, tzinfo=UTC)  # a DST change inside the week read
    for cron in (DEFAULT_SYNC_CRON, "*/15 * * * *", "0 * * * *"):
        check_sync_interval(cron, "Europe/London", DEFAULT_MIN_SYNC_INTERVAL_S, after)
    check_sync_interval("* * * * *", "UTC", 0, after)  # no minimum on this server
    with pytest.raises(ScheduleError, match="five cron fields"):
        check_sync_interval("every minute", "UTC", 0, after)
    with pytest.raises(ScheduleError, match="IANA"):
        check_sync_interval(DEFAULT_SYNC_CRON, "Nowhere/Else", 900, after)


def test_a_stored_schedule_under_the_minimum_is_held_to_it() -> None:
    synced_at = datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC)
    assert next_sync_at("* * * * *", "UTC", synced_at, 900) == datetime(
        2025, 1, 1, 12, 16, tzinfo=UTC
    )
    assert next_sync_at(DEFAULT_SYNC_CRON, "UTC", synced_at, 900) == datetime(
        2025, 1, 1, 14, tzinfo=UTC
    )
    assert next_sync_at("* * * * *", "UTC", synced_at, 0) == datetime(2025, 1, 1, 12, 1, tzinfo=UTC)


# --- tokens at rest --------------------------------------------------------------------------

SECRET = "a-long-enough-test-secret-for-the-token-box"


def _tokens() -> TokenSet:
    return TokenSet(
        access_token="BQ-access-token-value",
        refresh_token="AQ-refresh-token-value",
        expires_at=datetime(2025, 1, 1, 12, tzinfo=UTC),
        scope="user-read-recently-played",
    )


def test_sealed_tokens_open_to_the_same_set_and_hide_the_tokens() -> None:
    box = TokenBox(SECRET)
    sealed = box.seal(_tokens())
    assert b"BQ-access-token-value" not in sealed and b"AQ-refresh" not in sealed
    assert box.open(sealed) == _tokens()
    assert TokenBox(SECRET).open(sealed) == _tokens()  # the key depends on the secret alone


def test_a_changed_secret_gives_a_clear_error() -> None:
    sealed = TokenBox(SECRET).seal(_tokens())
    with pytest.raises(TokenBoxError, match="secret differs"):
        TokenBox(SECRET + "-rotated").open(sealed)
    with pytest.raises(TokenBoxError, match="secret differs"):
        TokenBox(SECRET).open(sealed[:-4] + b"AAAA")
    with pytest.raises(TokenBoxError, match="at least 16"):
        TokenBox("short")


def test_token_set_repr_never_shows_tokens() -> None:
    tokens = _tokens()
    for text in (repr(tokens), str(tokens), f"{tokens}", repr([tokens]), repr(TokenBox(SECRET))):
        assert "BQ-access" not in text and "AQ-refresh" not in text and SECRET not in text
    assert "user-read-recently-played" in repr(tokens)


def test_token_set_expiry_margin() -> None:
    tokens = _tokens()
    assert tokens.expires_within(tokens.expires_at - timedelta(seconds=30))
    assert not tokens.expires_within(tokens.expires_at - timedelta(minutes=5))
