"""Features' taste math: recent plays weigh more, skips are counted, endorsement and tags."""

from __future__ import annotations

import numpy as np
import pytest

from services.features.domain.recency import exp_decay_weights
from services.features.domain.taste import (
    DAY_S,
    PlayColumns,
    TrackStats,
    artist_stats,
    tag_profile,
    track_stats,
)

NOW = 1_700_000_000.0


def plays(rows: list[tuple[str, float, int, bool]]) -> PlayColumns:
    return PlayColumns(
        artist=[row[0] for row in rows],
        ended_at_s=np.array([NOW - row[1] * DAY_S for row in rows]),
        ms_played=np.array([row[2] for row in rows], dtype=np.int64),
        skipped=np.array([row[3] for row in rows], dtype=bool),
    )


def test_a_play_one_half_life_ago_weighs_half() -> None:
    weights = exp_decay_weights(np.array([0.0, 90 * DAY_S, 180 * DAY_S]), 90.0)
    assert weights == pytest.approx([1.0, 0.5, 0.25])


def test_recent_listens_outweigh_the_same_number_of_old_ones() -> None:
    stats = artist_stats(
        plays([("Recent", 2, 200_000, False)] * 5 + [("Old", 400, 200_000, False)] * 5), NOW
    )
    by_artist = {s.artist: s for s in stats}
    assert by_artist["Recent"].listens == by_artist["Old"].listens == 5
    assert by_artist["Recent"].decayed_weight > 10 * by_artist["Old"].decayed_weight
    assert [s.artist for s in stats] == ["Recent", "Old"]
    assert by_artist["Recent"].endorsement == 1.0
    assert by_artist["Old"].endorsement == pytest.approx(
        np.sqrt(by_artist["Old"].decayed_weight / by_artist["Recent"].decayed_weight)
    )


def test_short_and_skipped_plays_are_skips_not_listens() -> None:
    stats = artist_stats(
        plays(
            [
                ("Band", 1, 10_000, True),  # a skip under 30 s
                ("Band", 1, 29_999, False),  # short: not a listen
                ("Band", 1, 45_000, True),  # flagged skipped but played: a listen and a skip
                ("Band", 3, 200_000, False),
            ]
        ),
        NOW,
    )
    (band,) = stats
    assert (band.plays, band.listens, band.skips) == (4, 2, 3)
    assert band.ms_played == 10_000 + 29_999 + 45_000 + 200_000
    assert band.first_listen is not None and band.last_listen is not None
    assert band.first_listen < band.last_listen


def test_an_artist_never_listened_to_has_no_weight() -> None:
    (only_skips,) = artist_stats(plays([("Skipper", 1, 5_000, True)]), NOW)
    assert only_skips.decayed_weight == 0.0 and only_skips.first_listen is None


def test_tag_profile_follows_endorsement_and_sums_to_one() -> None:
    profile = tag_profile(
        {"A": 1.0, "B": 0.25, "C": 0.5},
        {"A": {"grime": 100, "uk": 50}, "B": {"reggaeton": 100}},
    )
    assert sum(profile.values()) == pytest.approx(1.0)
    assert list(profile) == ["grime", "uk", "reggaeton"]
    assert profile["grime"] == pytest.approx(2 * profile["uk"])
    assert tag_profile({"C": 1.0}, {}) == {}


def test_track_listens_follow_the_listen_threshold_and_keep_a_uri() -> None:
    columns = PlayColumns(
        artist=["Kano", "Kano", "Kano", "Kano", "Skepta", "Skepta"],
        ended_at_s=np.full(6, NOW),
        ms_played=np.array([200_000, 40_000, 10_000, 200_000, 200_000, 200_000]),
        skipped=np.zeros(6, dtype=bool),
        track=["P's & Q's", "P's & Q's", "P's & Q's", "3 Wheel-ups", "Shutdown", None],
        track_uri=["spotify:track:b", None, "spotify:track:a", None, "spotify:track:s", None],
    )
    assert track_stats(columns) == [
        TrackStats("Kano", "P's & Q's", "spotify:track:b", 2),  # the 10 s play is no listen
        TrackStats("Kano", "3 Wheel-ups", None, 1),
        TrackStats("Skepta", "Shutdown", "spotify:track:s", 1),
    ]
    assert [t.listens for t in track_stats(columns, min_listen_ms=100_000)] == [1, 1, 1]
