"""The listener's taste from their plays: per-artist listens, skips and recency weight, sqrt
endorsement, and the tag profile those endorsements imply. Pure functions over arrays.

The recency weight (`decayed_weight`, the name the stored profile, the gRPC messages and the
model read it by) is `recency.recency_weights`: the listener's fitted chance of coming back to
the artist next month when their history can be fitted, else the fixed half-life decayed
count (recency.py says when, and protocol A measures exactly this function)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from services.features.domain.recency import RecencyFit, recency_weights

DAY_S = 86_400.0
DEFAULT_HALF_LIFE_DAYS = 90.0  # the seed design's recency
MIN_LISTEN_MS = 30_000  # a play of at least 30 s is a listen
FORWARD_BUTTON = "fwdbtn"  # Spotify's reason_end when the listener skipped to the next track
TAG_PROFILE_SIZE = 50


@dataclass(frozen=True)
class PlayColumns:
    """A listener's plays as columns (one entry per play)."""

    artist: Sequence[str]
    ended_at_s: np.ndarray  # Unix seconds, float64
    ms_played: np.ndarray  # int64
    skipped: np.ndarray  # bool: Spotify said skipped, or the play ended by the forward button
    track: Sequence[str | None] = ()  # per play when known (empty: not loaded)
    track_uri: Sequence[str | None] = ()


def skip_flags(skipped: Sequence[bool | None], reason_end: Sequence[str | None]) -> np.ndarray:
    """Per play, whether the listener skipped it: Spotify said so, or it ended by the forward
    button (exports leave `skipped` empty on many such plays). Short plays count as skips in
    `artist_stats`, where the listen threshold is known."""
    flags = zip(skipped, reason_end, strict=True)
    return np.fromiter(
        (bool(flag) or end == FORWARD_BUTTON for flag, end in flags), dtype=bool, count=len(skipped)
    )


@dataclass(frozen=True)
class ArtistStats:
    artist: str
    plays: int
    listens: int
    skips: int
    ms_played: int
    first_listen: datetime | None
    last_listen: datetime | None
    decayed_weight: float
    endorsement: float
    # How the listener plays it (contexts.artist_habits; 0 and "" until computed): listens
    # in the last RECENT_DAYS of their listening, and the hour band it belongs to, if any.
    recent_listens: int = 0
    hour_band: str = ""


def artist_stats(
    plays: PlayColumns,
    as_of_s: float,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    min_listen_ms: int = MIN_LISTEN_MS,
    fit_recency: bool = True,
) -> list[ArtistStats]:
    """`weighed_artists` without the account of how the weights were chosen."""
    stats, _ = weighed_artists(plays, as_of_s, half_life_days, min_listen_ms, fit_recency)
    return stats


def weighed_artists(
    plays: PlayColumns,
    as_of_s: float,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    min_listen_ms: int = MIN_LISTEN_MS,
    fit_recency: bool = True,
) -> tuple[list[ArtistStats], RecencyFit]:
    """Per artist: plays, listens (>= min_listen_ms), skips (flagged or short), listening time,
    first and last listen, recency weight from the listens as of `as_of_s` (fitted to the
    listener unless `fit_recency` is False or their past is too short; the half-life is the
    fallback's), and endorsement = sqrt(weight) scaled so the listener's most endorsed artist
    has 1. Sorted by weight, heaviest first; with how the weights were chosen."""
    if len(plays.artist) == 0:
        return [], RecencyFit(None, half_life_days, "no listens yet")
    names, index = np.unique(np.asarray(plays.artist, dtype=object), return_inverse=True)
    n = len(names)
    is_listen = plays.ms_played >= min_listen_ms
    is_skip = plays.skipped | ~is_listen
    recency = recency_weights(
        plays.ended_at_s[is_listen], index[is_listen], n, as_of_s, half_life_days, fit_recency
    )
    decayed = recency.weights
    listens = np.bincount(index, weights=is_listen, minlength=n).astype(np.int64)
    skips = np.bincount(index, weights=is_skip, minlength=n).astype(np.int64)
    played = np.bincount(index, minlength=n)
    ms_total = np.bincount(index, weights=plays.ms_played, minlength=n).astype(np.int64)
    listen_ts = np.where(is_listen, plays.ended_at_s, np.nan)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.fmin.at(first, index, listen_ts)
    np.fmax.at(last, index, listen_ts)
    endorsement = np.sqrt(decayed)
    top = endorsement.max()
    if top > 0:
        endorsement = endorsement / top
    order = np.lexsort((names, -decayed))
    stats = [
        ArtistStats(
            artist=str(names[i]),
            plays=int(played[i]),
            listens=int(listens[i]),
            skips=int(skips[i]),
            ms_played=int(ms_total[i]),
            first_listen=_utc(first[i]),
            last_listen=_utc(last[i]),
            decayed_weight=float(decayed[i]),
            endorsement=float(endorsement[i]),
        )
        for i in order
    ]
    return stats, recency.fit


@dataclass(frozen=True)
class TrackStats:
    artist: str
    track: str
    track_uri: str | None  # the first URI the history holds for it, in code-point order
    listens: int


def track_stats(plays: PlayColumns, min_listen_ms: int = MIN_LISTEN_MS) -> list[TrackStats]:
    """Per (artist, track) with at least one listen: its listens and a Spotify URI; most
    listened first, then by artist and track. Plays without a track name are left out."""
    listened: dict[tuple[str, str], list[Any]] = {}
    for artist, track, uri, ms in zip(
        plays.artist, plays.track, plays.track_uri, plays.ms_played, strict=True
    ):
        if track is None or ms < min_listen_ms:
            continue
        entry = listened.setdefault((artist, track), [0, None])
        entry[0] += 1
        if uri is not None and (entry[1] is None or uri < entry[1]):
            entry[1] = uri
    ranked = sorted(listened.items(), key=lambda item: (-item[1][0], item[0]))
    return [TrackStats(artist, track, uri, count) for (artist, track), (count, uri) in ranked]


def tag_profile(
    endorsements: Mapping[str, float],
    artist_tags: Mapping[str, Mapping[str, float]],
    top_n: int = TAG_PROFILE_SIZE,
) -> dict[str, float]:
    """The listener's tags: each artist's tag weights (0-100) times its endorsement, summed,
    keeping the `top_n` strongest, scaled to sum to 1. Artists without tags add nothing."""
    totals: dict[str, float] = defaultdict(float)
    for artist, endorsement in endorsements.items():
        for tag, weight in artist_tags.get(artist, {}).items():
            totals[tag] += endorsement * weight / 100.0
    strongest = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:top_n]
    total = sum(weight for _, weight in strongest)
    return {tag: weight / total for tag, weight in strongest} if total > 0 else {}


def _utc(seconds: float) -> datetime | None:
    return datetime.fromtimestamp(seconds, tz=UTC) if np.isfinite(seconds) else None
