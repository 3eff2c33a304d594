"""Every taste served: any prefix of the list gives each current taste its share of slots."""

from __future__ import annotations

from collections import Counter

from services.model.domain.balance import balance_by_taste, taste_for


def test_a_dominant_taste_does_not_crowd_out_the_others() -> None:
    # 100 candidates, the best 80 of them all serve taste 1
    ranked = [f"artist {i}" for i in range(100)]
    taste_of: list[int | None] = [1] * 80 + [2] * 10 + [3] * 5 + [None] * 5
    shares = {1: 0.5, 2: 0.3, 3: 0.15, 4: 0.05}  # taste 4 is under 10%: not balanced for
    top = balance_by_taste(ranked, taste_of, shares, limit=20)
    counts = Counter(taste for _, taste in top)
    assert counts == {1: 11, 2: 6, 3: 3}  # 50/30/15 renormalised to the eligible 95%
    assert [item for item, taste in top if taste == 1] == ranked[:11]  # best first in a taste
    first_five = Counter(taste for _, taste in top[:5])
    assert set(first_five) == {1, 2, 3}, "every prefix is balanced, not just the whole list"


def test_unclaimed_items_fill_in_when_a_taste_runs_out() -> None:
    ranked = ["a", "b", "c", "d"]
    top = balance_by_taste(ranked, [1, None, 2, None], {1: 0.5, 2: 0.5}, limit=4)
    assert [item for item, _ in top] == ["a", "c", "b", "d"]
    assert balance_by_taste(ranked, [None] * 4, {}, limit=3) == [
        ("a", None),
        ("b", None),
        ("c", None),
    ]


def test_a_candidate_serves_its_seed_artists_taste_or_else_the_taste_its_tags_match() -> None:
    clusters = {"kano": 0, "bicep": 1}
    tags = {0: {"grime": 10.0, "uk rap": 5.0}, 1: {"techno": 8.0, "house": 8.0, "grime": 1.0}}
    assert taste_for(["Kano"], ["techno"], clusters, tags) == 0  # the seed decides
    assert taste_for(["Unknown", "Bicep"], ["grime"], clusters, tags) == 1
    assert taste_for([], ["grime", "house"], clusters, tags) == 0  # 10/15 beats 9/17
    assert taste_for([], ["house"], clusters, tags) == 1
    assert taste_for([], ["polka"], clusters, tags) is None
    assert taste_for([], [], clusters, {}) is None
