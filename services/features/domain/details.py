"""The listener's taste clusters, contexts and evolution as plain JSON-ready documents (what the
features service stores and the taste profile shows), and what changed between two of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from services.features.domain.clusters import TasteCluster, cluster_tastes
from services.features.domain.contexts import (
    ContextMood,
    ContextProfile,
    context_profiles,
    listening_clock,
    taste_evolution,
    yearly_tops,
)
from services.features.domain.moods import (
    MoodEstimate,
    MoodKnowledge,
    listener_moods,
    mood_coverage,
)
from services.features.domain.taste import MIN_LISTEN_MS, PlayColumns

ARTISTS_SHOWN = 10
TAGS_SHOWN = 5


def taste_details(
    plays: PlayColumns,
    platforms: Sequence[str | None],
    as_of: datetime,
    artist_tags: dict[str, dict[str, float]],
    time_zone: str = "UTC",
    min_listen_ms: int = MIN_LISTEN_MS,
    genres: frozenset[str] | None = None,
    mood_knowledge: MoodKnowledge | None = None,
) -> dict[str, Any]:
    """Clusters (with tags when known), contexts (with their mood when one is known), monthly
    evolution, the listening clock (168 hours of the week) and each year's top artists and
    tags of one listener, all counting plays of at least `min_listen_ms` in `time_zone`; and
    `moods`: the coverage of the listens by known moods before and after estimating them
    (domain/moods.py, with `mood_knowledge`) and the estimated ones (artist -> energy,
    valence, acoustic, confidence, source; those the vocabulary placed are left out, their
    tags say it), for the model's playlists."""
    clusters = cluster_tastes(
        plays, as_of, artist_tags or None, min_listen_ms=min_listen_ms, genres=genres
    )
    before, moods = listener_moods(sorted(set(plays.artist)), artist_tags, mood_knowledge)
    details: dict[str, Any] = {
        "clusters": [_cluster(cluster) for cluster in clusters],
        "artist_clusters": [
            [artist, cluster.cluster_id] for cluster in clusters for artist in cluster.artists
        ],
        "contexts": [
            _context(context)
            for context in context_profiles(
                plays,
                clusters,
                platforms=platforms,
                time_zone=time_zone,
                artist_moods={artist: mood.axes for artist, mood in moods.items()} or None,
                min_listen_ms=min_listen_ms,
            )
        ],
        "evolution": [
            {
                "month": month.month.isoformat()[:7],
                "listens": month.listens,
                "cluster_shares": {str(k): v for k, v in month.cluster_shares.items()},
                "top_artists": list(month.top_artists),
            }
            for month in taste_evolution(
                plays, clusters, as_of, time_zone=time_zone, min_listen_ms=min_listen_ms
            )
        ],
        "clock": [
            {
                "weekday": hour.weekday,
                "hour": hour.hour,
                "listens": hour.listens,
                "cluster_shares": {str(k): v for k, v in hour.cluster_shares.items()},
            }
            for hour in listening_clock(
                plays, clusters, time_zone=time_zone, min_listen_ms=min_listen_ms
            )
        ],
        "years": [
            {
                "year": year.year,
                "listens": year.listens,
                "top_artists": [list(artist) for artist in year.top_artists],
                "top_tags": [list(tag) for tag in year.top_tags],
            }
            for year in yearly_tops(
                plays, artist_tags, time_zone=time_zone, min_listen_ms=min_listen_ms
            )
        ],
    }
    details["moods"] = _moods(plays, min_listen_ms, before, moods)
    plain: dict[str, Any] = _plain(details)
    return plain


def _moods(
    plays: PlayColumns,
    min_listen_ms: int,
    before: dict[str, MoodEstimate],
    after: dict[str, MoodEstimate],
) -> dict[str, Any]:
    listened = np.asarray(plays.artist, dtype=object)[np.asarray(plays.ms_played) >= min_listen_ms]
    names, counts = np.unique(listened, return_counts=True)
    coverage = mood_coverage(dict(zip(names.tolist(), counts.tolist(), strict=True)), before, after)
    return {
        "coverage": {
            "listens": coverage.listens,
            "before": coverage.before,
            "after": coverage.after,
        },
        "estimated": {
            artist.lower(): [*mood.axes, mood.confidence, mood.source]
            for artist, mood in sorted(after.items())
            if artist not in before
        },
    }


def _plain(value: Any) -> Any:
    """The same document with numpy scalars turned into Python ones (JSON can store it)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _context(context: ContextProfile) -> dict[str, Any]:
    document: dict[str, Any] = {
        "kind": context.kind,
        "context": context.context,
        "listens": context.listens,
        "cluster_shares": {str(k): v for k, v in context.cluster_shares.items()},
        "top_artists": list(context.top_artists),
    }
    if context.mood is not None:
        document["mood"] = _mood(context.mood)
    return document


def _mood(mood: ContextMood) -> dict[str, Any]:
    return {
        "energy": mood.energy,
        "valence": mood.valence,
        "acoustic": mood.acoustic,
        "coverage": mood.coverage,
        "energy_shares": dict(mood.energy_shares),
        "valence_shares": dict(mood.valence_shares),
    }


def _cluster(cluster: TasteCluster) -> dict[str, Any]:
    tags = sorted(cluster.tag_profile.items(), key=lambda item: (-item[1], item[0]))
    return {
        "cluster_id": cluster.cluster_id,
        "name": cluster.name,
        "artists": list(cluster.artists[:ARTISTS_SHOWN]),
        "size": len(cluster.artists),
        "all_time_share": cluster.all_time_share,
        "recent_share": cluster.recent_share,
        "trend": cluster.trend,
        "top_tags": [[tag, weight] for tag, weight in tags[:TAGS_SHOWN]],
        "is_other": cluster.is_other,
    }


def clusters_changed(before: list[dict[str, Any]] | None, after: list[dict[str, Any]]) -> bool:
    """Whether the tastes differ in name, membership head or trend (what the model cares for)."""
    if before is None:
        return True

    def signature(clusters: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        return {(c["name"], tuple(c["artists"][:3]), c["trend"]) for c in clusters}

    return signature(before) != signature(after)
