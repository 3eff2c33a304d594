"""Every taste served: a ranked list re-ordered so that any prefix of it gives each of the
listener's current tastes (clusters with at least `min_share` of recent listening) slots in
proportion to that share, best candidates first within each; what no taste claims fills in by
score. A candidate serves the taste of the seed artist it is most similar to, or, when no
artist of the listener points to it (a candidate found by tag alone), the taste whose tag
profile its top tags match best."""

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
    """`ranked` (best first) with the taste each item serves, re-ordered as described above."""
    eligible = {taste: share for taste, share in shares.items() if share >= min_share}
    total = sum(eligible.values())
    quota = {taste: share / total for taste, share in eligible.items()} if total else {}
    queues: dict[int | None, list[int]] = {}
    for index, taste in enumerate(taste_of):
        queues.setdefault(taste if taste in quota else None, []).append(index)
    taken = dict.fromkeys(quota, 0)
    ordered: list[tuple[T, int | None]] = []
    for position in range(min(limit, len(ranked))):
        waiting = [t for t in quota if queues.get(t)]
        if waiting:
            # the taste furthest behind its share of the first position + 1 slots
            taste = max(
                waiting, key=lambda t: (quota[t] * (position + 1) - taken[t], -queues[t][0])
            )
            index = queues[taste].pop(0)
            taken[taste] += 1
        else:
            index = min(i for q in queues.values() for i in q)
            for q in queues.values():
                if q and q[0] == index:
                    q.pop(0)
        ordered.append((ranked[index], taste_of[index]))
    return ordered
