"""Steering: more or less of a taste, the familiarity dial, the genre filter."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import pytest

from services.model.domain.steering import (
    Steering,
    SteeringError,
    check_tastes,
    genre_matches,
    percentiles,
    popularity_factor,
    steer,
    steered,
)


@dataclass(frozen=True)
class Item:
    artist: str
    score: float
    taste: str
    top_tags: list[str] = field(default_factory=list)


# 100 items, scores falling, tastes in turn: pop is every other one
ITEMS = [
    Item(f"Artist {i}", 1.0 - i / 200, ("pop", "rock", "pop", "latin")[i % 4], [f"tag{i % 4}"])
    for i in range(100)
]
POPULARITY = {f"artist {i}": (i * 37 % 100) / 99 for i in range(100)}


def share(items: list[Item], taste: str, top: int = 20) -> float:
    return sum(1 for item in items[:top] if item.taste == taste) / top


def test_less_of_a_taste_at_least_halves_its_share_of_the_top_twenty() -> None:
    before = share(steer(ITEMS, Steering(), POPULARITY), "pop")
    after = share(steer(ITEMS, Steering({"pop": "less"}), POPULARITY), "pop")
    assert before == 0.5 and after <= before / 2


def test_more_of_a_taste_raises_its_share() -> None:
    assert share(steer(ITEMS, Steering({"latin": "more"}), POPULARITY), "latin") > 0.25


def test_the_dial_moves_the_median_popularity_of_the_top_twenty_monotonically() -> None:
    medians = []
    for dial in (0.0, 0.25, 0.5, 0.75, 1.0):
        top = steer(ITEMS, Steering(familiarity=dial), POPULARITY)[:20]
        medians.append(statistics.median(POPULARITY[item.artist.lower()] for item in top))
    assert medians == sorted(medians) and medians[0] < medians[2] < medians[-1]
    assert popularity_factor(0.3, None) == popularity_factor(0.9, 0.5) == 1.0


def test_percentiles_run_from_the_least_to_the_most_popular_of_the_set() -> None:
    ranked = percentiles({"a": 10.0, "b": 500.0, "c": 40.0, "d": 40.0, "e": 9_000.0})
    assert ranked == {"a": 0.0, "c": 0.375, "d": 0.375, "b": 0.75, "e": 1.0}
    assert percentiles({"alone": 7.0}) == {"alone": 0.5} and percentiles({}) == {}


def test_the_genre_filter_matches_whole_words_of_the_tags() -> None:
    assert genre_matches("latin", ["Latin Pop"]) and genre_matches("uk rap", ["uk rap", "grime"])
    assert not genre_matches("latin", ["platinum"]) and not genre_matches("rap", ["trap metal"])
    assert genre_matches("hip-hop", ["hip hop"])  # one spelling, as tags are stored
    kept = steer(ITEMS, Steering(), POPULARITY, genre="tag3")
    assert kept and all(item.taste == "latin" for item in kept)


def test_changes_keep_what_is_not_named_and_clear_what_is_asked() -> None:
    steering = steered(Steering(), tastes={"pop": "less", "rock": "more"}, familiarity=0.2)
    assert steering == Steering({"pop": "less", "rock": "more"}, 0.2)
    steering = steered(steering, tastes={"pop": ""}, familiarity=None)
    assert steering == Steering({"rock": "more"}, 0.2)
    assert steered(steering, tastes={}, familiarity=-1).familiarity is None
    assert "more rock" in steering.describe()


@pytest.mark.parametrize(
    ("tastes", "familiarity", "says"),
    [({"pop": "louder"}, None, "more, less or nothing"), ({}, 1.5, "runs from 0")],
)
def test_bad_steering_says_what_to_pass(
    tastes: dict[str, str], familiarity: float | None, says: str
) -> None:
    with pytest.raises(SteeringError, match=says):
        steered(Steering(), tastes=tastes, familiarity=familiarity)


def test_an_unknown_taste_is_refused_naming_the_listeners_tastes() -> None:
    with pytest.raises(SteeringError, match="not a taste of yours; yours are pop, rock"):
        check_tastes(["polka"], ["pop", "rock"])
