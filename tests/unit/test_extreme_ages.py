"""The decay math over any stored play time: a play stamped 9999-12-31, in 1900 or at epoch 0
(issue 13: one such play made a listener's endorsements NaN and their set one score) never
gives an inf or NaN weight, in features' recency and taste math or in the model's scoring."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from services.features.domain.listener import ListenRules, listener_as_of
from services.features.domain.recency import (
    DecayedScore,
    bll_activation,
    decayed_counts,
    exp_decay_weights,
    recency_features,
)
from services.features.domain.taste import PlayColumns, artist_stats, tag_profile
from services.model.domain.scoring import HybridWeights, ScoringInputs, score_candidates

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
DAY_S = 86_400.0
FAR_FUTURE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
EXTREMES = {
    "9999-12-31": FAR_FUTURE,
    "a week ahead": NOW + 7 * DAY_S,
    "1900-01-01": datetime(1900, 1, 1, tzinfo=UTC).timestamp(),
    "epoch 0": 0.0,
    "year 1": datetime(1, 1, 1, tzinfo=UTC).timestamp(),
}
TAGS = {
    "Normal A": {"indie": 100.0, "rock": 40.0},
    "Normal B": {"jazz": 100.0},
    "Normal C": {"indie": 60.0, "folk": 100.0},
    "Odd": {"noise": 100.0},
}


def _history(odd_ts: float) -> PlayColumns:
    """A normal month of three artists, and one play of "Odd" at `odd_ts`."""
    rows = [("Normal A", NOW - day * DAY_S) for day in range(1, 30)]
    rows += [("Normal B", NOW - day * DAY_S) for day in range(3, 30, 3)]
    rows += [("Normal C", NOW - day * DAY_S) for day in range(10, 30, 10)]
    rows.append(("Odd", odd_ts))
    return PlayColumns(
        artist=[artist for artist, _ in rows],
        ended_at_s=np.array([ts for _, ts in rows]),
        ms_played=np.full(len(rows), 200_000, dtype=np.int64),
        skipped=np.zeros(len(rows), dtype=bool),
    )


@pytest.mark.parametrize("odd_ts", EXTREMES.values(), ids=EXTREMES.keys())
def test_decay_weights_stay_between_zero_and_one(odd_ts: float) -> None:
    weights = exp_decay_weights(np.array([NOW - odd_ts, 0.0, 30 * DAY_S]), 1.0)
    assert np.isfinite(weights).all()
    assert ((weights >= 0.0) & (weights <= 1.0)).all()


@pytest.mark.parametrize("odd_ts", EXTREMES.values(), ids=EXTREMES.keys())
def test_one_extreme_play_leaves_the_listeners_endorsements_and_tags_sane(odd_ts: float) -> None:
    stats = artist_stats(_history(odd_ts), NOW, 30.0)
    by_artist = {s.artist: s for s in stats}
    assert all(math.isfinite(s.decayed_weight) and math.isfinite(s.endorsement) for s in stats)
    # one play, however dated, weighs at most one fresh listen: the month of Normal A leads
    assert stats[0].artist == "Normal A" and stats[0].endorsement == 1.0
    assert by_artist["Odd"].decayed_weight <= 1.0
    assert len({s.endorsement for s in stats}) == len(stats)
    profile = tag_profile({s.artist: s.endorsement for s in stats}, TAGS)
    assert profile and math.isclose(sum(profile.values()), 1.0)
    assert next(iter(profile)) == "indie"


@pytest.mark.parametrize("odd_ts", EXTREMES.values(), ids=EXTREMES.keys())
def test_the_listener_as_of_now_is_sane_with_an_extreme_play(odd_ts: float) -> None:
    listener = listener_as_of(
        _history(odd_ts), datetime.fromtimestamp(NOW, UTC), TAGS, ListenRules(half_life_days=1.0)
    )
    assert all(
        math.isfinite(s.decayed_weight) and math.isfinite(s.endorsement) for s in listener.stats
    )
    assert listener.tags and all(math.isfinite(weight) for weight in listener.tags.values())


@pytest.mark.parametrize("odd_ts", EXTREMES.values(), ids=EXTREMES.keys())
def test_recency_counts_and_features_stay_finite(odd_ts: float) -> None:
    history = _history(odd_ts)
    names, artist_idx = np.unique(np.asarray(history.artist, dtype=object), return_inverse=True)
    for at in (NOW, odd_ts + 1.0):
        for values in (
            decayed_counts(history.ended_at_s, artist_idx, len(names), at, 1.0),
            bll_activation(history.ended_at_s, artist_idx, len(names), at),
            recency_features(history.ended_at_s, artist_idx, len(names), at),
        ):
            assert np.isfinite(values).all()


@pytest.mark.parametrize("odd_ts", EXTREMES.values(), ids=EXTREMES.keys())
def test_an_incremental_score_is_never_grown_by_an_extreme_moment(odd_ts: float) -> None:
    score = DecayedScore(half_life_days=1.0)
    score.add(NOW)
    score.add(odd_ts)
    for moment in (odd_ts, NOW, 0.0, FAR_FUTURE):
        value = score.value_at(moment)
        assert math.isfinite(value) and 0.0 <= value <= 2.0


@pytest.mark.parametrize("stored", [math.inf, math.nan, -1.0], ids=["inf", "nan", "negative"])
def test_scores_stay_finite_and_distinct_with_a_broken_stored_weight(stored: float) -> None:
    """A decayed weight stored by the old decay (inf, or NaN) seeds nothing; the other seeds
    still rank the candidates."""
    inputs = ScoringInputs(
        known_artists={"Bad Bunny": 12.0, "Arctic Monkeys": 3.0, "Odd": stored},
        artist_tags={
            "Bad Bunny": {"reggaeton": 100.0},
            "Arctic Monkeys": {"indie": 100.0},
            "Odd": {"noise": 100.0},
            "Karol G": {"reggaeton": 100.0},
            "The Strokes": {"indie": 100.0},
            "Merzbow": {"noise": 100.0},
        },
        similar_artists={
            "Bad Bunny": [("Karol G", 1.0)],
            "Arctic Monkeys": [("The Strokes", 1.0)],
            "Odd": [("Merzbow", 1.0)],
        },
        listeners={"Karol G": 2_000_000, "The Strokes": 3_000_000, "Merzbow": 90_000},
        popularity_reference=7_000_000,
    )
    for weights in (HybridWeights(), HybridWeights(seed_weighting="rank")):
        ranked = score_candidates(inputs, None, weights)
        scores = [scored.score for scored in ranked]
        assert all(math.isfinite(score) for score in scores)
        assert len(set(scores)) == len(scores)
        assert ranked[0].artist == "Karol G"
