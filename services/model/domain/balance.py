"""Every taste served: a ranked list re-ordered so that any prefix of it gives each of the
listener's current tastes (clusters with at least `min_share` of recent listening) its share
of recent listening in slots, best candidates first within each; the rest of the slots (the
listening in smaller tastes and "other") and what a taste cannot fill go by score. A
candidate serves the taste of the seed artist it is most similar to, or, when no artist of
the listener points to it (a candidate found by tag alone), the taste whose tag profile its
top tags match best."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

MIN_SHARE = 0.10


def taste_for(
    seed_artists: Sequence[str],
    top_tags: Sequence[str],
    artist_cluster: Mapping[str, int],
    cluster_tags: Mapping[int, Mapping[str, float]],
) -> int | None:
    """The taste a candidate serves: its first seed artist's cluster; else the cluster whose
    tag profile (each normalised to sum 1) gives the candidate's top tags the most weight;
    None when neither says anything."""
    for seed in seed_artists:
        cluster = artist_cluster.get(seed.lower())
        if cluster is not None:
            return cluster
    best, best_weight = None, 0.0
    for cluster, tags in sorted(cluster_tags.items()):
        total = sum(tags.values())
        weight = sum(tags.get(tag, 0.0) for tag in top_tags) / total if total > 0 else 0.0
        if weight > best_weight:
            best, best_weight = cluster, weight
    return best


def balance_by_taste(
    ranked: Sequence[T],
    taste_of: Sequence[int | None],
    shares: Mapping[int, float],
    limit: int,
    min_share: float = MIN_SHARE,
) -> list[tuple[T, int | None]]:
    """`ranked` (best first) with the taste each item serves, re-ordered as described above.

    A current taste's slots are its share of recent listening; the listening no current taste
    holds (smaller tastes, "other") is the share of slots that go by score to any item. So one
    current taste with 12% of the listening gets 12% of the places, not all of them."""
    eligible = {taste: share for taste, share in shares.items() if share >= min_share}
    quota: dict[int | None, float] = {taste: share for taste, share in eligible.items()}
    quota[None] = max(0.0, 1.0 - sum(eligible.values()))  # by score, whatever it serves
    queues: dict[int | None, list[int]] = {taste: [] for taste in quota}
    for index, taste in enumerate(taste_of):
        if taste in eligible:
            queues[taste].append(index)
    queues[None] = list(range(len(ranked)))
    placed: set[int] = set()
    taken = dict.fromkeys(quota, 0)
    ordered: list[tuple[T, int | None]] = []
    for position in range(min(limit, len(ranked))):
        for queue in queues.values():
            while queue and queue[0] in placed:
                queue.pop(0)
        waiting = [t for t in quota if queues[t]]
        # the share furthest behind its part of the first position + 1 slots
        taste = max(waiting, key=lambda t: (quota[t] * (position + 1) - taken[t], -queues[t][0]))
        index = queues[taste].pop(0)
        taken[taste] += 1
        placed.add(index)
        ordered.append((ranked[index], taste_of[index]))
    return ordered
