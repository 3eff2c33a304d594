"""The learned model: liked labels and the forest, co-listening, part channels, the weight search
on a time-ordered holdout, the fallback for short histories, the not-worse gate, and training
that is reproducible (same history, settings and seed: same model, whatever the clock says, in
this process or a training process)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import scipy.sparse as sp

from services.model.domain.colistening import co_listening_scores
from services.model.domain.learning import (
    MAX_LEARNED_SHARE,
    ActiveModel,
    Holdout,
    ListenerView,
    ModelParams,
    SearchSettings,
    TrainingJob,
    holdout_channels,
    holdout_cutoff,
    holdout_score,
    learned_share,
    ndcg_at,
    not_worse,
    positives_after,
    ranked_for_set,
    search_mixing,
    serving_inputs,
    train_and_gate,
    train_model,
)
from services.model.domain.liked import (
    PARAM_GRID,
    ArtistHistory,
    LabelRule,
    artist_features,
    choose_params,
    liked_examples,
    liked_probabilities,
    tag_vocabulary,
)
from services.model.domain.scoring import (
    CHANNELS,
    CO_LISTENING,
    LIKED_MODEL,
    ArtistSpace,
    HybridWeights,
    ScoringInputs,
    batch_scores,
    part_channels,
    score_candidates,
)


def history(artist: str, plays: int, skips: int, weight: float) -> ArtistHistory:
    return ArtistHistory(artist, plays, plays - skips, skips, weight)


def test_a_much_skipped_artist_is_not_liked_however_often_it_played() -> None:
    histories = [
        history("skipped a lot", plays=400, skips=300, weight=90.0),
        history("loved", plays=100, skips=5, weight=50.0),
        *(history(f"filler {i}", plays=3, skips=0, weight=1.0) for i in range(6)),
    ]
    by_skips = liked_examples(histories, LabelRule("skips"))
    by_weight = liked_examples(histories, LabelRule("top_weight"))
    liked_by_skips = {a for a, y in zip(by_skips.artists, by_skips.labels, strict=True) if y}
    liked_by_weight = {a for a, y in zip(by_weight.artists, by_weight.labels, strict=True) if y}
    assert liked_by_weight == {"skipped a lot", "loved"}  # top 25% of 8 artists
    assert liked_by_skips == {"loved"}

    with_feedback = liked_examples(
        histories, LabelRule(), frozenset({"filler 0", "new one"}), frozenset({"loved"})
    )
    labels = dict(zip(with_feedback.artists, with_feedback.labels.tolist(), strict=True))
    assert labels["filler 0"] and labels["new one"] and not labels["loved"]


def test_bad_label_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="label rule"):
        LabelRule("most played")
    with pytest.raises(ValueError, match="liked_share"):
        LabelRule(liked_share=0.0)


def tag_scene(n: int = 60) -> tuple[ScoringInputs, list[ArtistHistory]]:
    """Liked artists are tagged jazz, the rest metal; candidates of both kinds."""
    rng = np.random.default_rng(3)
    artist_tags: dict[str, dict[str, float]] = {}
    histories = []
    for i in range(n):
        liked = i % 3 == 0
        name = f"known {i}"
        artist_tags[name] = {
            "jazz" if liked else "metal": 100.0,
            "noise": float(rng.integers(1, 50)),
        }
        plays = 50 if liked else 10
        histories.append(history(name, plays, 1, plays * 1.0 + rng.random()))
    artist_tags["jazz candidate"] = {"jazz": 100.0, "noise": 10.0}
    artist_tags["metal candidate"] = {"metal": 100.0, "noise": 10.0}
    inputs = ScoringInputs(
        known_artists={h.artist: h.decayed_weight for h in histories},
        artist_tags=artist_tags,
        similar_artists={},
        listeners={artist: 1000.0 for artist in artist_tags},
        popularity_reference=1000.0,
    )
    return inputs, histories


def test_the_forest_learns_which_tags_the_listener_likes() -> None:
    inputs, histories = tag_scene()
    examples = liked_examples(histories, LabelRule(liked_share=1 / 3))
    features = artist_features(examples.artists, inputs, tag_vocabulary(inputs))
    choice = choose_params(features, examples.labels, settings=1)
    assert choice is not None and choice.settings_tried == 1
    assert choice.cv_auc > 0.9
    probabilities = liked_probabilities(
        examples, ["jazz candidate", "metal candidate"], inputs, choice.params
    )
    assert probabilities["jazz candidate"] > 0.8 > 0.2 > probabilities["metal candidate"]


def test_no_forest_without_both_classes() -> None:
    features = sp.csr_matrix(np.eye(4))
    assert choose_params(features, np.array([True, False, False, False]), 3) is None


def small_inputs() -> ScoringInputs:
    return ScoringInputs(
        known_artists={"a": 10.0, "b": 3.0},
        artist_tags={"a": {"x": 1.0}, "b": {"y": 1.0}, "c": {"x": 2.0, "y": 1.0}, "d": {"y": 1.0}},
        similar_artists={"a": [("c", 0.9), ("d", 0.2)], "b": [("d", 1.0)]},
        listeners={"a": 100.0, "b": 10.0, "c": 50.0, "d": 5.0},
        popularity_reference=100.0,
        liked_probability={"c": 0.3, "d": 0.9},
        co_listening={"d": 0.5},
    )


def test_every_mixing_is_the_channels_times_the_weights_and_explains_itself() -> None:
    inputs = small_inputs()
    weights = HybridWeights(similar=0.7, tags=0.4, popularity=0.1, liked=0.5, co_listening=2.0)
    channels = part_channels(inputs, ["c", "d"], weights)
    scored = {item.artist: item for item in score_candidates(inputs, ["c", "d"], weights)}
    expected = channels @ np.array(weights.mixing())
    assert [scored["c"].score, scored["d"].score] == pytest.approx(expected.tolist(), rel=1e-12)
    assert scored["d"].parts[LIKED_MODEL] == pytest.approx(0.5 * 0.9)
    assert scored["d"].parts[CO_LISTENING] == pytest.approx(2.0 * 0.5)
    assert CO_LISTENING not in scored["c"].parts  # no co-listening, no part


def test_the_batch_path_needs_the_scores_its_weights_use() -> None:
    space = ArtistSpace.from_matrices(
        sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]])),
        sp.csr_matrix(np.eye(2)),
        np.array([10.0, 20.0]),
        20.0,
    )
    plays = sp.csr_matrix(np.array([[3.0, 0.0]]))
    liked = np.array([[0.0, 0.8]])
    with pytest.raises(ValueError, match="liked"):
        batch_scores(space, plays, HybridWeights(liked=1.0))
    base = batch_scores(space, plays, HybridWeights())
    mixed = batch_scores(space, plays, HybridWeights(liked=0.5), liked=liked)
    assert mixed == pytest.approx(base + 0.5 * liked)


def test_co_listening_votes_by_similar_listeners_and_is_nothing_alone() -> None:
    own = {"a", "b", "c"}
    assert co_listening_scores(own, {}) == {}
    scores = co_listening_scores(
        own, {"twin": {"a", "b", "c", "new"}, "stranger": {"z", "new", "other"}}
    )
    assert set(scores) == {"new"}  # the stranger shares nothing, so does not vote
    assert scores["new"] == pytest.approx(1.0)
    both = co_listening_scores(own, {"u1": {"a", "x"}, "u2": {"a", "b", "y"}})
    assert both["y"] > both["x"] > 0 and both["x"] + both["y"] == pytest.approx(1.0)


def test_ndcg_counts_positives_no_candidate_reached() -> None:
    relevant = np.array([True, False, True])
    assert ndcg_at(np.array([3.0, 2.0, 1.0]), relevant, 2) < 1.0
    assert ndcg_at(np.array([3.0, 1.0, 2.0]), relevant, 2) == pytest.approx(1.0)
    assert ndcg_at(np.array([3.0, 1.0, 2.0]), relevant, 4) < 1.0


def _holdout(n: int = 300, positives: int = 10) -> tuple[np.random.Generator, np.ndarray]:
    rng = np.random.default_rng(0)
    relevant = np.zeros(n, dtype=bool)
    relevant[rng.choice(n, positives, replace=False)] = True
    return rng, relevant


def test_the_weight_search_finds_the_part_that_ranks_the_holdout() -> None:
    rng, relevant = _holdout()
    channels = np.zeros((len(relevant), len(CHANNELS)))
    channels[:, 0] = rng.random(len(relevant)) + 2.0 * ~relevant  # similar: misleading
    channels[:, 1] = rng.random(len(relevant)) * 0.1 + relevant  # tags: separates
    channels[:, 3] = rng.random(len(relevant))  # liked: noise
    start = [1.0, 0.8, 0.0, 0.0, 0.0]
    mixing, ndcg, tried = search_mixing(channels, relevant, 10, start, trials=100, refine_passes=10)
    assert ndcg_at(channels @ np.array(start), relevant, 10) < 0.2
    assert ndcg == pytest.approx(1.0) and tried >= 100
    assert mixing[1] == 1.0 and mixing[4] == 0.0  # co-listening is all zero: stays off


def test_popularity_stays_fixed_and_learned_parts_carry_at_most_half_of_the_top() -> None:
    rng, relevant = _holdout()
    channels = np.zeros((len(relevant), len(CHANNELS)))
    channels[:, 0] = rng.random(len(relevant))  # similar: noise
    channels[:, 1] = rng.random(len(relevant))  # tags: noise
    channels[:, 2] = rng.random(len(relevant)) * 0.1 + relevant  # popularity: separates
    channels[:, 3] = rng.random(len(relevant)) * 0.1 + relevant  # liked: separates too
    start = [1.0, 0.8, 0.0, 0.0, 0.0]
    mixing, ndcg, _ = search_mixing(channels, relevant, 10, start, trials=100, refine_passes=10)
    assert mixing[2] == 0.0
    assert mixing[3] > 0 and ndcg > ndcg_at(channels @ np.array(start), relevant, 10)
    assert learned_share(channels, mixing) <= MAX_LEARNED_SHARE


def test_ties_keep_the_fixed_weights() -> None:
    channels = np.ones((20, len(CHANNELS)))
    relevant = np.zeros(20, dtype=bool)
    relevant[0] = True
    mixing, _, _ = search_mixing(channels, relevant, 1, [1.0, 0.8, 0.0, 0.0, 0.0], 100, 10)
    assert mixing.tolist() == [1.0, 0.8, 0.0, 0.0, 0.0]


def test_holdout_cutoff_and_the_rule_for_short_histories() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    firsts = {f"artist {i}": start + timedelta(days=i) for i in range(100)}
    cutoff = holdout_cutoff(firsts)
    assert cutoff == start + timedelta(days=80)
    assert len(positives_after(firsts, cutoff)) == 20
    short = {k: v for k, v in list(firsts.items())[:22]}
    assert "needs at least 25" in str(holdout_cutoff(short))
    bunched = dict.fromkeys(firsts, start)
    assert "bunched" in str(holdout_cutoff(bunched))


def learning_scene() -> tuple[Holdout, ListenerView]:
    """A listener who likes jazz: before the cutoff they played jazz and some metal; after it
    they started on more jazz. Similar-artist links point at metal and jazz alike."""
    rng = np.random.default_rng(11)
    artist_tags: dict[str, dict[str, float]] = {}
    similar: dict[str, list[tuple[str, float]]] = {}
    histories = []
    candidates = []
    positives = set()
    for i in range(90):
        jazz = i % 3 == 0
        name = f"known {i}"
        artist_tags[name] = {"jazz" if jazz else "metal": 100.0, f"t{i % 7}": 30.0}
        plays = 40 if jazz else 12
        skips = 2 if jazz else 8
        histories.append(history(name, plays, skips, (plays - skips) * (0.5 + rng.random())))
    for j in range(200):
        jazz = j % 4 == 0
        name = f"new {j}"
        artist_tags[name] = {"jazz" if jazz else "metal": 100.0, f"t{j % 5}": 60.0}
        candidates.append(name)
        if jazz and j % 8 == 0:
            positives.add(name)
    for h in histories:
        picks = rng.choice(len(candidates), 15, replace=False)
        similar[h.artist] = [(candidates[p], float(rng.uniform(0.2, 1.0))) for p in picks]
    scoring = ScoringInputs(
        known_artists={h.artist: h.decayed_weight for h in histories},
        artist_tags=artist_tags,
        similar_artists=similar,
        listeners={a: float(rng.integers(100, 100_000)) for a in artist_tags},
        popularity_reference=100_000.0,
    )
    past = ListenerView(scoring, histories, sorted(candidates))
    return Holdout(datetime(2025, 1, 1, tzinfo=UTC), past, frozenset(positives)), past


def test_training_learns_weights_not_worse_than_the_fixed_ones_and_is_reproducible() -> None:
    holdout, now = learning_scene()
    model = train_model(holdout, LabelRule(), HybridWeights())
    metrics = model.metrics
    assert model.validated and metrics["positives"] == len(holdout.positives)
    assert model.holdout_ndcg is not None
    assert model.holdout_ndcg > metrics["fixed_weights_ndcg@10"]
    assert metrics["classifier_cv_auc"] is not None and metrics["classifier_settings_tried"] >= 1
    # the classifier is kept exactly when the learned weights use it
    assert (model.params.classifier is not None) == (model.params.weights.liked > 0)
    # the gate's measure of a stored configuration on the same holdout is the trained one's
    stored = ModelParams.from_json(model.params.to_json())
    assert holdout_score(stored, holdout) == pytest.approx(model.holdout_ndcg)
    with_forest = ModelParams(replace(stored.weights, liked=0.5), dict(PARAM_GRID[0]), stored.label)
    inputs = serving_inputs(now, with_forest)
    assert len(inputs.liked_probability) == len(now.candidates)
    jazz = [
        inputs.liked_probability[c] for c in now.candidates if "jazz" in now.scoring.artist_tags[c]
    ]
    metal = [
        inputs.liked_probability[c] for c in now.candidates if "metal" in now.scoring.artist_tags[c]
    ]
    assert np.mean(jazz) > np.mean(metal)


def test_a_short_history_gets_the_fixed_weights_unvalidated() -> None:
    model = train_model("12 artists", LabelRule(), HybridWeights())
    assert not model.validated and model.metrics["reason"] == "12 artists"
    assert model.params.weights == HybridWeights() and model.params.classifier is None


def test_the_gate_uses_a_new_model_only_when_not_worse() -> None:
    assert not_worse(0.30, None)  # nothing in use yet
    assert not_worse(0.30, 0.30)
    assert not_worse(0.31, 0.30)
    assert not not_worse(0.29, 0.30)
    assert not not_worse(None, 0.30)  # unvalidated never replaces a validated one


def test_the_searches_count_their_trials() -> None:
    inputs, histories = tag_scene()
    examples = liked_examples(histories, LabelRule(liked_share=1 / 3))
    features = artist_features(examples.artists, inputs, tag_vocabulary(inputs))
    choice = choose_params(features, examples.labels, settings=3)
    assert choice is not None and choice.settings_tried == 3
    rng, relevant = _holdout()
    channels = rng.random((len(relevant), len(CHANNELS)))
    _, _, tried = search_mixing(channels, relevant, 10, [1.0, 0.8, 0.0, 0.0, 0.0], 7, 0)
    assert tried <= 8  # the start and at most 7 random settings, no refinement


def model_outputs(
    search: SearchSettings,
) -> tuple[ModelParams, dict[str, object], np.ndarray, list[tuple[str, float]]]:
    """Train on the generated listener; the model, its metrics, the forest's part channels on
    the holdout (its liked-artist predictions among them) and the set it ranks now."""
    holdout, now = learning_scene()
    model = train_model(holdout, LabelRule(), HybridWeights(), search)
    forest = ModelParams(
        replace(model.params.weights, liked=0.5), dict(PARAM_GRID[0]), LabelRule(), search.seed
    )
    channels, _ = holdout_channels(
        holdout, forest.classifier, forest.label, forest.weights, search.seed
    )
    ranked = ranked_for_set(now, {}, {}, forest, frozenset(), frozenset(), keep=50)
    return model.params, model.metrics, channels, [(item.artist, item.score) for item in ranked]


def test_the_same_history_settings_and_seed_train_the_same_model_whatever_the_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    search = SearchSettings(seed=3, classifier_settings=2, weight_trials=200)
    quiet = model_outputs(search)
    # a loaded machine: every look at the clock finds a minute gone
    ticks = iter(range(10**9))
    monkeypatch.setattr(time, "perf_counter", lambda: 60.0 * next(ticks))
    monkeypatch.setattr(time, "monotonic", lambda: 60.0 * next(ticks))
    loaded = model_outputs(search)
    assert loaded[0] == quiet[0]  # weights, classifier settings, label rule and seed, exactly
    assert loaded[1] == quiet[1]
    assert quiet[1]["weight_settings_tried"] > 200 and quiet[1]["classifier_settings_tried"] == 2
    assert np.array_equal(loaded[2], quiet[2])  # the forest's predictions, bit for bit
    assert loaded[3] == quiet[3]  # the scores of the set


def test_another_seed_may_train_another_forest() -> None:
    first = model_outputs(SearchSettings(seed=1, classifier_settings=1, weight_trials=50))
    second = model_outputs(SearchSettings(seed=2, classifier_settings=1, weight_trials=50))
    assert first[0].seed == 1 and second[0].seed == 2
    assert not np.array_equal(first[2], second[2])


def test_a_training_process_trains_the_model_this_process_would() -> None:
    from services.model.training import TrainingPool

    holdout, _ = learning_scene()
    search = SearchSettings(classifier_settings=1, weight_trials=50)
    in_use = train_model(holdout, LabelRule(), HybridWeights(), search).params
    job = TrainingJob(holdout, LabelRule(), HybridWeights(), search, ActiveModel("m1", in_use))

    async def in_a_process() -> tuple[object, bool]:
        pool = TrainingPool(1)
        try:
            return await pool.run(train_and_gate, job)
        finally:
            await pool.stop()

    model, accepted = asyncio.run(in_a_process())
    here, accepted_here = train_and_gate(job)
    assert model == here and accepted == accepted_here
    # the same configuration measured on the same holdout: not worse, so accepted
    assert accepted and here.metrics["gate"]["active_holdout_ndcg@10"] == here.holdout_ndcg
