"""The listener as of time t: the one definition features serves now and the model trains on
at every cutoff. From the plays that ended before t: per-artist plays, listens, skips, recency
weight (fitted to the listener where their past allows, recency.py), endorsement and first
listen, the tag profile and, when asked, tastes, contexts and evolution, all under the same
listen rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from services.features.domain.contexts import artist_habits
from services.features.domain.details import taste_details
from services.features.domain.moods import MoodKnowledge
from services.features.domain.recency import RecencyFit
from services.features.domain.taste import (
    DEFAULT_HALF_LIFE_DAYS,
    MIN_LISTEN_MS,
    ArtistStats,
    PlayColumns,
    TrackStats,
    tag_profile,
    track_stats,
    weighed_artists,
)


@dataclass(frozen=True)
class ListenRules:
    """What counts as a listen and how fast a listen fades (features' settings): the
    listener's fitted recency weighting, or the fixed half-life where it cannot be fitted (or
    with `fit_recency` False)."""

    min_listen_ms: int = MIN_LISTEN_MS
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    fit_recency: bool = True


@dataclass(frozen=True)
class Listener:
    """The listener as of `as_of`: artist stats heaviest first, tag profile strongest first,
    and tastes/contexts/evolution documents and per-track listens when they were asked for."""

    as_of: datetime
    stats: list[ArtistStats]
    tags: dict[str, float]
    details: dict[str, Any] | None = None
    tracks: list[TrackStats] | None = None
    # How the stats' weights were chosen; the weights themselves are in `stats`, so two
    # listeners with the same stats are the same listener (the fit holds arrays).
    recency: RecencyFit | None = field(default=None, compare=False)


def listener_as_of(
    plays: PlayColumns,
    as_of: datetime,
    artist_tags: Mapping[str, Mapping[str, float]],
    rules: ListenRules,
    *,
    platforms: Sequence[str | None] | None = None,
    time_zone: str = "UTC",
    genres: frozenset[str] | None = None,
    mood_knowledge: MoodKnowledge | None = None,
) -> Listener:
    """The listener from their plays that ended before `as_of` (decay measured to `as_of`).
    With `platforms` (one per play) the tastes, contexts and evolution are computed too, as
    of the last of those plays: an export arrives long after its last stream, and its
    "recent" months are the last ones it holds; and the per-track listens when the plays
    carry their tracks. `mood_knowledge` (what enrich has around the artists the vocabulary
    cannot place) lets the contexts' moods reach more of the listens (domain/moods.py)."""
    as_of_s = as_of.timestamp()
    before = plays.ended_at_s < as_of_s
    past = plays if before.all() else _select(plays, before)
    stats, recency = weighed_artists(
        past, as_of_s, rules.half_life_days, rules.min_listen_ms, rules.fit_recency
    )
    habits = artist_habits(past, time_zone, rules.min_listen_ms)
    stats = [
        replace(s, recent_listens=habit.recent_listens, hour_band=habit.hour_band)
        if (habit := habits.get(s.artist))
        else s
        for s in stats
    ]
    tags = tag_profile({s.artist: s.endorsement for s in stats}, artist_tags)
    if platforms is None:
        return Listener(as_of, stats, tags, recency=recency)
    latest = (
        datetime.fromtimestamp(float(past.ended_at_s.max()), UTC) if len(past.artist) else as_of
    )
    details = taste_details(
        past,
        [platform for platform, kept in zip(platforms, before, strict=True) if kept],
        min(latest, as_of),
        {artist: dict(weights) for artist, weights in artist_tags.items()},
        time_zone=time_zone,
        min_listen_ms=rules.min_listen_ms,
        genres=genres,
        mood_knowledge=mood_knowledge,
    )
    tracks = track_stats(past, rules.min_listen_ms) if len(past.track) else None
    return Listener(as_of, stats, tags, details, tracks, recency)


def _select(plays: PlayColumns, mask: np.ndarray) -> PlayColumns:
    return PlayColumns(
        artist=list(np.asarray(plays.artist, dtype=object)[mask]),
        ended_at_s=plays.ended_at_s[mask],
        ms_played=plays.ms_played[mask],
        skipped=plays.skipped[mask],
        track=list(np.asarray(plays.track, dtype=object)[mask]) if len(plays.track) else (),
        track_uri=(
            list(np.asarray(plays.track_uri, dtype=object)[mask]) if len(plays.track_uri) else ()
        ),
    )
