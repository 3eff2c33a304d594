"""Recency math: decay weights, the O(1) incremental decayed score against a full recompute,
and the per-listener model's use of the past only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.features.domain.recency import (
    DEFAULT_HALF_LIFE_DAYS,
    FEATURE_NAMES,
    SECONDS_PER_DAY,
    DecayedScore,
    bll_activation,
    candidate_mask,
    decayed_counts,
    exp_decay_weights,
    fit_recency_model,
    recency_features,
    window_counts,
)

DAY = int(SECONDS_PER_DAY)


def test_exp_decay_halves_every_half_life() -> None:
    ages = np.array([0, 90 * DAY, 180 * DAY])
    assert exp_decay_weights(ages) == pytest.approx([1.0, 0.5, 0.25])
    assert DEFAULT_HALF_LIFE_DAYS == 90.0
    assert exp_decay_weights(np.array([14 * DAY]), 14.0) == pytest.approx([0.5])


def test_counts_use_only_listens_before_the_moment() -> None:
    ts = np.array([0, 10 * DAY, 40 * DAY, 50 * DAY])
    artists = np.array([0, 1, 1, 0])
    at = 50 * DAY  # the listen stamped exactly at `at` is not before it
    assert window_counts(ts, artists, 2, at, 30.0).tolist() == [0.0, 1.0]
    assert decayed_counts(ts, artists, 2, at, 10.0) == pytest.approx([2**-5, 2**-4 + 2**-1])
    assert bll_activation(ts, artists, 2, at, 0.5) == pytest.approx([50**-0.5, 40**-0.5 + 10**-0.5])


@given(
    listens=st.lists(
        st.tuples(st.integers(0, 3 * 365 * DAY), st.floats(0.1, 10.0)), min_size=1, max_size=60
    ),
    later=st.integers(0, 365 * DAY),
    half_life=st.sampled_from([1.0, 14.0, 90.0, 365.0]),
)
def test_incremental_decayed_score_matches_full_recompute(
    listens: list[tuple[int, float]], later: int, half_life: float
) -> None:
    score = DecayedScore(half_life_days=half_life)
    for ts, weight in listens:  # arrival order, late listens included
        score.add(ts, weight)
    at = max(ts for ts, _ in listens) + later
    ages = np.array([at - ts for ts, _ in listens])
    weights = np.array([weight for _, weight in listens])
    expected = float(exp_decay_weights(ages, half_life) @ weights)
    assert score.value_at(at) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_features_rank_the_same_after_a_silent_gap() -> None:
    rng = np.random.default_rng(7)
    ts = np.sort(rng.integers(0, 200 * DAY, 400))
    artists = rng.integers(0, 12, 400)
    decay_columns = [i for i, name in enumerate(FEATURE_NAMES) if name.startswith("log_decayed")]
    soon = recency_features(ts, artists, 12, 201 * DAY)[:, decay_columns]
    after_a_year = recency_features(ts, artists, 12, 566 * DAY)[:, decay_columns]
    shift = soon - after_a_year
    assert np.allclose(shift, shift[0], atol=1e-9)


def test_model_never_sees_listens_after_the_fit_moment() -> None:
    rng = np.random.default_rng(3)
    ts = np.sort(rng.integers(0, 300 * DAY, 3000))
    artists = rng.integers(0, 30, 3000)
    at = 250 * DAY
    fitted = fit_recency_model(ts, artists, 30, at)
    future_changed = artists.copy()
    future_changed[ts >= at] = 0
    refitted = fit_recency_model(ts, future_changed, 30, at)
    assert np.array_equal(fitted.coef, refitted.coef)
    scores = fitted.score(ts, artists, 30, at)
    assert scores.shape == (30,) and np.isfinite(scores).all()


def test_a_short_past_falls_back_to_the_seed_decay() -> None:
    ts = np.array([0, DAY, 2 * DAY])
    artists = np.array([0, 1, 1])
    model = fit_recency_model(ts, artists, 2, 10 * DAY)
    scores = model.score(ts, artists, 2, 10 * DAY)
    assert scores[1] > scores[0]


def test_listening_days_count_a_binge_once_and_overdue_follows_the_artists_own_gap() -> None:
    # Artist 0: ten plays in one evening, 5.5 days ago. Artist 1: one play every 10 days for
    # 100 days, the last one 5 days ago. Artist 2: every 2 days, the last one 11 days ago.
    binge = [100 * DAY - 5 * DAY - DAY // 2 + i * 60 for i in range(10)]
    weekly = [100 * DAY - 5 * DAY - k * 10 * DAY for k in range(10)]
    daily = [100 * DAY - 11 * DAY - k * 2 * DAY for k in range(30)]
    ts = np.array(binge + weekly + daily)
    artists = np.array([0] * 10 + [1] * 10 + [2] * 30)
    order = np.argsort(ts, kind="stable")
    features = recency_features(ts[order], artists[order], 3, 100 * DAY)
    column = {name: features[:, i] for i, name in enumerate(FEATURE_NAMES)}
    assert np.expm1(column["log_listens_all"]).round().tolist() == [10, 10, 30]
    assert np.expm1(column["log_listening_days_all"]).round().tolist() == [1, 10, 30]
    assert np.expm1(column["log_typical_gap_days"][1:]).round().tolist() == [10, 2]
    # Same silence would be routine for artist 1 and long for artist 2.
    assert column["log_overdue"][2] > column["log_overdue"][1]


def test_the_model_reranks_a_shortlist_and_keeps_decayed_order_below_it() -> None:
    rng = np.random.default_rng(11)
    n_artists = 120
    ts = np.sort(rng.integers(0, 400 * DAY, 20_000))
    artists = (rng.zipf(1.3, ts.size) - 1) % n_artists
    at = 400 * DAY
    model = fit_recency_model(ts, artists, n_artists, at)
    assert model.candidates is not None
    scores = model.score(ts, artists, n_artists, at)
    shortlist = candidate_mask(ts, artists, n_artists, at, model.candidates)
    heard = np.bincount(artists, minlength=n_artists) > 0
    assert shortlist.sum() == min(model.candidates, int(heard.sum()))
    assert scores[shortlist].min() > scores[~shortlist].max()
    rest = np.flatnonzero(~shortlist & heard)
    decayed = decayed_counts(ts, artists, n_artists, at, 30.0)
    by_score = rest[np.argsort(-scores[rest], kind="stable")]
    assert np.all(np.diff(decayed[by_score]) <= 1e-12)
