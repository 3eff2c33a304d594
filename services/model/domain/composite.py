"""The seed design's composite scorer, made additive so every point of a score has a name:

    score(c) = sum over seed artists s of endorsement(s) * match(s, c)       (the crowd: Last.fm
                                                                             similar artists)
             + tag_weight * sum over tags t of profile(t) * tags(c, t)       (the listener's tags)

Endorsement is sqrt-scaled decayed listening (features), match is Last.fm's similarity (0..1),
profile(t) the listener's tag profile (sums to 1) and tags(c, t) the candidate's tag weights
scaled to unit length. Each term is one part of the explanation, so the parts sum to the score.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.model.domain.scoring import ScoredArtist


@dataclass(frozen=True)
class TasteInputs:
    """What the composite needs, keyed by lower-cased artist name (Last.fm matches that way)."""

    endorsements: Mapping[str, float]  # known artist key -> endorsement 0..1
    display_names: Mapping[str, str]  # artist key -> the spelling to show
    similar: Mapping[str, Sequence[tuple[str, float]]]  # seed key -> [(candidate key, match)]
    artist_tags: Mapping[str, Mapping[str, float]]  # artist key -> tag -> weight 0..100
    tag_profile: Mapping[str, float]  # tag -> share of the listener's taste


def composite_scores(
    inputs: TasteInputs, limit: int, tag_weight: float = 1.0, exclude: frozenset[str] = frozenset()
) -> list[ScoredArtist]:
    """The `limit` best new artists: similar to the listener's artists, never already played."""
    known = set(inputs.endorsements)
    by_seed: dict[str, dict[str, float]] = defaultdict(dict)
    for seed, endorsement in inputs.endorsements.items():
        for candidate, match in inputs.similar.get(seed, ()):
            if candidate in known or candidate in exclude or endorsement <= 0 or match <= 0:
                continue
            by_seed[candidate][seed] = endorsement * match
    scored = [_score(candidate, seeds, inputs, tag_weight) for candidate, seeds in by_seed.items()]
    scored.sort(key=lambda item: (-item.score, item.artist))
    return scored[:limit]


def _score(
    candidate: str, seeds: dict[str, float], inputs: TasteInputs, tag_weight: float
) -> ScoredArtist:
    parts: dict[str, float] = {}
    for seed, value in seeds.items():
        parts[f"similar to {inputs.display_names.get(seed, seed)}"] = value
    tags = inputs.artist_tags.get(candidate, {})
    norm = math.sqrt(sum(weight * weight for weight in tags.values()))
    tag_parts = {}
    if norm > 0:
        for tag, weight in tags.items():
            share = inputs.tag_profile.get(tag, 0.0)
            if share > 0:
                tag_parts[tag] = tag_weight * share * weight / norm
    parts.update({f"tag {tag}": value for tag, value in tag_parts.items()})
    return ScoredArtist(
        artist=inputs.display_names.get(candidate, candidate),
        score=sum(parts.values()),
        parts=parts,
        top_seed_artists=tuple(
            inputs.display_names.get(seed, seed)
            for seed, _ in sorted(seeds.items(), key=lambda item: -item[1])[:3]
        ),
        top_tags=tuple(tag for tag, _ in sorted(tag_parts.items(), key=lambda item: -item[1])[:3]),
    )
