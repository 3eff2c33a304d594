"""SQL adapter of features: reads plays (ingest) and tags (enrich) as published read models,
writes the listener's profile into its own schema."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import numpy as np
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.features.domain.taste import ArtistStats, PlayColumns


async def load_plays(
    pool: AsyncConnectionPool, user_id: UUID
) -> tuple[PlayColumns, list[str | None]]:
    """The listener's plays as columns, oldest first, and the platform of each."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_name, extract(epoch FROM ended_at)::float8, ms_played,"
            " coalesce(skipped, false) OR coalesce(reason_end = 'fwdbtn', false), platform"
            " FROM ingest.plays WHERE user_id = %s AND artist_name IS NOT NULL"
            " ORDER BY ended_at",
            (user_id,),
        )
        rows = await cur.fetchall()
    return PlayColumns(
        artist=[row[0] for row in rows],
        ended_at_s=np.fromiter((row[1] for row in rows), dtype=np.float64, count=len(rows)),
        ms_played=np.fromiter((row[2] for row in rows), dtype=np.int64, count=len(rows)),
        skipped=np.fromiter((row[3] for row in rows), dtype=bool, count=len(rows)),
    ), [row[4] for row in rows]


async def load_artist_tags(
    pool: AsyncConnectionPool, artists: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Last.fm top tags (0-100) of the given artists, keyed by the listener's spelling."""
    by_key = {artist.lower(): artist for artist in artists}
    tags: dict[str, dict[str, float]] = defaultdict(dict)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_key, tag, weight FROM enrich.artist_tags WHERE artist_key = ANY(%s)",
            (list(by_key),),
        )
        for artist_key, tag, weight in await cur.fetchall():
            tags[by_key[artist_key]][tag] = float(weight)
    return dict(tags)


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
) -> int:
    """Replace the listener's profile in one transaction; returns the new profile version."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("DELETE FROM features.artist_stats WHERE user_id = %s", (user_id,))
        await conn.execute("DELETE FROM features.tag_profile WHERE user_id = %s", (user_id,))
        async with conn.cursor().copy(
            "COPY features.artist_stats (user_id, artist_name, plays, listens, skips, ms_played,"
            " first_listen, last_listen, decayed_weight, endorsement) FROM STDIN"
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
                    )
                )
        async with conn.cursor().copy(
            "COPY features.tag_profile (user_id, tag, weight) FROM STDIN"
        ) as copy:
            for tag, weight in tags.items():
                await copy.write_row((user_id, tag, weight))
        cur = await conn.execute(
            """INSERT INTO features.profiles
                   (user_id, version, computed_at, as_of, plays, listens, artists, half_life_days)
               VALUES (%s, 1, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (user_id) DO UPDATE SET version = features.profiles.version + 1,
                   computed_at = excluded.computed_at, as_of = excluded.as_of,
                   plays = excluded.plays, listens = excluded.listens,
                   artists = excluded.artists, half_life_days = excluded.half_life_days
               RETURNING version""",
            (
                user_id,
                computed_at,
                as_of,
                sum(s.plays for s in stats),
                sum(s.listens for s in stats),
                len(stats),
                half_life_days,
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
    pool: AsyncConnectionPool, user_id: UUID, details: dict[str, Any], computed_at: datetime
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO features.taste_details (user_id, clusters, contexts, evolution,
                   artist_clusters, computed_at) VALUES (%s, %s, %s, %s, %s, %s)
               ON CONFLICT (user_id) DO UPDATE SET clusters = excluded.clusters,
                   contexts = excluded.contexts, evolution = excluded.evolution,
                   artist_clusters = excluded.artist_clusters,
                   computed_at = excluded.computed_at""",
            (
                user_id,
                Jsonb(details["clusters"]),
                Jsonb(details["contexts"]),
                Jsonb(details["evolution"]),
                Jsonb(details["artist_clusters"]),
                computed_at,
            ),
        )
