"""Explanations made of names: the liked-artist forest's probability decomposed exactly into the
candidate's inputs and merged into the causes the score names, no catch-all above 20% even for
a listener with hundreds of linking artists and dozens of tags, a because line that says what
it leaves out, and the lab's figures computed by the service's own code on a real history."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from treeinterpreter import treeinterpreter

from services.model.domain.colistening import co_listening_causes, co_listening_scores
from services.model.domain.explain import because_line, because_reasons
from services.model.domain.explanation import (
    CATCH_ALLS,
    explain,
    line_named_share,
    named_shares,
)
from services.model.domain.habits import RECENT, RECENT_PREFIX, grouped_by_habit, seed_habit
from services.model.domain.learning import (
    ListenerView,
    ModelParams,
    pool_inputs,
    ranked_for_set,
    serving_inputs,
)
from services.model.domain.liked import (
    PARAM_GRID,
    ArtistHistory,
    LabelRule,
    _forest,
    artist_features,
    forest_contributions,
    liked_causes,
    liked_examples,
    liked_probabilities,
    tag_vocabulary,
)
from services.model.domain.scoring import (
    CO_LISTENING,
    LIKED_MODEL,
    OTHER_SEEDS,
    POPULARITY,
    SEED_PREFIX,
    HybridWeights,
    ScoringInputs,
    score_candidates,
    seed_label,
    tag_label,
)
from tools.lab import explanations as lab

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def hard_listener(
    n_known: int = 400, n_tags: int = 80, n_candidates: int = 60, seed: int = 5
) -> tuple[ListenerView, ModelParams]:
    """Hundreds of artists with many tags, liked ones leaning to a few; every candidate is
    listed as similar by a hundred or more of them and carries dozens of tags; the model leans
    on the liked-artist forest (weight 3)."""
    rng = np.random.default_rng(seed)
    tags = [f"genre {i:02d}" for i in range(n_tags)]
    known = [f"artist {i:03d}" for i in range(n_known)]
    candidates = [f"candidate {i:02d}" for i in range(n_candidates)]
    artist_tags: dict[str, dict[str, float]] = {}
    histories = []
    for artist in known:
        chosen = rng.choice(n_tags, size=30, replace=False)
        artist_tags[artist] = {tags[t]: float(rng.integers(1, 101)) for t in chosen}
        liked = bool(set(chosen.tolist()) & {0, 1, 2})
        plays = int(rng.integers(20, 80)) if liked else int(rng.integers(2, 20))
        histories.append(ArtistHistory(artist, plays, plays, 0, plays * rng.uniform(0.5, 1.0)))
    for artist in candidates:
        chosen = rng.choice(n_tags, size=40, replace=False)
        artist_tags[artist] = {tags[t]: float(rng.integers(1, 101)) for t in chosen}
    similar = {
        artist: [
            (candidates[j], float(rng.uniform(0.1, 1.0)))
            for j in rng.choice(n_candidates, size=20, replace=False)
        ]
        for artist in known
    }
    scoring = ScoringInputs(
        known_artists={h.artist: h.decayed_weight for h in histories},
        artist_tags=artist_tags,
        similar_artists=similar,
        listeners={artist: float(rng.lognormal(8.0, 2.0)) for artist in [*known, *candidates]},
        popularity_reference=1e7,
    )
    params = ModelParams(HybridWeights(liked=3.0), dict(PARAM_GRID[0]), LabelRule(), seed=0)
    return ListenerView(scoring, histories, candidates), params


def test_the_forest_contributions_are_exact_and_merge_into_the_candidates_own_inputs() -> None:
    now, params = hard_listener()
    examples = liked_examples(now.histories, params.label)
    explained = liked_causes(examples, now.candidates, now.scoring, PARAM_GRID[0])
    probabilities = liked_probabilities(examples, now.candidates, now.scoring, PARAM_GRID[0])
    for candidate in now.candidates:
        causes = explained[candidate]
        assert causes.probability == probabilities[candidate]
        # balanced class weights: every tree's root is half liked
        assert causes.bias == pytest.approx(0.5, abs=1e-12)
        total = causes.bias + math.fsum(causes.causes.values()) + causes.absent
        assert total == pytest.approx(causes.probability, abs=1e-9)
        linking = {
            s
            for s, pairs in now.scoring.similar_artists.items()
            for c, _ in pairs
            if c == candidate
        }
        named_seeds = {label for label in causes.causes if label.startswith("similar to ")}
        assert named_seeds == {seed_label(seed) for seed in linking}
        named_tags = {label for label in causes.causes if label.startswith("tag ")}
        assert named_tags <= {tag_label(tag) for tag in now.scoring.artist_tags[candidate]}
        assert POPULARITY in causes.causes

    # the same per-feature values as treeinterpreter 0.2.3's
    vocabulary = tag_vocabulary(now.scoring)
    forest = _forest(PARAM_GRID[0], 0).fit(
        artist_features(examples.artists, now.scoring, vocabulary), examples.labels
    )
    features = artist_features(now.candidates, now.scoring, vocabulary)
    biases, contributions = forest_contributions(forest, features)
    _, reference_bias, reference = treeinterpreter.predict(forest, features)
    liked = list(forest.classes_).index(True)
    np.testing.assert_allclose(contributions.toarray(), reference[:, :, liked], atol=1e-12)
    np.testing.assert_allclose(biases, reference_bias[:, liked], atol=1e-12)
    assert (
        np.abs(
            biases
            + np.asarray(contributions.sum(axis=1)).ravel()
            - forest.predict_proba(features)[:, liked]
        ).max()
        < 1e-9
    )


def test_merged_parts_sum_to_the_unchanged_score_and_no_catch_all_carries_over_a_fifth() -> None:
    now, params = hard_listener()
    inputs = serving_inputs(now, params)
    assert inputs.liked_causes and inputs.liked_probability
    explained = score_candidates(inputs, now.candidates, params.weights)
    without = {
        item.artist: item
        for item in score_candidates(
            replace(inputs, liked_causes={}), now.candidates, params.weights
        )
    }
    liked_shares = []
    for item in explained:
        assert item.score == pytest.approx(without[item.artist].score, rel=1e-12)
        assert math.fsum(item.parts.values()) == item.score
        assert all(value > 0 for value in item.parts.values())
        assert LIKED_MODEL not in item.parts  # replaced by the causes it came from
        assert LIKED_MODEL in without[item.artist].parts
        liked_shares.append(without[item.artist].parts[LIKED_MODEL] / item.score)
        for label, value in item.parts.items():
            if label in CATCH_ALLS:
                assert value / item.score <= 0.2, (item.artist, label)
        because, breakdown = explain(item.parts)
        assert sum(part["percent"] for part in breakdown) == 100
        in_parts, in_line = named_shares(item.parts)
        assert in_parts >= 0.8 and in_line >= 0.7, (item.artist, because)
    # the forest carries a real share of these scores: its decomposition is what is tested
    assert statistics.median(liked_shares) > 0.3


def test_the_because_line_says_what_it_leaves_out() -> None:
    assert because_line({"reggaeton": 9.0, "indie": 6.0, "recent plays": 5.0}) == (
        "because: 45% reggaeton, 30% indie, 25% recent plays"
    )
    parts = {
        "tag reggaeton": 50.0,
        "tag latin": 20.0,
        "similar to Bad Bunny": 12.0,
        "tag urbano": 8.0,
        "popularity": 4.0,
        "similar to other artists": 3.0,
        "other tags": 2.0,
        "tag pop": 1.0,
    }
    reasons = because_reasons(parts)
    assert because_line(parts) == (
        "because: 50% reggaeton, 20% latin, 12% similar to Bad Bunny, 8% urbano"
        " and 4 smaller reasons (10%)"
    )
    assert reasons.left_out == 4 and reasons.left_out_percent == 10
    assert sum(percent for _, percent in reasons.shown) + reasons.left_out_percent == 100


def test_the_because_line_names_many_small_artists_and_tags_as_groups() -> None:
    parts = {"tag idm": 30.0, "tag ambient": 20.0, "tag glitch": 5.0, "tag electronica": 4.0}
    parts |= {f"similar to Artist {i}": 3.0 - i * 0.1 for i in range(12)}
    parts["similar to other artists"] = 2.0
    line = because_line(parts)
    assert "similar to Artist 1, Artist 2 and 9 more of your artists" in line
    assert line.endswith("and 1 smaller reason (2%)"), line
    in_parts, in_line = named_shares(parts)
    assert in_line == pytest.approx(0.98) and in_parts == pytest.approx(0.98, abs=0.005)


@pytest.mark.skipif(
    not (SHARED / "spotify-history-efrrowini").is_dir(), reason="shared data absent"
)
def test_the_lab_measures_the_set_the_service_would_store_on_a_real_history() -> None:
    ((name, person),) = lab.histories(SHARED, frozenset({"efrrowini"}))
    search = lab.SearchSettings(classifier_settings=1, weight_trials=40, refine_passes=2)
    served = lab.served_set(person, search)
    assert len(served.top) == lab.TOP
    inputs = serving_inputs(served.now, served.model.params)
    rescored = {
        item.artist: item
        for item in score_candidates(inputs, served.now.candidates, served.model.params.weights)
    }
    for item in served.top:
        assert item.score == pytest.approx(rescored[item.artist.lower()].score, rel=1e-12)
        assert explain(item.parts)[0].startswith("because: ")
    report = lab.measure(name, person, search)
    shares = [named_shares(item.parts) for item in served.top]
    assert report.parts_min == min(share for share, _ in shares)
    assert report.because_median == statistics.median(share for _, share in shares)
    # the targets, on a real history
    assert report.parts_median >= 0.85 and report.parts_min >= 0.70
    assert report.because_median >= 0.85 and report.because_min >= 0.70
    assert report.largest_catch_all <= 0.2


def test_listeners_like_you_are_named_by_the_artists_you_share() -> None:
    own = {"deftones": 5.0, "tool": 3.0, "korn": 1.0}
    others = {
        "u1": {"deftones", "tool", "chevelle"},
        "u2": {"deftones", "chevelle", "tori amos"},
        "u3": {"korn", "chevelle"},
    }
    causes = co_listening_causes(own, others)
    scores = co_listening_scores(own, others)
    assert set(causes) == set(scores)
    for candidate, by_own in causes.items():
        assert math.fsum(by_own.values()) == pytest.approx(scores[candidate], abs=1e-12)
    assert set(causes["chevelle"]) == {"deftones", "tool", "korn"}
    assert set(causes["tori amos"]) == {"deftones"}

    inputs = pool_inputs(
        own,
        {"chevelle": {"alternative metal": 100.0}, "deftones": {"alternative metal": 100.0}},
        {},
        {"deftones": 1000.0, "chevelle": 500.0},
        ["chevelle", "deftones", "korn", "tool", "tori amos"],
        causes,
    )
    weights = HybridWeights(co_listening=2.0)
    (chevelle,) = score_candidates(inputs, ["chevelle"], weights)
    (unnamed,) = score_candidates(replace(inputs, co_listening_causes={}), ["chevelle"], weights)
    assert chevelle.score == pytest.approx(unnamed.score, rel=1e-12)
    assert CO_LISTENING in unnamed.parts and CO_LISTENING not in chevelle.parts
    assert (
        chevelle.parts["listeners who also play deftones"]
        > chevelle.parts["listeners who also play korn"]
    )
    assert named_shares(chevelle.parts) == (pytest.approx(1.0), pytest.approx(1.0))


def test_recent_and_hour_band_seeds_are_named_as_such_and_the_score_is_unchanged() -> None:
    now, params = hard_listener()
    artists = [h.artist for h in now.histories]
    # a fifth of the listener's artists played lately, a fifth mostly at night
    habits = {artist: RECENT for artist in artists[::5]}
    habits |= {artist: "night" for artist in artists[1::5]}
    names = {artist: artist.title() for artist in artists}
    plain = ranked_for_set(now, names, {}, params, frozenset(), frozenset(), 20)
    with_habits = replace(now, scoring=replace(now.scoring, seed_habits=habits))
    named = ranked_for_set(with_habits, names, {}, params, frozenset(), frozenset(), 20)
    kinds: set[str] = set()
    for before, after in zip(plain, named, strict=True):
        assert after.artist == before.artist and after.score == before.score
        assert math.fsum(after.parts.values()) == pytest.approx(after.score, rel=1e-12)
        # every seed with a habit left "similar to ..." for its habit's part, whole
        recent = sum(v for label, v in after.parts.items() if label.startswith(RECENT_PREFIX))
        moved = sum(
            value
            for label, value in before.parts.items()
            if label.startswith(SEED_PREFIX)
            and habits.get(label.removeprefix(SEED_PREFIX).lower()) == RECENT
        )
        assert recent == pytest.approx(moved, rel=1e-9)
        for label in after.parts:
            if label.startswith(SEED_PREFIX) and label != OTHER_SEEDS:
                assert label.removeprefix(SEED_PREFIX).lower() not in habits
        _, breakdown = explain(after.parts)
        kinds |= {part["kind"] for part in breakdown}
        # the habit parts are named: the breakdown's named share is the same; the line's
        # moves with which parts it shows, and holds the target
        in_parts, in_line = named_shares(after.parts)
        assert in_parts == pytest.approx(named_shares(before.parts)[0], rel=1e-9)
        assert in_line >= 0.7
    assert {"recency", "context", "seed_artist"} <= kinds
    label = next(label for item in named for label in item.parts if label.startswith(RECENT_PREFIX))
    assert "Artist" in label  # named as the listener's data spells them


def test_a_seed_is_recent_by_its_last_30_days_else_named_by_its_own_hour_band() -> None:
    assert seed_habit(listens=10, recent_listens=3, hour_band="night") == RECENT
    assert seed_habit(listens=100, recent_listens=3, hour_band="night") == "night"
    assert seed_habit(listens=2, recent_listens=2, hour_band="") == ""
    assert seed_habit(listens=50, recent_listens=0, hour_band="") == ""
    assert grouped_by_habit(
        {"similar to a": 2.0, "similar to b": 1.0, "similar to c": 0.5, OTHER_SEEDS: 0.25},
        {"a": RECENT, "b": RECENT, "c": RECENT, "other artists": RECENT},
        {"a": "A"},
    ) == {OTHER_SEEDS: 0.25, "like your recent plays: A, b and 1 more": 3.5}


def test_the_because_lines_named_share_reads_back_from_its_text() -> None:
    rng = np.random.default_rng(3)
    labels = [
        seed_label("Deftones"),
        seed_label("Slowdive"),
        tag_label("shoegaze"),
        tag_label("alternative metal"),
        "like your recent plays: Hum, Duster and 2 more",
        "like what you play at night: Burial",
        OTHER_SEEDS,
        "other tags",
        LIKED_MODEL,
        CO_LISTENING,
        POPULARITY,
        *(seed_label(f"artist {i}") for i in range(12)),
    ]
    for _ in range(300):
        chosen = rng.choice(len(labels), size=int(rng.integers(1, len(labels))), replace=False)
        parts = {labels[i]: float(rng.lognormal(0.0, 1.5)) for i in chosen}
        line = because_line(parts)
        assert line_named_share(line) == pytest.approx(named_shares(parts)[1]), line
    assert (
        line_named_share("because: 52% similar to other artists and 3 smaller reasons (48%)") == 0
    )
