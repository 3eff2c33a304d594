"""The model's composite and rediscovery scores: only new artists, parts that add up."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from services.model.domain.composite import TasteInputs, composite_scores
from services.model.domain.explanation import explain
from services.model.domain.rediscovery import PastArtist, rediscoveries


def inputs() -> TasteInputs:
    return TasteInputs(
        endorsements={"kano": 1.0, "bad bunny": 0.5},
        display_names={
            "kano": "Kano",
            "bad bunny": "Bad Bunny",
            "ghetts": "Ghetts",
            "feid": "Feid",
            "skepta": "Skepta",
        },
        similar={
            "kano": [("ghetts", 0.9), ("skepta", 0.6), ("bad bunny", 0.1)],
            "bad bunny": [("feid", 0.8), ("ghetts", 0.05)],
        },
        artist_tags={"ghetts": {"grime": 100, "uk": 40}, "feid": {"reggaeton": 100}},
        tag_profile={"grime": 0.6, "reggaeton": 0.3, "uk": 0.1},
    )


def test_candidates_are_new_artists_ranked_by_endorsed_similarity_and_tags() -> None:
    ranked = composite_scores(inputs(), limit=10)
    assert [item.artist for item in ranked] == ["Ghetts", "Feid", "Skepta"]
    assert all(item.artist != "Bad Bunny" for item in ranked)
    ghetts = ranked[0]
    assert ghetts.parts["similar to Kano"] == pytest.approx(0.9)
    assert ghetts.parts["similar to Bad Bunny"] == pytest.approx(0.025)
    assert ghetts.parts["tag grime"] == pytest.approx(0.6 * 100 / math.hypot(100, 40))
    assert math.fsum(ghetts.parts.values()) == pytest.approx(ghetts.score)
    assert ghetts.top_seed_artists == ("Kano", "Bad Bunny")
    assert ghetts.top_tags == ("grime", "uk")


def test_excluded_artists_never_come_back() -> None:
    ranked = composite_scores(inputs(), limit=10, exclude=frozenset({"ghetts"}))
    assert "Ghetts" not in [item.artist for item in ranked]


def test_explanations_sum_to_100_and_name_their_kinds() -> None:
    (best, *_) = composite_scores(inputs(), limit=1)
    because, parts = explain(best.parts)
    assert because.startswith("because: ")
    assert sum(part["percent"] for part in parts) == 100
    assert {part["kind"] for part in parts} <= {"seed_artist", "tag", "other"}
    assert parts[0]["label"] == "similar to Kano"


def test_rediscovery_brings_back_loved_and_long_silent_artists() -> None:
    now = datetime(2025, 12, 1, tzinfo=UTC)
    past = [
        PastArtist("Loved Long Ago", 300, now - timedelta(days=700)),
        PastArtist("Loved Lately", 300, now - timedelta(days=10)),
        PastArtist("Barely Known", 2, now - timedelta(days=900)),
        PastArtist("Liked Long Ago", 20, now - timedelta(days=700)),
    ]
    ranked = rediscoveries(past, now, limit=10)
    assert [item.artist for item in ranked] == ["Loved Long Ago", "Liked Long Ago"]
    for item in ranked:
        assert math.fsum(item.parts.values()) == pytest.approx(item.score)
        assert sum(part["percent"] for part in explain(item.parts)[1]) == 100
