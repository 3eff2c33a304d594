"""Co-listening: what other listeners of the same instance who share artists with this one play.

Similarity of two listeners is the cosine of their binary artist sets (shared artists over the
geometric mean of both counts); the `neighbours` most similar others (ties by id) vote, each
with its similarity, and a candidate's score is the similarity-weighted share of those
neighbours who play it, in [0, 1]. With no other listener (a one-user instance) every score is
empty, so the part and its candidates have no effect at all.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping


def co_listening_scores(
    own_artists: Collection[str],
    others: Mapping[str, Collection[str]],
    neighbours: int = 50,
    limit: int | None = None,
) -> dict[str, float]:
    """Candidate -> score for the artists not in `own_artists`, the best `limit` of them."""
    if neighbours < 1:
        raise ValueError(f"neighbours must be at least 1, got {neighbours}")
    own = set(own_artists)
    if not own:
        return {}
    similarities = []
    for listener, artists in others.items():
        theirs = set(artists)
        shared = len(own & theirs)
        if shared:
            similarities.append((shared / math.sqrt(len(own) * len(theirs)), listener, theirs))
    similarities.sort(key=lambda entry: (-entry[0], entry[1]))
    nearest = similarities[:neighbours]
    total = math.fsum(similarity for similarity, _, _ in nearest)
    if total <= 0:
        return {}
    votes: dict[str, float] = {}
    for similarity, _, theirs in nearest:
        for artist in theirs - own:
            votes[artist] = votes.get(artist, 0.0) + similarity
    ranked = sorted(votes.items(), key=lambda vote: (-vote[1], vote[0]))
    return {artist: vote / total for artist, vote in ranked[:limit]}
