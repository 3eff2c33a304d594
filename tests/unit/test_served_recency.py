"""The recency weights features serves: fitted to the listener's own past when it is long
enough (with a time-ordered validation split), the fixed half-life otherwise, and the same
weights in the profile's artist stats; plus the fit's shortcuts against the plain formulas."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from services.features.domain.listener import ListenRules, listener_as_of
from services.features.domain.recency import (
    FEATURE_HALF_LIVES_DAYS,
    TRAINING_MAX_CUTOFFS,
    VALIDATION_CUTOFFS,
    CarriedLogDecays,
    ListeningDayPairs,
    _listening_days,
    _listens_before,
    candidate_mask,
    decayed_counts,
    fit_listener_recency,
    fit_recency_model,
    log_decayed_counts,
    recency_features,
    recency_weights,
    relisten_training_set,
)
from services.features.domain.taste import PlayColumns, weighed_artists

DAY = 86_400.0
N_ACTIVE = 40
N_OLD_FAVOURITES = 8


def _streaks_and_old_favourites(days: int = 400) -> tuple[np.ndarray, np.ndarray, float]:
    """A listener who plays each of 40 artists in streaks (five plays a week for 3-8 weeks,
    then weeks of silence), and 8 old favourites played 600 times each between days 150 and
    250 and never again. Next month's relistens are, by construction, the artists of the current
    streaks; a 90-day decay still ranks the old favourites' mass above them."""
    rng = np.random.default_rng(21)
    ts: list[float] = []
    artists: list[int] = []
    for artist in range(N_ACTIVE):
        week = int(rng.integers(0, 10))
        while week * 7 < days:
            for _ in range(int(rng.integers(3, 9))):
                for play in range(5):
                    ts.append((week * 7 + play + rng.uniform(0, 1)) * DAY)
                    artists.append(artist)
                week += 1
            week += int(rng.integers(4, 12))
    for favourite in range(N_ACTIVE, N_ACTIVE + N_OLD_FAVOURITES):
        ts.extend(rng.uniform(150, 250, 600) * DAY)
        artists.extend([favourite] * 600)
    order = np.argsort(ts, kind="stable")
    return np.array(ts)[order], np.array(artists)[order], float(days) * DAY


def test_a_listener_with_a_short_memory_gets_weights_that_forget_the_old_favourites() -> None:
    ts, artists, at = _streaks_and_old_favourites()
    n_artists = N_ACTIVE + N_OLD_FAVOURITES
    served = recency_weights(ts, artists, n_artists, at)
    assert served.fit.fitted, served.fit.describe()
    this_week = np.unique(artists[(ts >= at - 7 * DAY) & (ts < at)])
    assert this_week.size > 0 and (this_week < N_ACTIVE).all()
    favourites = np.arange(N_ACTIVE, n_artists)
    # The construction holds: the seed's 90-day decay ranks an old favourite above someone
    # in a current streak ...
    fixed = decayed_counts(ts, artists, n_artists, at, 90.0)
    assert fixed[favourites].max() > fixed[this_week].min()
    # ... and the fitted weights put every current streak above every old favourite.
    assert served.weights[this_week].min() > served.weights[favourites].max()
    assert ((served.weights >= 0) & (served.weights <= 1)).all()


def test_the_validation_weeks_are_the_newest_and_both_ways_are_scored_on_them() -> None:
    ts, artists, at = _streaks_and_old_favourites()
    fit = fit_listener_recency(ts, artists, N_ACTIVE + N_OLD_FAVOURITES, at)
    assert fit.validation_cutoffs == VALIDATION_CUTOFFS
    # On this listener the fitted model ranks the held-out weeks better than the fixed decay.
    assert fit.validation_ndcg_fitted > fit.validation_ndcg_fixed
    assert f"{fit.validation_ndcg_fitted:.3f}" in fit.describe()


def test_a_history_too_short_to_fit_gets_the_fixed_half_life_and_says_so() -> None:
    ts = np.sort(np.random.default_rng(2).uniform(0, 50 * DAY, 300))
    artists = np.random.default_rng(3).integers(0, 6, ts.size)
    at = 50 * DAY
    served = recency_weights(ts, artists, 6, at, half_life_days=90.0)
    assert not served.fit.fitted
    assert "too short" in served.fit.describe() and "90-day half-life" in served.fit.describe()
    assert served.weights == pytest.approx(decayed_counts(ts, artists, 6, at, 90.0), rel=1e-12)


def test_the_profile_weights_are_the_fitted_rankers_chances_when_it_fits() -> None:
    ts, artists, at = _streaks_and_old_favourites()
    names = [f"artist {i:02d}" for i in range(N_ACTIVE + N_OLD_FAVOURITES)]
    plays = PlayColumns(
        artist=[names[i] for i in artists],
        ended_at_s=ts,
        ms_played=np.full(ts.size, 200_000),
        skipped=np.zeros(ts.size, dtype=bool),
    )
    stats, fit = weighed_artists(plays, at)
    assert fit.fitted
    model = fit_recency_model(ts, artists, len(names), at)
    chance = 1.0 / (1.0 + np.exp(-model.score(ts, artists, len(names), at)))
    assert {s.artist: s.decayed_weight for s in stats} == pytest.approx(
        dict(zip(names, chance, strict=True)), rel=1e-9
    )
    listener = listener_as_of(plays, datetime.fromtimestamp(at, UTC), {}, ListenRules())
    assert listener.recency is not None and listener.recency.fitted
    assert [s.decayed_weight for s in listener.stats] == [s.decayed_weight for s in stats]
    fixed = listener_as_of(
        plays, datetime.fromtimestamp(at, UTC), {}, ListenRules(fit_recency=False)
    )
    assert fixed.recency is not None and not fixed.recency.fitted
    assert fixed.stats[0].decayed_weight > 1.0  # a decayed count, not a chance


def test_listening_days_seen_from_earlier_whole_days_match_the_plain_count() -> None:
    rng = np.random.default_rng(8)
    at = 300 * DAY
    ts = rng.integers(0, 300, 4000) * DAY + rng.choice([0.0, 3600.0, 0.5 * DAY], 4000)
    artists = rng.integers(0, 25, ts.size)
    pairs = ListeningDayPairs.at(ts, artists, at)
    for days_back in (30, 37, 100, 250):
        # Listens stamped exactly at the earlier moment are not in its past.
        ages, heard = _listens_before(ts, artists, at - days_back * DAY)
        expected = _listening_days(ages, heard)
        got = pairs.before(days_back)
        assert all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True)), days_back


def test_carried_decayed_counts_match_the_sum_over_the_whole_past() -> None:
    rng = np.random.default_rng(5)
    ts = np.sort(rng.uniform(0, 800 * DAY, 20_000))
    artists = (rng.zipf(1.4, ts.size) - 1) % 120
    carried = CarriedLogDecays(ts, artists, 120)
    for moment in (300 * DAY, 307 * DAY, 314.5 * DAY, 700 * DAY):
        ages, heard = _listens_before(ts, artists, moment)
        days_since_last = np.full(120, np.inf)
        np.minimum.at(days_since_last, heard, ages)
        for column, half_life in zip(carried.at(moment), FEATURE_HALF_LIVES_DAYS, strict=True):
            direct = log_decayed_counts(ages, heard, days_since_last, half_life)
            assert column == pytest.approx(direct, abs=1e-9), (moment, half_life)


def test_the_fits_weekly_shortlists_are_the_plain_shortlists_even_after_a_long_silence() -> None:
    rng = np.random.default_rng(9)
    ts = rng.uniform(0, 500 * DAY, 30_000)  # not in time order, as stored plays may come
    artists = (rng.zipf(1.3, ts.size) - 1) % 300
    at = 900 * DAY  # 400 silent days before the fit moment: weeks with nothing to learn
    examples = relisten_training_set(ts, artists, 300, at)
    assert len(examples.cutoffs) == TRAINING_MAX_CUTOFFS
    assert max(examples.cutoffs) <= 500 * DAY
    for moment, (features, shortlist) in examples.moments.items():
        assert np.array_equal(shortlist, candidate_mask(ts, artists, 300, moment, 50)), moment
        plain = recency_features(ts, artists, 300, moment)
        assert features == pytest.approx(plain, abs=1e-9), moment
