"""Full circle: artists the listener loved and has not played for a long time.

score = log(1 + listens) * (1 - 2^(-silent_days / 180)): the more they were played and the
longer the silence, the stronger the case to bring them back. The two factors are the parts
of the explanation ("loved: N listens", "silent for N months") in proportion to their logs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.model.domain.scoring import ScoredArtist

DORMANT_HALF_LIFE_DAYS = 180.0


@dataclass(frozen=True)
class PastArtist:
    artist: str
    listens: int
    last_listen: datetime


def rediscoveries(
    artists: Sequence[PastArtist],
    now: datetime,
    limit: int,
    min_listens: int = 5,
    min_silent_days: float = 90.0,
) -> list[ScoredArtist]:
    """Loved-then-silent artists, strongest case first."""
    scored = []
    for past in artists:
        silent_days = (now - past.last_listen).total_seconds() / 86_400
        if past.listens < min_listens or silent_days < min_silent_days:
            continue
        loved = math.log1p(past.listens)
        dormant = 1.0 - 2.0 ** (-silent_days / DORMANT_HALF_LIFE_DAYS)
        score = loved * dormant
        loved_share = math.log1p(loved) / (math.log1p(loved) + math.log1p(dormant * 10))
        scored.append(
            ScoredArtist(
                artist=past.artist,
                score=score,
                parts={
                    f"loved: {past.listens} listens": score * loved_share,
                    f"silent for {silent_days / 30.44:.0f} months": score * (1 - loved_share),
                },
                top_seed_artists=(),
                top_tags=(),
            )
        )
    scored.sort(key=lambda item: (-item.score, item.artist))
    return scored[:limit]
