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
    # 50/30/15 of the slots, and the 5% no current taste holds by score: a taste 1 artist
    assert counts == {1: 11, 2: 6, 3: 3}
    assert [item for item, taste in top if taste == 1] == ranked[:11]  # best first in a taste
    first_five = Counter(taste for _, taste in top[:5])
    assert set(first_five) == {1, 2, 3}, "every prefix is balanced, not just the whole list"


def test_one_current_taste_gets_its_share_of_the_slots_not_all_of_them() -> None:
    # the best 60 serve taste 1, which holds 20% of recent listening; the other 80% is spread
    # over tastes too small to be balanced for: their slots go by score
    ranked = [f"artist {i}" for i in range(100)]
    taste_of: list[int | None] = [1] * 60 + [2, 3, None, 4] * 10
    shares = {1: 0.2, 2: 0.05, 3: 0.05, 4: 0.05}
    top = balance_by_taste(ranked, taste_of, shares, limit=100)
    assert Counter(taste for _, taste in top[:20]) == {1: 20}  # best by score
    by_rank = list(reversed(ranked))
    reversed_tastes = list(reversed(taste_of))
    worst_first = balance_by_taste(by_rank, reversed_tastes, shares, limit=20)
    # ranked the other way, taste 1 still gets its 20% of the first 20, and no more
    assert Counter(taste for _, taste in worst_first)[1] == 4
    assert [item for item, _ in top] == ranked


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
