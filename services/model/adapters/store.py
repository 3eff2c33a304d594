"""SQL adapter of the model: reads the taste profile (features) and Last.fm knowledge (enrich)
as published read models; writes model versions and recommendation sets to its own schema."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fullcircle.moods import MoodVector
from services.model.domain.playlist import LASTFM_TOP_TRACKS, YOUR_PLAYS
from services.model.domain.rediscovery import PastArtist
from services.model.domain.scoring import ScoredArtist
from services.model.domain.steering import Steering

READ_CHUNK_ROWS = 2_000


@dataclass(frozen=True)
class StoredItem:
    artist: str
    mode: str
    score: float
    because: str
    parts: list[dict[str, Any]]
    similar_to: list[str]
    top_tags: list[str]
    taste: str


@dataclass(frozen=True)
class StoredSet:
    set_id: UUID
    model_version: str
    created_at: datetime
    items: list[StoredItem]


async def load_past_artists(pool: AsyncConnectionPool, user_id: UUID) -> list[PastArtist]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_name, listens, last_listen FROM features.artist_stats"
            " WHERE user_id = %s AND last_listen IS NOT NULL",
            (user_id,),
        )
        return [PastArtist(*row) for row in await cur.fetchall()]


async def save_set(
    pool: AsyncConnectionPool,
    user_id: UUID,
    profile_version: int,
    model_version: str,
    method: str,
    metrics: dict[str, Any],
    items: Sequence[tuple[ScoredArtist, str, list[dict[str, Any]], str]],
    revision: int = 0,
    sets_kept: int | None = None,
) -> UUID:
    """Store a model version and its recommendation set in one transaction; items are (scored,
    because, parts, taste), each with its sources. With `sets_kept`, the listener's older sets
    beyond that many (the new one counted) go in the same transaction, their items with them."""
    set_id = uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO model.model_versions (model_version, user_id, method, metrics, features)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (model_version) DO NOTHING",
            (model_version, user_id, method, json.dumps(metrics), json.dumps(["similar", "tags"])),
        )
        await conn.execute(
            "INSERT INTO model.recommendation_sets"
            " (set_id, user_id, profile_version, revision, model_version)"
            " VALUES (%s, %s, %s, %s, %s)",
            (set_id, user_id, profile_version, revision, model_version),
        )
        async with conn.cursor().copy(
            "COPY model.recommendations (set_id, rank, artist, mode, score, because, parts,"
            " similar_to, top_tags, taste, sources) FROM STDIN"
        ) as copy:
            for rank, (scored, because, parts, taste) in enumerate(items, start=1):
                await copy.write_row(
                    (
                        set_id,
                        rank,
                        scored.artist,
                        "discovery",
                        scored.score,
                        because,
                        json.dumps(parts),
                        list(scored.top_seed_artists),
                        list(scored.top_tags),
                        taste,
                        list(scored.sources),
                    )
                )
        if sets_kept is not None:
            await _prune_sets(conn, user_id, sets_kept)
    return set_id


async def _prune_sets(conn: AsyncConnection, user_id: UUID, kept: int) -> None:
    """Delete the listener's sets older than their newest `kept` (items go by cascade)."""
    await conn.execute(
        """DELETE FROM model.recommendation_sets WHERE set_id IN (
               SELECT set_id FROM model.recommendation_sets WHERE user_id = %s
               ORDER BY created_at DESC, profile_version DESC, revision DESC OFFSET %s)""",
        (user_id, kept),
    )


async def load_set(
    pool: AsyncConnectionPool, user_id: UUID, set_id: UUID | None, limit: int
) -> StoredSet | None:
    """A stored set of this user (the latest when `set_id` is None), its first `limit` items."""
    async with pool.connection() as conn:
        if set_id is None:
            cur = await conn.execute(
                "SELECT set_id, model_version, created_at FROM model.recommendation_sets"
                " WHERE user_id = %s ORDER BY created_at DESC LIMIT 1",
                (user_id,),
            )
        else:
            cur = await conn.execute(
                "SELECT set_id, model_version, created_at FROM model.recommendation_sets"
                " WHERE user_id = %s AND set_id = %s",
                (user_id, set_id),
            )
        header = await cur.fetchone()
        if header is None:
            return None
        cur = await conn.execute(
            f"""SELECT artist, mode, score, because, parts, similar_to, top_tags, taste
                FROM model.recommendations WHERE set_id = %s
                  AND lower(artist) NOT IN ({_HIDDEN_ARTISTS})
                ORDER BY rank LIMIT %s""",
            (header[0], user_id, limit),
        )
        items = [StoredItem(*row) for row in await cur.fetchall()]
    return StoredSet(header[0], header[1], header[2], items)


# Artists the listener disliked, or hid until a date still to come: never shown, whatever the
# set says, from the moment the feedback is recorded.
_HIDDEN_ARTISTS = """SELECT artist_key FROM model.feedback WHERE user_id = %s
    AND kind IN ('dislike', 'do_not_recommend') AND (expires_at IS NULL OR expires_at > now())"""


async def latest_set_made_at(
    pool: AsyncConnectionPool, user_id: UUID
) -> tuple[int, int, datetime] | None:
    """(profile version, revision, created at) of the listener's newest set."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT profile_version, revision, created_at FROM model.recommendation_sets"
            " WHERE user_id = %s ORDER BY profile_version DESC, revision DESC LIMIT 1",
            (user_id,),
        )
        row = await cur.fetchone()
    return (int(row[0]), int(row[1]), row[2]) if row else None


async def set_top_artists(pool: AsyncConnectionPool, set_id: UUID, limit: int) -> list[str]:
    """The first `limit` artists of a stored set, by rank (what its event names)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist FROM model.recommendations WHERE set_id = %s ORDER BY rank LIMIT %s",
            (set_id, limit),
        )
        return [row[0] for row in await cur.fetchall()]


async def explain_item(pool: AsyncConnectionPool, user_id: UUID, artist: str) -> StoredItem | None:
    """The named artist as the listener's newest set explains it."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT r.artist, r.mode, r.score, r.because, r.parts, r.similar_to, r.top_tags,
                      r.taste
               FROM model.recommendations r
               WHERE r.set_id = (SELECT set_id FROM model.recommendation_sets WHERE user_id = %s
                                 ORDER BY created_at DESC LIMIT 1)
                 AND lower(r.artist) = lower(%s)""",
            (user_id, artist),
        )
        row = await cur.fetchone()
    return StoredItem(*row) if row else None


async def _similar_artists(
    conn: AsyncConnection, seeds: Sequence[str], display: dict[str, str]
) -> dict[str, list[tuple[str, float]]]:
    """Last.fm's similar artists of the seeds (keys); learns the candidates' spellings."""
    cur = await conn.execute(
        "SELECT artist_key, similar_key, similar_name, match FROM enrich.similar_artists"
        " WHERE artist_key = ANY(%s)",
        (list(seeds),),
    )
    similar: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for seed, candidate, name, match in await cur.fetchall():
        similar[seed].append((candidate, float(match)))
        display.setdefault(candidate, name)
    return similar


async def _artist_tags(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, dict[str, float]]:
    cur = await conn.execute(
        "SELECT artist_key, tag, weight FROM enrich.artist_tags WHERE artist_key = ANY(%s)",
        (list(keys),),
    )
    artist_tags: dict[str, dict[str, float]] = defaultdict(dict)
    # A listener's whole history is tens of thousands of rows: read in chunks, letting the
    # event loop answer Recommender calls between them instead of stalling for one long read.
    while rows := await cur.fetchmany(READ_CHUNK_ROWS):
        for key, tag, weight in rows:
            artist_tags[key][tag] = float(weight)
        await asyncio.sleep(0)
    return artist_tags


@dataclass(frozen=True)
class Tastes:
    """The listener's taste clusters: names, recent shares, and each artist's cluster."""

    names: dict[int, str]
    recent_shares: dict[int, float]
    artist_cluster: dict[str, int]  # lower-cased artist -> cluster id
    tags: dict[int, dict[str, float]] = field(default_factory=dict)  # cluster -> its top tags


async def load_tastes(pool: AsyncConnectionPool, user_id: UUID) -> Tastes:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT clusters, artist_clusters FROM features.taste_details WHERE user_id = %s",
            (user_id,),
        )
        row = await cur.fetchone()
    if row is None:
        return Tastes({}, {}, {})
    clusters, members = row
    real = [c for c in clusters if not c["is_other"]]
    return Tastes(
        names={c["cluster_id"]: c["name"] for c in real},
        recent_shares={c["cluster_id"]: float(c["recent_share"]) for c in real},
        artist_cluster={artist.lower(): int(cluster) for artist, cluster in members},
        tags={
            c["cluster_id"]: {tag: float(weight) for tag, weight in c.get("top_tags", [])}
            for c in real
        },
    )


@dataclass(frozen=True)
class PlaylistInputs:
    choices: list[PlaylistChoiceRow]
    context_shares: dict[int, float]


@dataclass(frozen=True)
class PlaylistTrackRow:
    """A track a recommended artist can enter a playlist through, with its own track tags."""

    name: str
    track_uri: str
    plays: float  # Last.fm playcount (LASTFM_TOP_TRACKS) or the listener's listens (YOUR_PLAYS)
    tags: list[tuple[str, float]]
    source: str
    mbid: str = ""  # a Last.fm top track's MusicBrainz id, when Last.fm gave one


@dataclass(frozen=True)
class PlaylistChoiceRow:
    artist: str
    track: str  # a recommended artist's is empty: it is chosen among `tracks` for the prompt
    track_uri: str
    familiar: bool
    weight: float
    tags: list[tuple[str, float]]
    taste: int | None
    estimated_mood: MoodVector | None = None  # features' estimate, for an artist it has one
    tracks: list[PlaylistTrackRow] = field(default_factory=list)  # a recommended artist's


async def load_playlist_inputs(
    pool: AsyncConnectionPool, user_id: UUID, hour_band: str | None, own_tracks: int = 300
) -> PlaylistInputs:
    """The listener's most listened-to tracks and their newest recommendations, with the tags
    that place them on the mood axes (track tags, else the artist's), features' mood estimate
    of the artist where it made one, and their taste; each recommended artist with the tracks
    it can enter through (`_recommended_tracks`)."""
    tastes = await load_tastes(pool, user_id)
    by_name = {name: cluster for cluster, name in tastes.names.items()}
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT artist_name, track_name, track_uri, listens FROM features.track_stats
               WHERE user_id = %s ORDER BY listens DESC, 1, 2 LIMIT %s""",
            (user_id, own_tracks),
        )
        own = await cur.fetchall()
        cur = await conn.execute(
            """SELECT r.artist, r.score, r.taste FROM model.recommendations r
               WHERE r.set_id = (SELECT set_id FROM model.recommendation_sets
                                 WHERE user_id = %s ORDER BY created_at DESC LIMIT 1)
                 AND lower(r.artist) NOT IN ("""
            + _HIDDEN_ARTISTS
            + ") ORDER BY r.rank",
            (user_id, user_id),
        )
        new = await cur.fetchall()
        track_keys = [f"{artist.lower()} - {track.lower()}" for artist, track, _, _ in own]
        cur = await conn.execute(
            "SELECT track_key, tag, weight FROM enrich.track_tags WHERE track_key = ANY(%s)",
            (track_keys,),
        )
        track_tags: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for key, tag, weight in await cur.fetchall():
            track_tags[key].append((tag, float(weight)))
        artist_keys = list({a.lower() for a, *_ in own} | {a.lower() for a, *_ in new})
        artist_tags = await _artist_tags(conn, artist_keys)
        recommended_tracks = await _recommended_tracks(conn, user_id, [a for a, *_ in new])
        estimated = await _estimated_moods(conn, user_id)
        contexts = await _context_shares(conn, user_id, hour_band)
    choices = [
        PlaylistChoiceRow(
            artist,
            track,
            uri or "",
            True,
            float(listens),
            track_tags.get(f"{artist.lower()} - {track.lower()}")
            or list(artist_tags.get(artist.lower(), {}).items()),
            tastes.artist_cluster.get(artist.lower()),
            estimated.get(artist.lower()),
        )
        for artist, track, uri, listens in own
    ] + [
        PlaylistChoiceRow(
            artist,
            "",
            "",
            False,
            float(score),
            list(artist_tags.get(artist.lower(), {}).items()),
            by_name.get(taste),
            estimated.get(artist.lower()),
            recommended_tracks.get(artist.lower(), []),
        )
        for artist, score, taste in new
    ]
    return PlaylistInputs(choices, contexts)


async def _recommended_tracks(
    conn: AsyncConnection, user_id: UUID, artists: Sequence[str]
) -> dict[str, list[PlaylistTrackRow]]:
    """Lower-cased artist -> the tracks it can enter a playlist through: the listener's own
    plays of it (features' listens, with their Spotify URI) and its Last.fm top tracks as
    enrich stored them (all it keeps, most played first), each with the track tags enrich has
    for it (none for most top tracks: enrich tags the listener's own most played tracks)."""
    keys = [artist.lower() for artist in artists]
    cur = await conn.execute(
        """SELECT lower(artist_name), track_name, min(track_uri), sum(listens)
           FROM features.track_stats WHERE user_id = %s AND lower(artist_name) = ANY(%s)
           GROUP BY lower(artist_name), track_name""",
        (user_id, keys),
    )
    found = [
        (key, track, uri or "", float(listens), YOUR_PLAYS, "")
        for key, track, uri, listens in await cur.fetchall()
    ]
    cur = await conn.execute(
        "SELECT artist_key, track, playcount, mbid FROM enrich.artist_top_tracks"
        " WHERE artist_key = ANY(%s) ORDER BY artist_key, rank",
        (keys,),
    )
    found += [
        (key, track, "", float(playcount), LASTFM_TOP_TRACKS, mbid)
        for key, track, playcount, mbid in await cur.fetchall()
    ]
    cur = await conn.execute(
        "SELECT track_key, tag, weight FROM enrich.track_tags WHERE track_key = ANY(%s)",
        (list({f"{key} - {track.lower()}" for key, track, *_ in found}),),
    )
    track_tags: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for track_key, tag, weight in await cur.fetchall():
        track_tags[track_key].append((tag, float(weight)))
    tracks: dict[str, list[PlaylistTrackRow]] = defaultdict(list)
    for key, track, uri, plays, source, mbid in found:
        tags = track_tags.get(f"{key} - {track.lower()}", [])
        tracks[key].append(PlaylistTrackRow(track, uri, plays, tags, source, mbid))
    return tracks


@dataclass(frozen=True)
class RerankInputs:
    """For re-ranking recommendations by a prompt: each artist's tags (by lower-cased name),
    features' mood estimates of the listener's artists it made one for, the taste ids by name,
    and the cluster shares of the asked hour band (empty without one)."""

    tags: dict[str, list[tuple[str, float]]]
    estimated_moods: dict[str, MoodVector]
    tastes: dict[str, int]
    context_shares: dict[int, float]


async def load_rerank_inputs(
    pool: AsyncConnectionPool, user_id: UUID, artists: Sequence[str], hour_band: str | None
) -> RerankInputs:
    tastes = await load_tastes(pool, user_id)
    async with pool.connection() as conn:
        tags = await _artist_tags(conn, [artist.lower() for artist in artists])
        estimated = await _estimated_moods(conn, user_id)
        shares = await _context_shares(conn, user_id, hour_band)
    return RerankInputs(
        {key: list(values.items()) for key, values in tags.items()},
        estimated,
        {name: cluster for cluster, name in tastes.names.items()},
        shares,
    )


async def _estimated_moods(conn: AsyncConnection, user_id: UUID) -> dict[str, MoodVector]:
    """Lower-cased artist -> the mood features estimated for it from related tags or similar
    artists (features/domain/moods.py); artists their own tags place are not listed."""
    cur = await conn.execute(
        "SELECT moods -> 'estimated' FROM features.taste_details WHERE user_id = %s", (user_id,)
    )
    row = await cur.fetchone()
    return {
        str(key): MoodVector(float(energy), float(valence), float(acoustic), float(confidence))
        for key, (energy, valence, acoustic, confidence, _source) in (
            (row and row[0]) or {}
        ).items()
    }


async def _context_shares(
    conn: AsyncConnection, user_id: UUID, hour_band: str | None
) -> dict[int, float]:
    """Cluster id -> share of the listener's listens in that hour band (empty without one)."""
    if hour_band is None:
        return {}
    cur = await conn.execute(
        """SELECT c -> 'cluster_shares' FROM features.taste_details,
                  jsonb_array_elements(contexts) AS c
           WHERE user_id = %s AND c ->> 'kind' = 'hour_band' AND c ->> 'context' = %s""",
        (user_id, hour_band),
    )
    row = await cur.fetchone()
    return {int(k): float(v) for k, v in (row[0] if row else {}).items()}


@dataclass(frozen=True)
class TrackToPlay:
    """A track to play of a recommended artist, and where it comes from (LASTFM_TOP_TRACKS or
    YOUR_PLAYS)."""

    name: str
    track_uri: str
    source: str


async def lastfm_top_tracks(
    pool: AsyncConnectionPool, artists: Sequence[str], per_artist: int
) -> dict[str, list[TrackToPlay]]:
    """Lower-cased artist -> its most played tracks on Last.fm, as enrich stored them for the
    artists of the listener's sets (none until enrich has fetched them)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_key, track FROM enrich.artist_top_tracks"
            " WHERE artist_key = ANY(%s) AND rank <= %s ORDER BY artist_key, rank",
            ([artist.lower() for artist in artists], per_artist),
        )
        rows = await cur.fetchall()
    tracks: dict[str, list[TrackToPlay]] = defaultdict(list)
    for key, track in rows:
        tracks[key].append(TrackToPlay(track, "", LASTFM_TOP_TRACKS))
    return tracks


async def own_top_tracks(
    pool: AsyncConnectionPool, user_id: UUID, artists: Sequence[str], per_artist: int
) -> dict[str, list[TrackToPlay]]:
    """Lower-cased artist -> the listener's own most listened-to tracks of it (features'
    listens), with the Spotify URI their history holds."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT artist_key, track_name, track_uri FROM (
                   SELECT lower(artist_name) AS artist_key, track_name,
                          min(track_uri) AS track_uri,
                          row_number() OVER (PARTITION BY lower(artist_name)
                                             ORDER BY sum(listens) DESC, track_name) AS rank
                   FROM features.track_stats
                   WHERE user_id = %s AND lower(artist_name) = ANY(%s)
                   GROUP BY lower(artist_name), track_name) AS ranked
               WHERE rank <= %s ORDER BY artist_key, rank""",
            (user_id, [artist.lower() for artist in artists], per_artist),
        )
        rows = await cur.fetchall()
    tracks: dict[str, list[TrackToPlay]] = defaultdict(list)
    for key, track, uri in rows:
        tracks[key].append(TrackToPlay(track, uri or "", YOUR_PLAYS))
    return tracks


async def load_steering(pool: AsyncConnectionPool, user_id: UUID) -> Steering:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tastes, familiarity FROM model.steering WHERE user_id = %s", (user_id,)
        )
        row = await cur.fetchone()
    if row is None:
        return Steering()
    return Steering(dict(row[0]), None if row[1] is None else float(row[1]))


async def save_steering(pool: AsyncConnectionPool, user_id: UUID, steering: Steering) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO model.steering (user_id, tastes, familiarity) VALUES (%s, %s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET tastes = EXCLUDED.tastes,"
            " familiarity = EXCLUDED.familiarity, updated_at = now()",
            (user_id, json.dumps(dict(steering.tastes)), steering.familiarity),
        )


async def top_track_playcounts(
    pool: AsyncConnectionPool, artists: Sequence[str]
) -> dict[str, float]:
    """Artist key -> the Last.fm playcount of its top tracks (which enrich fetches for every
    artist of a set), for those of `artists` fetched so far: index lookups, these rows only."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_key, sum(playcount) FROM enrich.artist_top_tracks"
            " WHERE artist_key = ANY(%s) GROUP BY artist_key",
            ([artist.lower() for artist in artists],),
        )
        return {str(key): float(playcount) for key, playcount in await cur.fetchall()}
