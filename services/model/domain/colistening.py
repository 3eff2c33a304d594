"""Co-listening: what other listeners of the same instance who share artists with this one play.

Similarity of two listeners is the cosine of their binary artist sets (shared artists over the
geometric mean of both counts); the `neighbours` most similar others (ties by id) vote, each
with its similarity, and a candidate's score is the similarity-weighted share of those
neighbours who play it, in [0, 1]. With no other listener (a one-user instance) every score is
empty, so the part and its candidates have no effect at all.

`co_listening_causes` names a score by what makes those listeners alike: each neighbour's vote
is shared equally by the artists it has in common with this listener, so a candidate's score
is the sum, over the listener's artists, of "listeners who also play <artist>".
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
    return {
        artist: math.fsum(causes.values())
        for artist, causes in co_listening_causes(own_artists, others, neighbours, limit).items()
    }


def co_listening_causes(
    own_artists: Collection[str],
    others: Mapping[str, Collection[str]],
    neighbours: int = 50,
    limit: int | None = None,
) -> dict[str, dict[str, float]]:
    """Candidate -> the listener's artist -> its share of the candidate's score (module
    docstring), for the best `limit` candidates by score (ties by name)."""
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
    voters: dict[str, list[int]] = {}
    for index, (similarity, _, theirs) in enumerate(nearest):
        for artist in theirs - own:
            votes[artist] = votes.get(artist, 0.0) + similarity
            voters.setdefault(artist, []).append(index)
    ranked = sorted(votes.items(), key=lambda vote: (-vote[1], vote[0]))[:limit]
    in_common = [sorted(own & theirs) for _, _, theirs in nearest]
    causes: dict[str, dict[str, float]] = {}
    for artist, _ in ranked:
        by_own: dict[str, float] = {}
        for index in voters[artist]:
            share = nearest[index][0] / total / len(in_common[index])
            for own_artist in in_common[index]:
                by_own[own_artist] = by_own.get(own_artist, 0.0) + share
        causes[artist] = by_own
    return causes
