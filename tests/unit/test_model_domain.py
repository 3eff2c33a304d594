"""The model's explanations and rediscovery scores: parts that add up to 100%."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from services.model.domain.explanation import explain
from services.model.domain.rediscovery import PastArtist, rediscoveries


def test_explanations_sum_to_100_and_name_their_kinds() -> None:
    because, parts = explain(
        {"similar to Kano": 0.9, "similar to Bad Bunny": 0.025, "tag grime": 0.51, "tag uk": 0.03}
    )
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
