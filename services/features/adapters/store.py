"""SQL adapter of features: reads plays (ingest) and tags (enrich) as published read models,
writes the listener's profile into its own schema."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.features.domain.exclusions import Exclusion
from services.features.domain.moods import MoodKnowledge
from services.features.domain.taste import ArtistStats, PlayColumns, TrackStats, skip_flags

# No play history any source keeps predates 2000 (Audioscrobbler, the oldest of them, began
# in 2002; Spotify in 2006): an older stored stamp is damage, not listening (an epoch-0 or 1900
# default stored before ingest rejected such rows). The fixed half-life gave such a play no
# weight; the fitted recency counts listens, so the listener is read without them.
EARLIEST_LISTEN = "2000-01-01T00:00:00Z"
_PLAYS_SQL = (
    "SELECT artist_name, extract(epoch FROM ended_at)::float8, ms_played, skipped,"
    " reason_end, platform, track_name, track_uri FROM ingest.plays"
    " WHERE user_id = %s AND artist_name IS NOT NULL"
    f" AND ended_at >= '{EARLIEST_LISTEN}'"
    " AND (%s::timestamptz IS NULL OR ended_at < %s) ORDER BY ended_at"
)
_ARTIST_TAGS_SQL = (
    "SELECT artist_key, tag, weight FROM enrich.artist_tags WHERE artist_key = ANY(%s)"
)


async def load_plays(
    pool: AsyncConnectionPool, user_id: UUID, before: datetime | None = None
) -> tuple[PlayColumns, list[str | None]]:
    """The listener's plays as columns, oldest first, and the platform of each; with `before`
    only those that ended before it (the domain applies the same cut: this one saves reading
    plays it would drop)."""
    async with pool.connection() as conn:
        cur = await conn.execute(_PLAYS_SQL, (user_id, before, before))
        rows = await cur.fetchall()
    return _play_columns(rows)


def read_plays(
    conn: psycopg.Connection, user_id: UUID, before: datetime | None = None
) -> tuple[PlayColumns, list[str | None]]:
    """`load_plays` on a blocking connection, for the recompute worker process."""
    return _play_columns(conn.execute(_PLAYS_SQL, (user_id, before, before)).fetchall())


def _play_columns(rows: Sequence[tuple[Any, ...]]) -> tuple[PlayColumns, list[str | None]]:
    return PlayColumns(
        artist=[row[0] for row in rows],
        ended_at_s=np.fromiter((row[1] for row in rows), dtype=np.float64, count=len(rows)),
        ms_played=np.fromiter((row[2] for row in rows), dtype=np.int64, count=len(rows)),
        skipped=skip_flags([row[3] for row in rows], [row[4] for row in rows]),
        track=[row[6] for row in rows],
        track_uri=[row[7] for row in rows],
    ), [row[5] for row in rows]


async def load_artist_tags(
    pool: AsyncConnectionPool, artists: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Last.fm top tags (0-100) of the given artists, keyed by the listener's spelling."""
    by_key = {artist.lower(): artist for artist in artists}
    async with pool.connection() as conn:
        cur = await conn.execute(_ARTIST_TAGS_SQL, (list(by_key),))
        return _artist_tags(by_key, await cur.fetchall())


def read_artist_tags(
    conn: psycopg.Connection, artists: Sequence[str]
) -> dict[str, dict[str, float]]:
    """`load_artist_tags` on a blocking connection, for the recompute worker process."""
    by_key = {artist.lower(): artist for artist in artists}
    return _artist_tags(by_key, conn.execute(_ARTIST_TAGS_SQL, (list(by_key),)).fetchall())


def _artist_tags(
    by_key: dict[str, str], rows: Sequence[tuple[Any, ...]]
) -> dict[str, dict[str, float]]:
    tags: dict[str, dict[str, float]] = defaultdict(dict)
    for artist_key, tag, weight in rows:
        tags[by_key[artist_key]][tag] = float(weight)
    return dict(tags)


def read_mood_knowledge(conn: psycopg.Connection, artists: Sequence[str]) -> MoodKnowledge:
    """Enrich's similar artists of (and to) the given artists, with the tags enrich has for
    every artist on those edges, on a blocking connection, for the recompute worker."""
    keys = sorted({artist.lower() for artist in artists})
    similar = [
        (str(a), str(b), float(match))
        for a, b, match in conn.execute(
            "SELECT artist_key, similar_key, match FROM enrich.similar_artists"
            " WHERE artist_key = ANY(%s) OR similar_key = ANY(%s)",
            (keys, keys),
        ).fetchall()
    ]
    around = sorted({key for row in similar for key in row[:2]} | set(keys))
    rows = conn.execute(_ARTIST_TAGS_SQL, (around,)).fetchall()
    return MoodKnowledge(_artist_tags({key: key for key in around}, rows), similar)


def read_genre_tags(conn: psycopg.Connection, artists: Sequence[str]) -> frozenset[str]:
    """Which of the given artists' tags enrich classed as genres (tastes are named by them),
    on a blocking connection, for the recompute worker process."""
    rows = conn.execute(
        "SELECT DISTINCT tag FROM enrich.artist_tags WHERE artist_key = ANY(%s) AND kind = 'genre'",
        ([artist.lower() for artist in artists],),
    ).fetchall()
    return frozenset(str(row[0]) for row in rows)


async def profile_computed_at(pool: AsyncConnectionPool, user_id: UUID) -> datetime | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT computed_at FROM features.profiles WHERE user_id = %s", (user_id,)
        )
        row = await cur.fetchone()
    return row[0] if row else None


async def save_profile(
    pool: AsyncConnectionPool,
    user_id: UUID,
    *,
    computed_at: datetime,
    as_of: datetime,
    half_life_days: float,
    stats: Sequence[ArtistStats],
    tags: dict[str, float],
    tracks: Sequence[TrackStats] = (),
    recency: str = "",
    recency_fitted: bool = False,
) -> int:
    """Replace the listener's profile (artist stats, tag profile, per-track listens, how the
    artist weights were made) in one transaction; returns the new profile version."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("DELETE FROM features.artist_stats WHERE user_id = %s", (user_id,))
        await conn.execute("DELETE FROM features.tag_profile WHERE user_id = %s", (user_id,))
        await conn.execute("DELETE FROM features.track_stats WHERE user_id = %s", (user_id,))
        async with conn.cursor().copy(
            "COPY features.track_stats (user_id, artist_name, track_name, track_uri, listens)"
            " FROM STDIN"
        ) as copy:
            for t in tracks:
                await copy.write_row((user_id, t.artist, t.track, t.track_uri, t.listens))
        async with conn.cursor().copy(
            "COPY features.artist_stats (user_id, artist_name, plays, listens, skips, ms_played,"
            " first_listen, last_listen, decayed_weight, endorsement, recent_listens, hour_band)"
            " FROM STDIN"
        ) as copy:
            for s in stats:
                await copy.write_row(
                    (
                        user_id,
                        s.artist,
                        s.plays,
                        s.listens,
                        s.skips,
                        s.ms_played,
                        s.first_listen,
                        s.last_listen,
                        s.decayed_weight,
                        s.endorsement,
                        s.recent_listens,
                        s.hour_band,
                    )
                )
        async with conn.cursor().copy(
            "COPY features.tag_profile (user_id, tag, weight) FROM STDIN"
        ) as copy:
            for tag, weight in tags.items():
                await copy.write_row((user_id, tag, weight))
        cur = await conn.execute(
            """INSERT INTO features.profiles
                   (user_id, version, computed_at, as_of, plays, listens, artists, half_life_days,
                    recency, recency_fitted)
               VALUES (%s, 1, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (user_id) DO UPDATE SET version = features.profiles.version + 1,
                   computed_at = excluded.computed_at, as_of = excluded.as_of,
                   plays = excluded.plays, listens = excluded.listens,
                   artists = excluded.artists, half_life_days = excluded.half_life_days,
                   recency = excluded.recency, recency_fitted = excluded.recency_fitted
               RETURNING version""",
            (
                user_id,
                computed_at,
                as_of,
                sum(s.plays for s in stats),
                sum(s.listens for s in stats),
                len(stats),
                half_life_days,
                recency,
                recency_fitted,
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    version: int = row[0]
    return version


async def load_clusters(pool: AsyncConnectionPool, user_id: UUID) -> list[dict[str, Any]] | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT clusters FROM features.taste_details WHERE user_id = %s", (user_id,)
        )
        row = await cur.fetchone()
    return row[0] if row else None


async def save_details(
    pool: AsyncConnectionPool,
    user_id: UUID,
    details: dict[str, Any],
    computed_at: datetime,
    time_zone: dict[str, Any] | None = None,
) -> None:
    """Replace the listener's tastes, contexts, evolution, clock, years and mood estimates,
    with the zone (`ZoneChoice` as a dict) the contexts were computed in."""
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO features.taste_details (user_id, clusters, contexts, evolution,
                   artist_clusters, moods, clock, years, time_zone, computed_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (user_id) DO UPDATE SET clusters = excluded.clusters,
                   contexts = excluded.contexts, evolution = excluded.evolution,
                   artist_clusters = excluded.artist_clusters, moods = excluded.moods,
                   clock = excluded.clock, years = excluded.years,
                   time_zone = excluded.time_zone, computed_at = excluded.computed_at""",
            (
                user_id,
                Jsonb(details["clusters"]),
                Jsonb(details["contexts"]),
                Jsonb(details["evolution"]),
                Jsonb(details["artist_clusters"]),
                Jsonb(details["moods"]),
                Jsonb(details["clock"]),
                Jsonb(details["years"]),
                Jsonb(time_zone),
                computed_at,
            ),
        )


@dataclass(frozen=True)
class ProfileSummary:
    """The stored profile as the taste profile shows it: totals, the strongest artists and
    tags, and the tastes, contexts and evolution documents."""

    version: int
    computed_at: datetime
    plays: int
    listens: int
    artists: int
    half_life_days: float
    recency: str
    recency_fitted: bool
    top_artists: list[tuple[str, float, int]]
    top_tags: list[tuple[str, float]]
    details: dict[str, Any]


async def load_profile_summary(
    pool: AsyncConnectionPool, user_id: UUID, top: int = 20
) -> ProfileSummary | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT version, computed_at, plays, listens, artists, half_life_days, recency,"
            " recency_fitted FROM features.profiles WHERE user_id = %s",
            (user_id,),
        )
        header = await cur.fetchone()
        if header is None:
            return None
        cur = await conn.execute(
            "SELECT artist_name, decayed_weight, listens FROM features.artist_stats"
            " WHERE user_id = %s ORDER BY decayed_weight DESC, artist_name LIMIT %s",
            (user_id, top),
        )
        artists = [(name, float(w), int(n)) for name, w, n in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT tag, weight FROM features.tag_profile WHERE user_id = %s"
            " ORDER BY weight DESC, tag LIMIT %s",
            (user_id, top),
        )
        tags = [(tag, float(w)) for tag, w in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT clusters, contexts, evolution, time_zone, moods -> 'coverage', clock, years"
            " FROM features.taste_details WHERE user_id = %s",
            (user_id,),
        )
        row = await cur.fetchone()
    details = (
        {
            "clusters": row[0],
            "contexts": row[1],
            "evolution": row[2],
            "time_zone": row[3],
            "mood_coverage": row[4],
            "clock": row[5],
            "years": row[6],
        }
        if row
        else {}
    )
    version, computed_at, plays, listens, artist_count, half_life_days, recency, fitted = header
    return ProfileSummary(
        version,
        computed_at,
        plays,
        listens,
        artist_count,
        half_life_days,
        recency,
        fitted,
        artists,
        tags,
        details,
    )


async def plays_by_country(pool: AsyncConnectionPool, user_id: UUID) -> dict[str, int]:
    """The listener's plays per country they were played from (Spotify's conn_country)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT country, count(*) FROM ingest.plays"
            " WHERE user_id = %s AND country IS NOT NULL GROUP BY country",
            (user_id,),
        )
        return {str(country): int(plays) for country, plays in await cur.fetchall()}


async def load_time_zone(pool: AsyncConnectionPool, user_id: UUID) -> str | None:
    """The zone the listener set, if they did."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT time_zone FROM features.listener_time_zones WHERE user_id = %s", (user_id,)
        )
        row = await cur.fetchone()
    return str(row[0]) if row else None


async def save_time_zone(
    pool: AsyncConnectionPool, user_id: UUID, time_zone: str | None, set_at: datetime
) -> None:
    """Keep the zone the listener set (None: forget it, infer it again)."""
    async with pool.connection() as conn:
        if time_zone is None:
            await conn.execute(
                "DELETE FROM features.listener_time_zones WHERE user_id = %s", (user_id,)
            )
            return
        await conn.execute(
            "INSERT INTO features.listener_time_zones (user_id, time_zone, set_at)"
            " VALUES (%s, %s, %s) ON CONFLICT (user_id)"
            " DO UPDATE SET time_zone = EXCLUDED.time_zone, set_at = EXCLUDED.set_at",
            (user_id, time_zone, set_at),
        )


async def listeners_with_new_time_zones(pool: AsyncConnectionPool) -> list[tuple[UUID, datetime]]:
    """Listeners who set a zone their profile was not recomputed in yet (features stopped
    between storing it and recomputing), with when they set it."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT z.user_id, z.set_at FROM features.listener_time_zones z"
            " JOIN features.profiles p USING (user_id) WHERE z.set_at > p.computed_at"
        )
        return [(row[0], row[1]) for row in await cur.fetchall()]


_EXCLUSION_COLUMNS = (
    "exclusion_id, artist, track, played_from, played_until, platform, hour_from, hour_to,"
    " window_text, hours_text"
)


@dataclass(frozen=True)
class StoredExclusion:
    exclusion: Exclusion
    plays: int
    created_at: datetime


async def load_exclusions(pool: AsyncConnectionPool, user_id: UUID) -> list[StoredExclusion]:
    """The listener's exclusions in force, oldest first."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_EXCLUSION_COLUMNS}, plays, created_at FROM features.taste_exclusions"
            " WHERE user_id = %s AND removed_at IS NULL ORDER BY created_at, exclusion_id",
            (user_id,),
        )
        return [
            StoredExclusion(Exclusion(*row[:10]), int(row[10]), row[11])
            for row in await cur.fetchall()
        ]


async def save_exclusion(
    pool: AsyncConnectionPool, user_id: UUID, rule: Exclusion, plays: int, created_at: datetime
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            f"INSERT INTO features.taste_exclusions (user_id, {_EXCLUSION_COLUMNS}, plays,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                user_id,
                rule.exclusion_id,
                rule.artist,
                rule.track,
                rule.played_from,
                rule.played_until,
                rule.platform,
                rule.hour_from,
                rule.hour_to,
                rule.window,
                rule.hours,
                plays,
                created_at,
            ),
        )


async def remove_exclusion(
    pool: AsyncConnectionPool, user_id: UUID, exclusion_id: UUID, removed_at: datetime
) -> StoredExclusion | None:
    """Undo one of the listener's exclusions in force; None if they have no such one."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE features.taste_exclusions SET removed_at = %s"
            " WHERE exclusion_id = %s AND user_id = %s AND removed_at IS NULL"
            f" RETURNING {_EXCLUSION_COLUMNS}, plays, created_at",
            (removed_at, exclusion_id, user_id),
        )
        row = await cur.fetchone()
    return StoredExclusion(Exclusion(*row[:10]), int(row[10]), row[11]) if row else None


async def listeners_with_new_exclusions(pool: AsyncConnectionPool) -> list[tuple[UUID, datetime]]:
    """Listeners whose exclusions changed after their profile was computed, with when."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT e.user_id, max(greatest(e.created_at, coalesce(e.removed_at, e.created_at)))"
            " FROM features.taste_exclusions e JOIN features.profiles p USING (user_id)"
            " GROUP BY e.user_id, p.computed_at"
            " HAVING max(greatest(e.created_at, coalesce(e.removed_at, e.created_at)))"
            " > p.computed_at"
        )
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def forget_removed_exclusions(
    pool: AsyncConnectionPool, user_id: UUID, before: datetime
) -> None:
    """Drop undone exclusions the profile computed at `before` has followed."""
    async with pool.connection() as conn:
        await conn.execute(
            "DELETE FROM features.taste_exclusions"
            " WHERE user_id = %s AND removed_at IS NOT NULL AND removed_at <= %s",
            (user_id, before),
        )
