"""The hybrid scorer: explained parts, percentages, and the per-listener path agreeing with the
batch path the evaluation measures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.model.domain.explain import because_line, explain_percentages
from services.model.domain.scoring import (
    HybridWeights,
    ScoringInputs,
    batch_scores,
    score_candidates,
)
from tools.lab import discovery

HETREC = Path(__file__).resolve().parents[3] / "shared" / "data" / "hetrec2011-lastfm-2k"
WEIGHTS = HybridWeights(popularity=0.05)


def small_scene() -> ScoringInputs:
    return ScoringInputs(
        known_artists={"Bad Bunny": 120.0, "J Balvin": 40.0, "Arctic Monkeys": 5.0},
        artist_tags={
            "Bad Bunny": {"reggaeton": 100.0, "latin": 60.0},
            "J Balvin": {"reggaeton": 100.0, "latin trap": 20.0},
            "Arctic Monkeys": {"indie": 100.0, "rock": 70.0},
            "Karol G": {"reggaeton": 100.0, "latin": 50.0},
            "The Strokes": {"indie": 100.0, "garage rock": 40.0},
            "Mozart": {"classical": 100.0},
        },
        similar_artists={
            "Bad Bunny": [("Karol G", 1.0), ("J Balvin", 0.9), ("Ozuna", 0.6)],
            "J Balvin": [("Karol G", 0.8), ("Ozuna", 0.7)],
            "Arctic Monkeys": [("The Strokes", 1.0)],
        },
        listeners={"Karol G": 2_000_000, "Ozuna": 1_500_000, "The Strokes": 3_000_000},
        popularity_reference=7_000_000,
    )


def test_parts_are_non_negative_and_sum_to_the_score() -> None:
    ranked = score_candidates(small_scene(), None, WEIGHTS)
    assert [scored.artist for scored in ranked][:2] == ["Karol G", "Ozuna"]
    assert "Bad Bunny" not in {scored.artist for scored in ranked}
    for scored in ranked:
        assert all(value >= 0 for value in scored.parts.values())
        assert math.fsum(scored.parts.values()) == scored.score
    karol = ranked[0]
    assert karol.top_seed_artists[0] == "Bad Bunny"
    assert karol.top_tags[0] == "reggaeton"
    assert "similar to Bad Bunny" in karol.parts
    assert because_line(karol.parts).startswith("because: ")


@pytest.mark.parametrize(
    "weights",
    [
        HybridWeights(seed_weighting="rank", seed_popularity_penalty=0.3),
        HybridWeights(match_exponent=0.0, popularity=0.1),
        HybridWeights(match_exponent=2.0, tags=0.0),
    ],
)
def test_parts_stay_non_negative_under_every_setting(weights: HybridWeights) -> None:
    ranked = score_candidates(small_scene(), None, weights)
    for scored in ranked:
        assert all(value >= 0 for value in scored.parts.values())
        assert math.fsum(scored.parts.values()) == scored.score
    # match ** 0 is 1 only for listed neighbours: Mozart is nobody's similar artist.
    mozart = next(scored for scored in ranked if scored.artist == "Mozart")
    assert not any(name.startswith("similar to") for name in mozart.parts)


def test_weights_are_validated() -> None:
    with pytest.raises(ValueError, match="seed_weighting"):
        HybridWeights(seed_weighting="binary")
    with pytest.raises(ValueError, match="non-negative"):
        HybridWeights(tags=-0.1)


def test_unknown_candidate_scores_only_its_popularity() -> None:
    scene = small_scene()
    [mozart] = score_candidates(scene, ["Mozart"], HybridWeights(popularity=0.0))
    assert mozart.score == 0.0
    assert mozart.parts == {}


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
        min_size=1,
        max_size=12,
    ),
    st.integers(min_value=1, max_value=6),
)
def test_percentages_always_sum_to_100(parts: dict[str, float], max_items: int) -> None:
    percentages = explain_percentages(parts, max_items)
    if math.fsum(parts.values()) > 0:
        assert sum(percent for _, percent in percentages) == 100
        assert len(percentages) <= max_items + 1
        assert all(percent >= 0 for _, percent in percentages)
    else:
        assert percentages == []


def test_because_line_groups_small_parts_into_other() -> None:
    parts = {"reggaeton": 45.0, "indie": 30.0, "recent plays": 20.0, "rock": 5.0}
    assert explain_percentages(parts, max_items=2) == [
        ("reggaeton", 45),
        ("indie", 30),
        ("other", 25),
    ]
    assert because_line({"reggaeton": 9.0, "indie": 6.0, "recent plays": 5.0}) == (
        "because: 45% reggaeton, 30% indie, 25% recent plays"
    )
    assert explain_percentages({"a": 1.0, "b": 1.0, "c": 1.0}) == [("a", 34), ("b", 33), ("c", 33)]


@pytest.mark.skipif(not (HETREC / "user_artists.dat").is_file(), reason="HetRec data absent")
def test_per_listener_path_ranks_like_the_batch_path() -> None:
    dataset = discovery.load_hetrec(HETREC)
    split = discovery.split_listeners(dataset, 42)
    space = discovery.hybrid_space(dataset, split.training_plays)
    names = [f"artist {artist_id}" for artist_id in dataset.artist_ids]
    tags = dataset.artist_tag_counts
    graph = space.similar_artists
    artist_tags = {
        names[a]: {
            dataset.tag_names[t]: float(v)
            for t, v in zip(
                tags.indices[tags.indptr[a] : tags.indptr[a + 1]],
                tags.data[tags.indptr[a] : tags.indptr[a + 1]],
                strict=True,
            )
        }
        for a in range(len(names))
        if tags.indptr[a + 1] > tags.indptr[a]
    }
    similar_artists = {
        names[a]: [
            (names[b], float(match))
            for b, match in zip(
                graph.indices[graph.indptr[a] : graph.indptr[a + 1]],
                graph.data[graph.indptr[a] : graph.indptr[a + 1]],
                strict=True,
            )
        ]
        for a in range(len(names))
    }
    listeners = {names[a]: float(count) for a, count in enumerate(space.listeners)}
    plays = split.training_plays
    rank_weights = HybridWeights(seed_weighting="rank", match_exponent=0.5, popularity=0.02)
    for listener, weights in (
        (0, discovery.DEFAULT_HYBRID_WEIGHTS),
        (500, discovery.DEFAULT_HYBRID_WEIGHTS),
        (1800, discovery.DEFAULT_HYBRID_WEIGHTS),
        (900, rank_weights),
    ):
        row = plays[listener]
        batch = batch_scores(space, row, weights)[0]
        batch_top = [names[a] for a in discovery.top_artists(batch, row.indices)]
        inputs = ScoringInputs(
            known_artists={names[a]: float(w) for a, w in zip(row.indices, row.data, strict=True)},
            artist_tags=artist_tags,
            similar_artists=similar_artists,
            listeners=listeners,
            popularity_reference=space.popularity_reference,
        )
        candidates = [names[a] for a in np.argsort(-batch)[:500] if a not in set(row.indices)]
        ranked = score_candidates(inputs, candidates, weights)
        assert [scored.artist for scored in ranked[:10]] == batch_top
        by_name = {scored.artist: scored.score for scored in ranked}
        for a in discovery.top_artists(batch, row.indices):
            assert by_name[names[a]] == pytest.approx(batch[a], rel=1e-9)
