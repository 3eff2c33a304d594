"""What the listener plays in which context (hour band, weekday or weekend, platform) as shares
of their taste clusters and as a distribution over the mood axes, how the cluster shares move
month by month, the listening clock (every hour of every weekday) and what each year held most.

Moods are the artists' known moods (`domain/moods.py`: enrich's tags through
`fullcircle.moods`, else related tags or similar artists; energy, valence, acoustic, each
-1..1). Per context, the listens whose artist has a mood give the mean of each axis and the
share of those listens in each band of energy (calm, moderate, intense) and valence
(dark, neutral, bright); `coverage` says how many of the context's listens that is, so a
"morning" built from three tagged listens out of a thousand is not mistaken for a measured
one. Artists whose mood is unknown are left out, never counted as neutral."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import numpy as np
import pandas as pd

from services.features.domain.clusters import OTHER_CLUSTER_ID, TasteCluster, artist_clusters
from services.features.domain.taste import (
    MIN_LISTEN_MS,
    TAG_PROFILE_SIZE,
    PlayColumns,
    tag_profile,
)

ContextKind = Literal["hour_band", "day_type", "platform"]
MoodAxes = tuple[float, float, float]  # energy, valence, acoustic, each -1..1

# Local-hour bands: [start, end) hours.
HOUR_BANDS: tuple[tuple[str, int, int], ...] = (
    ("night", 0, 6),
    ("morning", 6, 12),
    ("afternoon", 12, 18),
    ("evening", 18, 24),
)
UNKNOWN_PLATFORM = "unknown"
# Bands of one mood axis: (name, upper bound) in ascending order; the last takes the rest.
# Thirds of the -1..1 scale, so a band is as wide as the other two.
ENERGY_BANDS: tuple[tuple[str, float], ...] = (
    ("calm", -1 / 3),
    ("moderate", 1 / 3),
    ("intense", 1.0),
)
VALENCE_BANDS: tuple[tuple[str, float], ...] = (
    ("dark", -1 / 3),
    ("neutral", 1 / 3),
    ("bright", 1.0),
)


@dataclass(frozen=True)
class ContextMood:
    """Mood of a context's listens whose artists have a mood (`coverage` is that share of the
    context's listens): the mean of each axis and the band shares of energy and valence (each
    sums to 1 over its bands)."""

    energy: float
    valence: float
    acoustic: float
    coverage: float
    energy_shares: dict[str, float]
    valence_shares: dict[str, float]


@dataclass(frozen=True)
class ContextProfile:
    """One listening context: its listens, cluster id -> share (sums to 1), top artists, mood."""

    kind: ContextKind
    context: str
    listens: int
    cluster_shares: dict[int, float]
    top_artists: tuple[str, ...]
    mood: ContextMood | None


@dataclass(frozen=True)
class MonthlyTaste:
    """One calendar month (local time): listens, cluster shares (sum to 1 when it has listens,
    empty otherwise) and its most listened artists."""

    month: date
    listens: int
    cluster_shares: dict[int, float]
    top_artists: tuple[str, ...]


@dataclass(frozen=True)
class ClockHour:
    """One hour of one weekday (local time) over the whole history: its listens and their
    cluster shares (sum to 1 when it has listens, empty otherwise)."""

    weekday: int  # Monday 0 .. Sunday 6
    hour: int  # 0..23
    listens: int
    cluster_shares: dict[int, float]


@dataclass(frozen=True)
class YearTops:
    """One calendar year (local time): its listens, most listened artists with their listens,
    and its tag profile (each artist weighed by that year's listens), strongest first."""

    year: int
    listens: int
    top_artists: tuple[tuple[str, int], ...]
    top_tags: tuple[tuple[str, float], ...]


def context_profiles(
    plays: PlayColumns,
    clusters: Sequence[TasteCluster],
    *,
    platforms: Sequence[str | None] | None = None,
    time_zone: str = "UTC",
    artist_moods: Mapping[str, MoodAxes] | None = None,
    top_n: int = 5,
    min_listen_ms: int = MIN_LISTEN_MS,
) -> list[ContextProfile]:
    """Per hour band, per weekday/weekend and (when `platforms` is given, one per play) per
    platform: the listens' cluster shares, top artists and, with `artist_moods`, mean mood.
    Times are local to the IANA `time_zone`; contexts without listens are left out."""
    listens = _Listens.of(plays, clusters, time_zone, min_listen_ms)
    contexts: list[tuple[ContextKind, str, np.ndarray]] = [
        ("hour_band", band, (listens.hour >= start) & (listens.hour < end))
        for band, start, end in HOUR_BANDS
    ]
    contexts += [
        ("day_type", "weekday", listens.weekday < 5),
        ("day_type", "weekend", listens.weekday >= 5),
    ]
    if platforms is not None:
        platform = np.asarray([p or UNKNOWN_PLATFORM for p in platforms], dtype=object)[
            listens.selected
        ]
        contexts += [("platform", str(name), platform == name) for name in np.unique(platform)]
    moods = _mood_columns(listens, artist_moods) if artist_moods else None
    return [
        ContextProfile(
            kind=kind,
            context=context,
            listens=int(mask.sum()),
            cluster_shares=listens.cluster_shares(mask),
            top_artists=listens.top_artists(mask, top_n),
            mood=_mean_mood(moods, mask) if moods is not None else None,
        )
        for kind, context, mask in contexts
        if mask.any()
    ]


# An artist's habits (`artist_habits`), which explanations name ("like your recent plays",
# "like what you play at night"): its listens in the last RECENT_DAYS of the listener's
# listening, and the hour band that holds at least BAND_MIN_SHARE of its listens (at least
# BAND_MIN_LISTENS of them) and BAND_MIN_LIFT times the share of the listener's own listens
# that band holds: a habit of that artist, not the listener's usual hours.
RECENT_DAYS = 30.0
BAND_MIN_SHARE = 0.5
BAND_MIN_LIFT = 1.5
BAND_MIN_LISTENS = 5


@dataclass(frozen=True)
class ArtistHabit:
    recent_listens: int
    hour_band: str  # "" when no band is the artist's own


def artist_habits(
    plays: PlayColumns, time_zone: str = "UTC", min_listen_ms: int = MIN_LISTEN_MS
) -> dict[str, ArtistHabit]:
    """Per listened artist: listens in the RECENT_DAYS before the last listen of `plays`, and
    its own hour band in the listener's `time_zone` (the rule above)."""
    selected = plays.ms_played >= min_listen_ms
    if not selected.any():
        return {}
    artist_code, artist_names = pd.factorize(
        np.asarray(plays.artist, dtype=object)[selected], sort=True
    )
    ended = plays.ended_at_s[selected]
    hour = (
        pd.DatetimeIndex(pd.to_datetime(ended, unit="s", utc=True))
        .tz_convert(time_zone)
        .hour.to_numpy()
    )
    n = len(artist_names)
    recent = ended >= ended.max() - RECENT_DAYS * 86_400.0
    recent_counts = np.bincount(artist_code, weights=recent, minlength=n)
    band_of_hour = np.empty(24, dtype=np.int64)
    for position, (_, start, end) in enumerate(HOUR_BANDS):
        band_of_hour[start:end] = position
    counts = np.zeros((n, len(HOUR_BANDS)))
    np.add.at(counts, (artist_code, band_of_hour[hour]), 1.0)
    totals = counts.sum(axis=1)
    listener_share = counts.sum(axis=0) / totals.sum()
    share = counts / totals[:, None]
    best = share.argmax(axis=1)
    best_share = share[np.arange(n), best]
    own = (
        (totals >= BAND_MIN_LISTENS)
        & (best_share >= BAND_MIN_SHARE)
        & (best_share >= BAND_MIN_LIFT * listener_share[best])
    )
    return {
        str(name): ArtistHabit(int(recent_counts[i]), HOUR_BANDS[best[i]][0] if own[i] else "")
        for i, name in enumerate(artist_names)
    }


def taste_evolution(
    plays: PlayColumns,
    clusters: Sequence[TasteCluster],
    as_of: datetime,
    *,
    time_zone: str = "UTC",
    top_n: int = 3,
    min_listen_ms: int = MIN_LISTEN_MS,
) -> list[MonthlyTaste]:
    """Every month from the first listen's to `as_of`'s (local time, no gaps): its cluster
    shares and top artists, so the profile can show how the listener's taste moved."""
    listens = _Listens.of(plays, clusters, time_zone, min_listen_ms, until_s=as_of.timestamp())
    if len(listens.artist) == 0:
        return []
    month_index = listens.year * 12 + listens.month - 1
    local_as_of = pd.Timestamp(as_of).tz_convert(time_zone)
    last = local_as_of.year * 12 + local_as_of.month - 1
    return [
        MonthlyTaste(
            month=date(index // 12, index % 12 + 1, 1),
            listens=int((month_index == index).sum()),
            cluster_shares=listens.cluster_shares(month_index == index),
            top_artists=listens.top_artists(month_index == index, top_n),
        )
        for index in range(int(month_index.min()), last + 1)
    ]


def listening_clock(
    plays: PlayColumns,
    clusters: Sequence[TasteCluster],
    *,
    time_zone: str = "UTC",
    min_listen_ms: int = MIN_LISTEN_MS,
) -> list[ClockHour]:
    """All 168 hours of the week, Monday 00:00 first, local to the IANA `time_zone`: how many
    listens each holds over the whole history and which tastes they were (none: 0 listens)."""
    listens = _Listens.of(plays, clusters, time_zone, min_listen_ms)
    cell = listens.weekday * 24 + listens.hour
    counts = np.bincount(cell, minlength=7 * 24)
    return [
        ClockHour(
            weekday=index // 24,
            hour=index % 24,
            listens=int(counts[index]),
            cluster_shares=listens.cluster_shares(cell == index) if counts[index] else {},
        )
        for index in range(7 * 24)
    ]


def yearly_tops(
    plays: PlayColumns,
    artist_tags: Mapping[str, Mapping[str, float]],
    *,
    time_zone: str = "UTC",
    top_n: int = 5,
    min_listen_ms: int = MIN_LISTEN_MS,
) -> list[YearTops]:
    """Each local calendar year with listens, newest first: its `top_n` artists by listens
    (ties by name) and its `top_n` tags, from `tag_profile` (the listener's tag profile's own
    arithmetic) with each artist weighed by its listens that year."""
    listens = _Listens.of(plays, (), time_zone, min_listen_ms)
    tops = []
    for year in sorted(set(listens.year.tolist()), reverse=True):
        in_year = listens.year == year
        by_artist = listens.artist_listens(in_year)
        tags = tag_profile(dict(by_artist), artist_tags, TAG_PROFILE_SIZE)
        tops.append(
            YearTops(
                year=int(year),
                listens=int(in_year.sum()),
                top_artists=tuple(by_artist[:top_n]),
                top_tags=tuple(list(tags.items())[:top_n]),
            )
        )
    return tops


@dataclass(frozen=True)
class _Listens:
    """The listens (>= min_listen_ms) with their local time parts and taste cluster."""

    selected: np.ndarray  # mask over the input plays
    artist: np.ndarray
    artist_names: np.ndarray  # distinct artists in code-point order
    artist_code: np.ndarray  # per listen, its artist's position in artist_names
    cluster: np.ndarray
    year: np.ndarray
    month: np.ndarray
    hour: np.ndarray
    weekday: np.ndarray  # Monday 0 .. Sunday 6

    @classmethod
    def of(
        cls,
        plays: PlayColumns,
        clusters: Sequence[TasteCluster],
        time_zone: str,
        min_listen_ms: int,
        until_s: float = np.inf,
    ) -> _Listens:
        selected = (plays.ms_played >= min_listen_ms) & (plays.ended_at_s <= until_s)
        artist = np.asarray(plays.artist, dtype=object)[selected]
        cluster_of = artist_clusters(clusters)
        artist_code, artist_names = pd.factorize(artist, sort=True)
        local = pd.DatetimeIndex(
            pd.to_datetime(plays.ended_at_s[selected], unit="s", utc=True)
        ).tz_convert(time_zone)
        return cls(
            selected=selected,
            artist=artist,
            artist_names=artist_names,
            artist_code=artist_code,
            cluster=np.array([cluster_of.get(a, OTHER_CLUSTER_ID) for a in artist], dtype=int),
            year=local.year.to_numpy(),
            month=local.month.to_numpy(),
            hour=local.hour.to_numpy(),
            weekday=local.day_of_week.to_numpy(),
        )

    def cluster_shares(self, mask: np.ndarray) -> dict[int, float]:
        ids, counts = np.unique(self.cluster[mask], return_counts=True)
        total = counts.sum()
        return {int(i): float(c / total) for i, c in zip(ids, counts, strict=True)}

    def top_artists(self, mask: np.ndarray, top_n: int) -> tuple[str, ...]:
        return tuple(artist for artist, _ in self.artist_listens(mask, top_n))

    def artist_listens(self, mask: np.ndarray, top_n: int | None = None) -> list[tuple[str, int]]:
        """The artists with listens in `mask` (the `top_n` first, or all) and their number,
        most first, ties by name."""
        counts = np.bincount(self.artist_code[mask], minlength=len(self.artist_names))
        # artist_names is sorted, so position order breaks count ties by name.
        order = np.lexsort((np.arange(len(counts)), -counts))[:top_n]
        return [(str(self.artist_names[i]), int(counts[i])) for i in order if counts[i] > 0]


def _band_shares(values: np.ndarray, bands: tuple[tuple[str, float], ...]) -> dict[str, float]:
    """Share of `values` in each band (upper bounds inclusive, the last band takes the rest)."""
    uppers = np.array([upper for _name, upper in bands[:-1]])
    counts = np.bincount(np.searchsorted(uppers, values, side="left"), minlength=len(bands))
    return {
        name: float(count / len(values)) for (name, _), count in zip(bands, counts, strict=True)
    }


def _mood_columns(listens: _Listens, artist_moods: Mapping[str, MoodAxes]) -> np.ndarray:
    """One (energy, valence, acoustic) row per listen; NaN where the artist has no mood.

    Looked up once per distinct artist, not per listen (140k listens, a few hundred artists)."""
    by_artist = np.full((len(listens.artist_names), 3), np.nan)
    for i, name in enumerate(listens.artist_names):
        mood = artist_moods.get(str(name))
        if mood is not None:
            by_artist[i] = mood
    return by_artist[listens.artist_code]


def _mean_mood(moods: np.ndarray, mask: np.ndarray) -> ContextMood | None:
    known = moods[mask]
    known = known[~np.isnan(known).any(axis=1)]
    if len(known) == 0:
        return None
    energy, valence, acoustic = known.mean(axis=0)
    return ContextMood(
        energy=float(energy),
        valence=float(valence),
        acoustic=float(acoustic),
        coverage=len(known) / int(mask.sum()),
        energy_shares=_band_shares(known[:, 0], ENERGY_BANDS),
        valence_shares=_band_shares(known[:, 1], VALENCE_BANDS),
    )
