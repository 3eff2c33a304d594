"""Mood estimates for artists the mood vocabulary cannot place: learned related tags, label
propagation over similar artists, the rule that decides "known", and the coverage they add."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from fullcircle.moods import KNOWN_CONFIDENCE
from services.features.domain.details import taste_details
from services.features.domain.moods import (
    FULL_NEIGHBOUR_MATCH,
    HOP_DECAY,
    MIN_NEIGHBOUR_MATCH,
    RELATED_TAGS,
    SIMILAR_ARTISTS,
    VOCABULARY,
    MoodEstimate,
    MoodKnowledge,
    estimate_moods,
    learn_tag_moods,
    listener_moods,
    mood_coverage,
    needing_neighbours,
    propagate,
    similarity_graph,
    vocabulary_moods,
)
from services.features.domain.taste import PlayColumns


def known(energy: float, valence: float = 0.0, confidence: float = 1.0) -> MoodEstimate:
    return MoodEstimate(energy, valence, 0.0, confidence, VOCABULARY)


def test_an_artist_gets_the_match_weighted_mean_of_its_known_neighbours() -> None:
    # X is similar to a calm artist (0.6) and a lively one (0.4): its answer is known by
    # construction, (0.6 * -0.8 + 0.4 * 0.2) / 1.0 = -0.4
    graph = similarity_graph([("x", "calm", 0.6), ("lively", "x", 0.4)])
    estimates = propagate(["x"], {"calm": known(-0.8, 0.2), "lively": known(0.2, 0.7)}, graph)
    x = estimates["x"]
    assert x.source == SIMILAR_ARTISTS
    assert x.energy == pytest.approx(-0.4)
    assert x.valence == pytest.approx(0.6 * 0.2 + 0.4 * 0.7)
    assert x.confidence == pytest.approx(HOP_DECAY * min(1.0, 1.0 / FULL_NEIGHBOUR_MATCH))


def test_a_neighbours_confidence_weighs_its_pull() -> None:
    graph = similarity_graph([("x", "sure", 0.5), ("x", "unsure", 0.5)])
    estimates = propagate(
        ["x"], {"sure": known(1.0), "unsure": known(-1.0, confidence=0.25)}, graph
    )
    assert estimates["x"].energy == pytest.approx((0.5 * 1.0 - 0.5 * 0.25) / (0.5 + 0.125))


def test_estimates_travel_hop_by_hop_losing_confidence() -> None:
    graph = similarity_graph([("a", "b", 1.0), ("b", "c", 1.0)])
    estimates = propagate(["b", "c"], {"a": known(0.9, -0.5)}, graph)
    assert estimates["b"].energy == pytest.approx(0.9)
    assert estimates["c"].energy == pytest.approx(0.9)
    assert estimates["c"].confidence == pytest.approx(estimates["b"].confidence * HOP_DECAY)
    assert estimates["c"].confidence < estimates["b"].confidence < 1.0


def test_too_little_known_neighbour_weight_leaves_the_mood_unknown() -> None:
    loose = MIN_NEIGHBOUR_MATCH / 2
    graph = similarity_graph(
        [
            ("lonely", "calm", loose),  # one loose known neighbour
            ("crowded", "calm", loose),  # the same, plus strong neighbours nobody knows
            ("crowded", "mystery 1", 1.0),
            ("crowded", "mystery 2", 1.0),
        ]
    )
    estimates = propagate(["lonely", "crowded", "mystery 1"], {"calm": known(-0.8)}, graph)
    assert "lonely" not in estimates and "crowded" not in estimates
    assert "mystery 1" not in estimates  # its only neighbour is unknown too
    # enough known weight, when it is just there, is enough
    graph = similarity_graph([("x", "calm", loose), ("x", "still", MIN_NEIGHBOUR_MATCH - loose)])
    assert "x" in propagate(["x"], {"calm": known(-0.8), "still": known(-0.6)}, graph)


def test_the_result_does_not_depend_on_the_order_of_the_artists() -> None:
    graph = similarity_graph([("a", "x", 1.0), ("x", "y", 1.0), ("y", "b", 1.0)])
    seeds = {"a": known(1.0), "b": known(-1.0)}
    assert propagate(["x", "y"], seeds, graph) == propagate(["y", "x"], seeds, graph)


def test_no_estimate_leaves_the_axes_or_confidence_outside_their_range() -> None:
    rng = np.random.default_rng(7)
    names = [f"artist {i}" for i in range(300)]
    rows = [
        (names[i], names[j], float(match))
        for i, j, match in zip(
            rng.integers(0, 300, 2_000),
            rng.integers(0, 300, 2_000),
            rng.uniform(0, 1.5, 2_000),
            strict=True,
        )
    ]
    seeds = {
        name: MoodEstimate(*rng.choice([-1.0, 1.0], 3), float(rng.uniform(0.1, 1.0)), VOCABULARY)
        for name in names[:40]
    }
    estimates = propagate(names, seeds, similarity_graph(rows))
    assert len(estimates) > 100  # the test says something only if many were estimated
    for estimate in estimates.values():
        assert all(-1.0 <= axis <= 1.0 for axis in estimate.axes)
        assert KNOWN_CONFIDENCE <= estimate.confidence <= 1.0


# A small catalog as enrich stores it: Last.fm top tags (0-100) keyed by lower-cased name.
CATALOG = {
    **{
        f"grinder {i}": {"aggressive": 100.0, "grindcore": 80.0, "seen live": 40.0}
        for i in range(4)
    },
    **{f"drone {i}": {"calm": 100.0, "ambient": 60.0, "seen live": 40.0} for i in range(4)},
    "only grindcore": {"grindcore": 100.0},
    "only seen live": {"seen live": 100.0},
    "calm and grindcore": {"calm": 100.0, "grindcore": 10.0},
}


def test_a_tag_that_goes_with_a_mood_carries_it_and_one_that_goes_with_all_does_not() -> None:
    learned = learn_tag_moods(CATALOG, vocabulary_moods(CATALOG))
    assert learned["grindcore"].energy > 0.8  # it came only with aggressive artists
    # five artists explain most of the spread, shrunk by support 5 / (5 + 5)
    assert learned["grindcore"].informativeness > 0.4
    assert learned["seen live"].informativeness < 0.05  # on calm and loud alike
    estimates = estimate_moods(CATALOG, CATALOG, {})
    assert estimates["only grindcore"].source == RELATED_TAGS
    assert estimates["only grindcore"].energy > 0.8
    assert "only seen live" not in estimates  # not pulled to the middle: unknown
    # the vocabulary wins over what a tag learned
    assert estimates["calm and grindcore"].source == VOCABULARY
    assert estimates["calm and grindcore"].energy < 0


def test_coverage_counts_listens_of_known_moods_only() -> None:
    listens = {"known": 6, "estimated": 3, "unknown": 1}
    coverage = mood_coverage(listens, before={"known"}, after={"known", "estimated"})
    assert (coverage.listens, coverage.before, coverage.after) == (10, 0.6, 0.9)
    assert mood_coverage({}, (), ()).after == 0.0


def plays_of(*artists: str) -> PlayColumns:
    start = datetime(2024, 5, 6, 8, tzinfo=UTC).timestamp()
    return PlayColumns(
        artist=list(artists),
        ended_at_s=np.array([start + 3600.0 * i for i in range(len(artists))]),
        ms_played=np.full(len(artists), 200_000, dtype=np.int64),
        skipped=np.zeros(len(artists), dtype=bool),
    )


def test_the_profile_counts_and_uses_the_estimates() -> None:
    # the listener's spelling; enrich keys by lower-cased name
    tags = {"Drone 0": CATALOG["drone 0"], "Only Seen Live": CATALOG["only seen live"]}
    plays = plays_of("Drone 0", "Drone 0", "Only Seen Live", "Untagged", "Untagged")
    assert needing_neighbours(sorted(set(plays.artist)), tags) == ["Only Seen Live", "Untagged"]
    knowledge = MoodKnowledge(
        {key: CATALOG[key] for key in ("drone 1", "drone 2")},
        [("untagged", "drone 1", 0.5), ("drone 2", "untagged", 0.5)],
    )
    before, after = listener_moods(sorted(set(plays.artist)), tags, knowledge)
    assert set(before) == {"Drone 0"} and set(after) == {"Drone 0", "Untagged"}
    as_of = datetime(2024, 6, 1, tzinfo=UTC)
    details = taste_details(plays, ["ios"] * 5, as_of, tags, mood_knowledge=knowledge)
    assert details["moods"]["coverage"] == {"listens": 5, "before": 0.4, "after": 0.8}
    # the estimate is stored for the model's playlists, the vocabulary's is not (tags say it)
    assert list(details["moods"]["estimated"]) == ["untagged"]
    assert details["moods"]["estimated"]["untagged"][4] == SIMILAR_ARTISTS
    weekday = next(c for c in details["contexts"] if c["context"] == "weekday")
    assert weekday["mood"]["coverage"] == pytest.approx(0.8)
    without = taste_details(plays, ["ios"] * 5, as_of, tags)
    assert without["moods"]["coverage"]["after"] == 0.4
    assert next(c for c in without["contexts"] if c["context"] == "weekday")["mood"][
        "coverage"
    ] == pytest.approx(0.4)
