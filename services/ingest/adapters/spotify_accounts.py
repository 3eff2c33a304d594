"""SQL adapter of linked Spotify accounts: sealed tokens, cursors and sync schedules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


@dataclass(frozen=True)
class SpotifyAccount:
    user_id: UUID
    user_name: str
    sealed_tokens: bytes
    cursor_ms: int | None
    time_zone: str
    sync_cron: str
    status: str

    def __repr__(self) -> str:
        return f"SpotifyAccount(user={self.user_name!r}, status={self.status!r})"


_COLUMNS = "user_id, user_name, sealed_tokens, cursor_ms, time_zone, sync_cron, status"


async def link_account(
    conn: AsyncConnection,
    user_id: UUID,
    user_name: str,
    sealed_tokens: bytes,
    time_zone: str,
    sync_cron: str,
    next_sync_at: datetime,
) -> None:
    """Store (or replace) a listener's link; a re-link keeps the cursor, so no play repeats."""
    await conn.execute(
        """INSERT INTO ingest.spotify_accounts
               (user_id, user_name, sealed_tokens, time_zone, sync_cron, next_sync_at)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (user_id) DO UPDATE SET sealed_tokens = excluded.sealed_tokens,
               time_zone = excluded.time_zone, sync_cron = excluded.sync_cron,
               next_sync_at = excluded.next_sync_at, status = 'linked', last_error = NULL,
               linked_at = now()""",
        (user_id, user_name, sealed_tokens, time_zone, sync_cron, next_sync_at),
    )


async def unlink_account(conn: AsyncConnection, user_id: UUID) -> bool:
    """Forget the account and its tokens; the plays already stored stay."""
    cur = await conn.execute("DELETE FROM ingest.spotify_accounts WHERE user_id = %s", (user_id,))
    return cur.rowcount > 0


@dataclass(frozen=True)
class LinkState:
    """A listener's link as they may see it (no tokens, no cursor)."""

    status: str
    linked_at: datetime
    last_sync_at: datetime | None
    last_sync_plays: int | None
    next_sync_at: datetime
    last_error: str | None
    time_zone: str
    sync_cron: str


async def link_state(pool: AsyncConnectionPool, user_id: UUID) -> LinkState | None:
    """The listener's link, or None when they have not linked Spotify."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, linked_at, last_sync_at, last_sync_plays, next_sync_at, last_error,"
            " time_zone, sync_cron FROM ingest.spotify_accounts WHERE user_id = %s",
            (user_id,),
        )
        row = await cur.fetchone()
    return LinkState(*row) if row else None


# An account is free when no lease holds it; a lease whose holder crashed runs out on its own.
_FREE = "status = 'linked' AND (lease_until IS NULL OR lease_until < now())"


async def claim_due_account(
    pool: AsyncConnectionPool, holder: str, lease: timedelta
) -> SpotifyAccount | None:
    """Lease the account due longest to `holder`; one another replica is claiming at this
    moment is skipped (SKIP LOCKED), not waited for. One at a time, so replicas share them."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"""UPDATE ingest.spotify_accounts SET lease_until = now() + %s, leased_by = %s
                WHERE user_id IN (
                    SELECT user_id FROM ingest.spotify_accounts
                    WHERE {_FREE} AND next_sync_at <= now()
                    ORDER BY next_sync_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING {_COLUMNS}""",
            (lease, holder),
        )
        row = await cur.fetchone()
    return SpotifyAccount(*row) if row else None


async def claim_account(
    pool: AsyncConnectionPool, user_id: UUID, holder: str, lease: timedelta
) -> SpotifyAccount | None:
    """Lease one linked account to `holder` (a sync on request); None when it is not linked
    or another sync holds it (that sync reads the same new plays)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"""UPDATE ingest.spotify_accounts SET lease_until = now() + %s, leased_by = %s
                WHERE user_id = %s AND {_FREE}
                RETURNING {_COLUMNS}""",
            (lease, holder, user_id),
        )
        row = await cur.fetchone()
    return SpotifyAccount(*row) if row else None


async def save_tokens(pool: AsyncConnectionPool, user_id: UUID, sealed_tokens: bytes) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE ingest.spotify_accounts SET sealed_tokens = %s WHERE user_id = %s",
            (sealed_tokens, user_id),
        )


async def record_sync(
    pool: AsyncConnectionPool,
    user_id: UUID,
    *,
    cursor_ms: int | None,
    plays: int,
    possible_gap: bool,
    next_sync_at: datetime,
) -> None:
    """The sync's outcome, and its lease given back."""
    async with pool.connection() as conn:
        await conn.execute(
            """UPDATE ingest.spotify_accounts SET cursor_ms = coalesce(%s, cursor_ms),
                   last_sync_at = now(), last_sync_plays = %s, last_error = NULL,
                   possible_gap_at = CASE WHEN %s THEN now() ELSE possible_gap_at END,
                   next_sync_at = %s, lease_until = NULL, leased_by = NULL
               WHERE user_id = %s""",
            (cursor_ms, plays, possible_gap, next_sync_at, user_id),
        )


async def record_failure(
    pool: AsyncConnectionPool,
    user_id: UUID,
    error: str,
    next_sync_at: datetime,
    *,
    relink_required: bool,
) -> None:
    """The failed sync's error and when to try again, and its lease given back."""
    async with pool.connection() as conn:
        await conn.execute(
            """UPDATE ingest.spotify_accounts SET last_error = %s, next_sync_at = %s,
                   status = CASE WHEN %s THEN 'relink_required' ELSE status END,
                   lease_until = NULL, leased_by = NULL
               WHERE user_id = %s""",
            (error, next_sync_at, relink_required, user_id),
        )


async def release(pool: AsyncConnectionPool, user_id: UUID, holder: str) -> None:
    """Give a lease back early (the sync stopped before it recorded an outcome)."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE ingest.spotify_accounts SET lease_until = NULL, leased_by = NULL"
            " WHERE user_id = %s AND leased_by = %s",
            (user_id, holder),
        )


@dataclass(frozen=True)
class LinkRequest:
    user_id: UUID
    user_name: str
    sealed_verifier: bytes
    time_zone: str
    sync_cron: str

    def __repr__(self) -> str:
        return f"LinkRequest(user={self.user_name!r})"


LINK_REQUEST_TTL = "15 minutes"


async def save_link_request(pool: AsyncConnectionPool, state: str, request: LinkRequest) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            f"DELETE FROM ingest.spotify_link_requests"
            f" WHERE created_at < now() - interval '{LINK_REQUEST_TTL}'"
        )
        await conn.execute(
            "INSERT INTO ingest.spotify_link_requests"
            " (state, user_id, user_name, sealed_verifier, time_zone, sync_cron)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (
                state,
                request.user_id,
                request.user_name,
                request.sealed_verifier,
                request.time_zone,
                request.sync_cron,
            ),
        )


async def take_link_request(
    pool: AsyncConnectionPool, state: str, user_id: UUID
) -> LinkRequest | None:
    """The pending link of this listener under `state` (used once; expired ones are gone)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"""DELETE FROM ingest.spotify_link_requests
                WHERE state = %s AND user_id = %s
                  AND created_at >= now() - interval '{LINK_REQUEST_TTL}'
                RETURNING user_id, user_name, sealed_verifier, time_zone, sync_cron""",
            (state, user_id),
        )
        row = await cur.fetchone()
    return LinkRequest(*row) if row else None


async def link_status(pool: AsyncConnectionPool, user_id: UUID) -> str | None:
    """'linked', 'relink_required', or None when the listener has no linked account."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status FROM ingest.spotify_accounts WHERE user_id = %s", (user_id,)
        )
        row = await cur.fetchone()
    return str(row[0]) if row else None


async def written_playlist(pool: AsyncConnectionPool, user_id: UUID, key: str) -> str | None:
    """The Spotify id of the playlist written for `key` before, if any."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT playlist_id FROM ingest.spotify_playlists"
            " WHERE user_id = %s AND playlist_key = %s",
            (user_id, key),
        )
        row = await cur.fetchone()
    return str(row[0]) if row else None


async def save_written_playlist(
    pool: AsyncConnectionPool, user_id: UUID, key: str, playlist_id: str, items: int
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """INSERT INTO ingest.spotify_playlists (user_id, playlist_key, playlist_id, items)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (user_id, playlist_key) DO UPDATE SET playlist_id = excluded.playlist_id,
                   items = excluded.items, written_at = now()""",
            (user_id, key, playlist_id, items),
        )


async def searched_tracks(
    pool: AsyncConnectionPool, keys: list[tuple[str, str]], miss_days: int
) -> dict[tuple[str, str], str | None]:
    """(artist key, title key) -> the URI Spotify's search found (None: a miss younger than
    `miss_days`), for the keys searched before; a key not in the answer is to be searched."""
    if not keys:
        return {}
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT artist_key, title_key, track_uri FROM ingest.spotify_track_search
               WHERE (artist_key, title_key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
                 AND (track_uri IS NOT NULL OR searched_at > now() - make_interval(days => %s))""",
            ([a for a, _ in keys], [t for _, t in keys], miss_days),
        )
        return {(artist, title): uri for artist, title, uri in await cur.fetchall()}


async def save_searched_tracks(
    pool: AsyncConnectionPool, found: dict[tuple[str, str], str | None]
) -> None:
    async with pool.connection() as conn:
        await conn.cursor().executemany(
            """INSERT INTO ingest.spotify_track_search (artist_key, title_key, track_uri)
               VALUES (%s, %s, %s)
               ON CONFLICT (artist_key, title_key) DO UPDATE SET track_uri = excluded.track_uri,
                   searched_at = now()""",
            [(artist, title, uri) for (artist, title), uri in found.items()],
        )
