"""SQL adapter of enrich: the Last.fm cache (artists, tags, similar artists, top tracks of
recommended artists, fetch log)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.enrich.adapters.lastfm import (
    ArtistInfo,
    ArtistKnowledge,
    ArtistTopTracks,
    SimilarArtists,
    TagArtists,
    TrackTags,
)


async def cached_keys(
    pool: AsyncConnectionPool, keys: Sequence[str], *, need_similar: bool, ttl: timedelta
) -> set[str]:
    """The artist keys whose cached knowledge is fresh enough (not-found answers count too)."""
    column = "similar_fetched_at" if need_similar else "tags_fetched_at"
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT artist_key FROM enrich.artists WHERE artist_key = ANY(%s)"
            f" AND (status = 'not_found' OR {column} > now() - %s)",
            (list(keys), ttl),
        )
        return {row[0] for row in await cur.fetchall()}


async def save_artist(pool: AsyncConnectionPool, knowledge: ArtistKnowledge) -> None:
    """Store one artist's answer at once, so a killed enrich resumes where it stopped."""
    key = knowledge.name.lower()
    status = "ok" if knowledge.found else "not_found"
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO enrich.artists (artist_key, name, status, listeners, playcount,
                   tags_fetched_at, similar_fetched_at)
               VALUES (%(key)s, %(name)s, %(status)s, %(listeners)s, %(playcount)s, now(),
                       CASE WHEN %(with_similar)s THEN now() END)
               ON CONFLICT (artist_key) DO UPDATE SET status = excluded.status,
                   listeners = coalesce(excluded.listeners, enrich.artists.listeners),
                   playcount = coalesce(excluded.playcount, enrich.artists.playcount),
                   tags_fetched_at = excluded.tags_fetched_at,
                   similar_fetched_at = coalesce(excluded.similar_fetched_at,
                                                 enrich.artists.similar_fetched_at)""",
            {
                "key": key,
                "name": knowledge.name,
                "status": status,
                "listeners": knowledge.info.listeners if knowledge.info else None,
                "playcount": knowledge.info.playcount if knowledge.info else None,
                "with_similar": knowledge.similar is not None,
            },
        )
        await conn.execute("DELETE FROM enrich.artist_tags WHERE artist_key = %s", (key,))
        if knowledge.clean_tags:
            async with conn.cursor().copy(
                "COPY enrich.artist_tags (artist_key, tag, weight, kind, place) FROM STDIN"
            ) as copy:
                for clean in knowledge.clean_tags:
                    await copy.write_row(
                        (key, clean.tag, clean.weight, clean.kind.value, clean.place)
                    )
        if knowledge.similar is not None:
            await _replace_similar(conn, key, knowledge.similar)
        method = "artist.getTopTags" + ("+getSimilar" if knowledge.similar is not None else "")
        await _log_fetch(conn, method, key, knowledge.found)


async def save_similar(
    pool: AsyncConnectionPool, name: str, similar: SimilarArtists, info: ArtistInfo
) -> None:
    """Add the similar artists and popularity of an artist whose tags are stored already."""
    key = name.lower()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            """UPDATE enrich.artists SET similar_fetched_at = now(),
                   listeners = coalesce(%s, listeners), playcount = coalesce(%s, playcount)
               WHERE artist_key = %s""",
            (info.listeners if info.found else None, info.playcount if info.found else None, key),
        )
        await _replace_similar(conn, key, [(a.name, a.match) for a in similar.similar])
        await _log_fetch(conn, "artist.getSimilar+getInfo", key, similar.found)


async def candidate_names(
    pool: AsyncConnectionPool, seeds: Sequence[str], budget: int, ttl: timedelta
) -> list[str]:
    """Similar artists of the seeds that have no fresh tags yet, strongest total match first."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT min(s.similar_name), sum(s.match) AS strength
               FROM enrich.similar_artists s
               LEFT JOIN enrich.artists a ON a.artist_key = s.similar_key
               WHERE s.artist_key = ANY(%s)
                 AND (a.artist_key IS NULL
                      OR (a.status = 'ok' AND (a.tags_fetched_at IS NULL
                                               OR a.tags_fetched_at <= now() - %s)))
               GROUP BY s.similar_key ORDER BY strength DESC, 1 LIMIT %s""",
            ([seed.lower() for seed in seeds], ttl, budget),
        )
        return [row[0] for row in await cur.fetchall()]


def track_key(artist: str, track: str) -> str:
    return f"{artist.lower()} - {track.lower()}"


async def cached_tracks(
    pool: AsyncConnectionPool, tracks: Sequence[tuple[str, str]], ttl: timedelta
) -> set[str]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT track_key FROM enrich.tracks WHERE track_key = ANY(%s)"
            " AND (status = 'not_found' OR fetched_at > now() - %s)",
            ([track_key(artist, track) for artist, track in tracks], ttl),
        )
        return {row[0] for row in await cur.fetchall()}


async def save_track_tags(pool: AsyncConnectionPool, tags: TrackTags) -> None:
    key = track_key(tags.artist, tags.track)
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO enrich.tracks (track_key, artist, track, status)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (track_key) DO UPDATE
               SET status = excluded.status, fetched_at = now()""",
            (key, tags.artist, tags.track, "ok" if tags.found else "not_found"),
        )
        await conn.execute("DELETE FROM enrich.track_tags WHERE track_key = %s", (key,))
        for clean in tags.tags:
            await conn.execute(
                "INSERT INTO enrich.track_tags (track_key, tag, weight, kind)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (key, clean.tag, clean.weight, clean.kind.value),
            )
        await _log_fetch(conn, "track.getTopTags", key, tags.found)


async def cached_tags(pool: AsyncConnectionPool, tags: Sequence[str], ttl: timedelta) -> set[str]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tag FROM enrich.tags WHERE tag = ANY(%s) AND fetched_at > now() - %s",
            (list(tags), ttl),
        )
        return {row[0] for row in await cur.fetchall()}


async def save_tag_artists(pool: AsyncConnectionPool, top: TagArtists) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO enrich.tags (tag, status) VALUES (%s, %s)
               ON CONFLICT (tag) DO UPDATE SET status = excluded.status, fetched_at = now()""",
            (top.tag, "ok" if top.found else "not_found"),
        )
        await conn.execute("DELETE FROM enrich.tag_top_artists WHERE tag = %s", (top.tag,))
        for rank, name in enumerate(top.artists, start=1):
            await conn.execute(
                "INSERT INTO enrich.tag_top_artists (tag, rank, artist_key, name)"
                " VALUES (%s, %s, %s, %s)",
                (top.tag, rank, name.lower(), name),
            )
        await _log_fetch(conn, "tag.getTopArtists", top.tag, top.found)


async def tag_candidate_names(
    pool: AsyncConnectionPool, tags: Sequence[str], budget: int, ttl: timedelta
) -> list[str]:
    """Top artists of the given tags that have no fresh tags of their own yet, best ranked first."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT min(t.name), min(t.rank) AS best
               FROM enrich.tag_top_artists t
               LEFT JOIN enrich.artists a ON a.artist_key = t.artist_key
               WHERE t.tag = ANY(%s)
                 AND (a.artist_key IS NULL
                      OR (a.status = 'ok' AND (a.tags_fetched_at IS NULL
                                               OR a.tags_fetched_at <= now() - %s)))
               GROUP BY t.artist_key ORDER BY best, 1 LIMIT %s""",
            (list(tags), ttl, budget),
        )
        return [row[0] for row in await cur.fetchall()]


async def cached_top_tracks(
    pool: AsyncConnectionPool, names: Sequence[str], ttl: timedelta
) -> set[str]:
    """The artist keys whose top tracks are fresh enough (a not-found answer counts too)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_key FROM enrich.top_track_fetches WHERE artist_key = ANY(%s)"
            " AND fetched_at > now() - %s",
            ([name.lower() for name in names], ttl),
        )
        return {row[0] for row in await cur.fetchall()}


async def top_track_counts(
    pool: AsyncConnectionPool, names: Sequence[str]
) -> dict[str, int | None]:
    """How many top tracks each stored artist has (None: Last.fm does not know them); artists
    never fetched are left out."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT f.artist_key, f.status, count(t.rank) FROM enrich.top_track_fetches f
               LEFT JOIN enrich.artist_top_tracks t USING (artist_key)
               WHERE f.artist_key = ANY(%s) GROUP BY f.artist_key, f.status""",
            ([name.lower() for name in names],),
        )
        return {
            key: None if status == "not_found" else int(count)
            for key, status, count in await cur.fetchall()
        }


async def save_top_tracks(pool: AsyncConnectionPool, top: ArtistTopTracks) -> None:
    """Replace one artist's top tracks at once, so a killed enrich resumes where it stopped."""
    key = top.artist.lower()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO enrich.top_track_fetches (artist_key, name, status)
               VALUES (%s, %s, %s)
               ON CONFLICT (artist_key) DO UPDATE
               SET name = excluded.name, status = excluded.status, fetched_at = now()""",
            (key, top.artist, "ok" if top.found else "not_found"),
        )
        await conn.execute("DELETE FROM enrich.artist_top_tracks WHERE artist_key = %s", (key,))
        async with conn.cursor().copy(
            "COPY enrich.artist_top_tracks (artist_key, rank, track, playcount, mbid) FROM STDIN"
        ) as copy:
            for rank, track in enumerate(top.tracks, start=1):
                await copy.write_row((key, rank, track.name, track.playcount, track.mbid))
        await _log_fetch(conn, "artist.getTopTracks", key, top.found)


async def _log_fetch(conn: AsyncConnection, method: str, key: str, found: bool) -> None:
    """One line per answer stored: what was asked, of whom, and whether Last.fm knew it."""
    await conn.execute(
        "INSERT INTO enrich.fetch_log (method, artist_key, outcome) VALUES (%s, %s, %s)",
        (method, key, "ok" if found else "not_found"),
    )


async def _replace_similar(
    conn: AsyncConnection, key: str, similar: Sequence[tuple[str, float]]
) -> None:
    """The artist's similar artists, once each (Last.fm spells some twice), never itself."""
    await conn.execute("DELETE FROM enrich.similar_artists WHERE artist_key = %s", (key,))
    seen: set[str] = set()
    async with conn.cursor().copy(
        "COPY enrich.similar_artists (artist_key, similar_key, similar_name, match) FROM STDIN"
    ) as copy:
        for name, match in similar:
            similar_key = name.lower()
            if similar_key not in seen and similar_key != key:
                seen.add(similar_key)
                await copy.write_row((key, similar_key, name, match))
