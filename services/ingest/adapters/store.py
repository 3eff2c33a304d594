"""SQL adapter of ingest: the upload claim check, plays (COPY into a stage, then insert what is
new), and import records."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.ingest.domain.announce import ArtistDelta, ArtistTally, artist_deltas
from services.ingest.domain.exports import ParsedExport
from services.ingest.domain.plays import COPY_COLUMNS, COPY_TYPES, Play

_COLUMNS = ", ".join(COPY_COLUMNS)
_WRITE_LOCK_SEED = 7  # of the listener's advisory lock (model's retrain lock has its own)


@dataclass(frozen=True)
class ImportRecord:
    import_id: UUID
    user_id: UUID
    file_name: str
    status: str
    plays_read: int
    plays_new: int
    duplicates: int
    set_aside: int
    rejected: int
    error: str | None
    report: dict[str, Any] | None


class ImportFinished(Exception):
    """The import was finished by another delivery of its request while this one waited."""


_RECORD_COLUMNS = (
    "import_id, user_id, file_name, status, plays_read, plays_new, duplicates,"
    " set_aside, rejected, error, report"
)


async def load_upload(pool: AsyncConnectionPool, upload_id: UUID) -> str | None:
    """The uploaded export's file name, if the upload (the gateway's claim check, kept in
    parts) still exists and is complete; its bytes are read with `upload_parts`."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT file_name FROM gateway.uploads WHERE upload_id = %s AND complete",
            (upload_id,),
        )
        row = await cur.fetchone()
    return None if row is None else str(row[0])


def upload_parts(
    pool: AsyncConnectionPool, upload_id: UUID, loop: asyncio.AbstractEventLoop
) -> Iterator[bytes]:
    """The upload's parts in order, one query each, for a parse running in a worker thread
    (each part is fetched on `loop` when the parse asks for it): only the part being read
    is in memory, never the whole upload."""
    after = -1
    while True:
        fetched = asyncio.run_coroutine_threadsafe(_part_after(pool, upload_id, after), loop)
        part = fetched.result()
        if part is None:
            return
        after, data = part
        yield data


async def _part_after(
    pool: AsyncConnectionPool, upload_id: UUID, part_no: int
) -> tuple[int, bytes] | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT part_no, data FROM gateway.upload_parts WHERE upload_id = %s AND part_no > %s"
            " ORDER BY part_no LIMIT 1",
            (upload_id, part_no),
        )
        row = await cur.fetchone()
    return None if row is None else (int(row[0]), bytes(row[1]))


async def get_import(pool: AsyncConnectionPool, import_id: UUID) -> ImportRecord | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_RECORD_COLUMNS} FROM ingest.imports WHERE import_id = %s", (import_id,)
        )
        row = await cur.fetchone()
    return ImportRecord(*row) if row else None


async def start_import(
    pool: AsyncConnectionPool, import_id: UUID, user_id: UUID, file_name: str
) -> None:
    """Record the import as running; a record that exists already (a redelivered request) is
    left as it is, so a finished import is never set running again."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO ingest.imports (import_id, user_id, file_name, status)"
            " VALUES (%s, %s, %s, 'running') ON CONFLICT (import_id) DO NOTHING",
            (import_id, user_id, file_name),
        )


async def fail_import(pool: AsyncConnectionPool, import_id: UUID, error: str) -> bool:
    """Mark a running import failed; False when it had finished already (then it stays so)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE ingest.imports SET status = 'failed', error = %s, finished_at = now()"
            " WHERE import_id = %s AND status = 'running'",
            (error, import_id),
        )
        return cur.rowcount == 1


@asynccontextmanager
async def announcing(
    pool: AsyncConnectionPool, import_id: UUID, request_id: UUID
) -> AsyncIterator[ImportRecord | None]:
    """The finished import's record while its end is announced for the request `request_id`
    (the imports.requested event's id), or None when it was announced for that request already
    (or is not finished). The record stays locked until the block ends, then is marked
    announced for the request: another delivery of it meanwhile waits here and then gets None,
    a crash before the mark leaves it for the redelivery, and a new request for the same
    import (`fullcircle replay`) gets the stored record to announce again."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            f"SELECT {_RECORD_COLUMNS} FROM ingest.imports WHERE import_id = %s"
            " AND status <> 'running' AND announced_for IS DISTINCT FROM %s FOR UPDATE",
            (import_id, request_id),
        )
        row = await cur.fetchone()
        yield ImportRecord(*row) if row else None
        if row:
            await conn.execute(
                "UPDATE ingest.imports SET announced_for = %s, announced_at = now()"
                " WHERE import_id = %s",
                (request_id, import_id),
            )


async def lock_listener(conn: AsyncConnection, user_id: UUID) -> None:
    """Hold the listener's write lock until `conn`'s transaction ends, waiting for whoever has
    it: storing plays and erasing them exclude each other, so an account erased while an
    import or a sync was storing does not get that import's plays back when it commits."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))", (str(user_id), _WRITE_LOCK_SEED)
    )


async def store_export(
    pool: AsyncConnectionPool,
    user_id: UUID,
    import_id: UUID,
    parse: Callable[[Callable[[list[Play]], None]], ParsedExport],
    *,
    chunk_rows: int,
    report_of: Callable[[ParsedExport], dict[str, Any]],
    on_chunk: Callable[[int], Awaitable[None]],
) -> tuple[ParsedExport, list[ArtistDelta]]:
    """Parse (in a worker thread) and store at once, all or nothing: each batch of plays the
    parse hands over is COPYed while the next is parsed, so PostgreSQL's share of the work
    runs on the other core; at the end, plays a later row superseded are replaced and the
    late ones added (`ParsedExport.late_plays`). An ExportError from the parse rolls
    everything back.

    `parse(hand)` calls `read_upload(..., hand=hand)`; a parse that ignores `hand` (an export
    parsed already) leaves every play late, so it is stored in one COPY at the end. `hand`
    waits while two batches are waiting to be stored, so a parse faster than the COPY does
    not pile plays up in memory. `on_chunk(stored)` reports progress every `chunk_rows` plays.

    The import's record is locked first: another delivery of the same request waits for
    this one to commit, then raises `ImportFinished` instead of storing it again."""
    loop = asyncio.get_running_loop()
    batches: asyncio.Queue[list[Play] | None] = asyncio.Queue(maxsize=2)
    abandoned = threading.Event()

    def hand(plays: list[Play]) -> None:
        if abandoned.is_set():
            raise _Abandoned
        asyncio.run_coroutine_threadsafe(batches.put(plays), loop).result()

    async def parse_to_end() -> ParsedExport:
        try:
            return await asyncio.to_thread(parse, hand)
        finally:
            await batches.put(None)

    async with pool.connection() as conn, conn.transaction():
        await lock_listener(conn, user_id)
        await _hold_running_import(conn, import_id)
        first = await _is_first_import(conn, user_id)
        if not first:
            await _create_stage(conn)
        table, leading = _copy_target(first, user_id, import_id)
        parsing = asyncio.ensure_future(parse_to_end())
        copied = reported = 0
        tally = ArtistTally()  # a first import's deltas, as its plays are copied
        try:
            async with _copying(conn, table, leading) as write:
                while (batch := await batches.get()) is not None:
                    await write(batch)
                    copied += len(batch)
                    if first:
                        tally.add(batch)
                    if copied - reported >= chunk_rows:  # progress every chunk_rows plays
                        reported = copied
                        await on_chunk(copied)
            if copied > reported:
                await on_chunk(copied)
        finally:
            if not parsing.done():
                # Storing failed: stop the parse at its next batch, unblocking its hand.
                abandoned.set()
                while not parsing.done():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        batches.get_nowait()
                    await asyncio.sleep(0.01)
                with contextlib.suppress(Exception):  # the storing error is the one to raise
                    await parsing
        export = await parsing
        if export.withdrawn_keys:
            owner = "user_id = %s AND " if first else ""
            await conn.execute(
                f"DELETE FROM {table} WHERE {owner}play_key = ANY(%s)",
                (user_id, export.withdrawn_keys) if first else (export.withdrawn_keys,),
            )

        async def late_progress(count: int) -> None:
            await on_chunk(copied - len(export.withdrawn_keys) + count)

        if export.late_plays:
            await _copy_plays(conn, table, leading, export.late_plays, chunk_rows, late_progress)
        if first and export.withdrawn_keys:
            # What was withdrawn is not in the tally's terms (rare): count what is stored.
            deltas = await _stored_deltas(conn, import_id, user_id)
        elif first:
            tally.add(export.late_plays)
            deltas = tally.deltas()
        else:
            deltas = await _insert_from_stage(conn, user_id, import_id)
        await _finish_import(conn, import_id, export.music_plays, deltas, report_of(export))
    return export, deltas


class _Abandoned(Exception):
    """Raised into a parse whose plays can no longer be stored."""


async def _hold_running_import(conn: AsyncConnection, import_id: UUID) -> None:
    """Lock the import's record for this transaction; `ImportFinished` if it is not running."""
    cur = await conn.execute(
        "SELECT status FROM ingest.imports WHERE import_id = %s FOR UPDATE", (import_id,)
    )
    row = await cur.fetchone()
    if row is None or row[0] != "running":
        raise ImportFinished(f"import {import_id} is {row[0] if row else 'not recorded'}")


async def _finish_import(
    conn: AsyncConnection,
    import_id: UUID,
    plays_read: int,
    deltas: Sequence[ArtistDelta],
    report: dict[str, Any],
) -> None:
    plays_new = sum(delta.new_plays for delta in deltas)
    await conn.execute(
        """UPDATE ingest.imports SET status = 'done', finished_at = now(), plays_read = %s,
               plays_new = %s, duplicates = %s, set_aside = %s, rejected = %s, report = %s
           WHERE import_id = %s""",
        (
            plays_read,
            plays_new,
            plays_read - plays_new,
            report["set_aside"],
            report["rejected"],
            json.dumps(report),
            import_id,
        ),
    )


async def store_synced_plays(
    pool: AsyncConnectionPool, user_id: UUID, plays: Sequence[Play]
) -> list[ArtistDelta]:
    """Store plays fetched from the Spotify Web API; returns what is new per artist."""

    async def no_progress(_: int) -> None:
        return None

    async with pool.connection() as conn, conn.transaction():
        await lock_listener(conn, user_id)
        return await _insert_new_plays(conn, user_id, None, plays, len(plays) or 1, no_progress)


async def _insert_new_plays(
    conn: AsyncConnection,
    user_id: UUID,
    import_id: UUID | None,
    plays: Sequence[Play],
    chunk_rows: int,
    on_chunk: Callable[[int], Awaitable[None]],
) -> list[ArtistDelta]:
    """COPY into a stage table, then insert what is not stored yet (inside the caller's
    transaction); most-played artists first. A listener's first import has nothing to
    collide with, so it is copied straight into the plays table (the export's own duplicates
    are merged already; a concurrent first import of the same listener fails on the key and
    is retried)."""
    first = await _is_first_import(conn, user_id)
    if not first:
        await _create_stage(conn)
    table, leading = _copy_target(first, user_id, import_id)
    await _copy_plays(conn, table, leading, plays, chunk_rows, on_chunk)
    if first:
        return artist_deltas(plays)
    return await _insert_from_stage(conn, user_id, import_id)


async def _is_first_import(conn: AsyncConnection, user_id: UUID) -> bool:
    cur = await conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM ingest.plays WHERE user_id = %s)", (user_id,)
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def _create_stage(conn: AsyncConnection) -> None:
    await conn.execute(
        f"CREATE TEMP TABLE plays_stage ON COMMIT DROP AS"
        f" SELECT {_COLUMNS} FROM ingest.plays WITH NO DATA"
    )


def _copy_target(
    first: bool, user_id: UUID, import_id: UUID | None
) -> tuple[str, tuple[tuple[str, str, object], ...]]:
    """Where the plays are COPYed and the (column, type, value) triples leading each row."""
    if first:
        return "ingest.plays", (("user_id", "uuid", user_id), ("import_id", "uuid", import_id))
    return "plays_stage", ()


async def _insert_from_stage(
    conn: AsyncConnection, user_id: UUID, import_id: UUID | None
) -> list[ArtistDelta]:
    """Insert the staged plays not stored yet; what is new per artist, most played first."""
    await _drop_plays_stored_from_another_source(conn, user_id)
    cur = await conn.execute(
        f"""WITH new_plays AS (
                INSERT INTO ingest.plays (user_id, import_id, {_COLUMNS})
                SELECT %s, %s, {_COLUMNS} FROM plays_stage
                ON CONFLICT (user_id, play_key) DO NOTHING
                RETURNING artist_name, ended_at)
            SELECT coalesce(artist_name, ''), count(*), min(ended_at), max(ended_at)
            FROM new_plays GROUP BY 1 ORDER BY 2 DESC, 1""",
        (user_id, import_id),
    )
    return [ArtistDelta(*row) for row in await cur.fetchall()]


# How a play from one Spotify source is recognised as already stored from another (the
# Spotify plays of one listener reach us through the extended export, the account-data export
# and the Web API):
# - account data has the end of the play to the minute and names only: it matches a play with
#   the same artist and track names (case-insensitive) whose end falls in that minute;
# - the Web API has the track URI and an end computed from start + duration: it matches a
#   play of the same URI ending within 30 s of it.
# The play stored first stays; the later copy is not stored and counts as a duplicate. Plays
# of the other sources (Last.fm, ListenBrainz, YouTube, Apple Music: their times are when a
# track began) are matched with no other source yet: each is stored once per its own key.
_CROSS_SOURCE_MATCHES = (
    """DELETE FROM plays_stage s USING ingest.plays p
       WHERE p.user_id = %(user)s AND s.source = 'account' AND p.source IN ('extended', 'api')
         AND lower(p.artist_name) = lower(s.artist_name)
         AND lower(p.track_name) = lower(s.track_name)
         AND date_trunc('minute', p.ended_at) = s.ended_at""",
    """DELETE FROM plays_stage s USING ingest.plays p
       WHERE p.user_id = %(user)s AND p.source = 'account' AND s.source IN ('extended', 'api')
         AND lower(p.artist_name) = lower(s.artist_name)
         AND lower(p.track_name) = lower(s.track_name)
         AND date_trunc('minute', s.ended_at) = p.ended_at""",
    """DELETE FROM plays_stage s USING ingest.plays p
       WHERE p.user_id = %(user)s AND (s.source = 'api') <> (p.source = 'api')
         AND p.track_uri = s.track_uri
         AND p.ended_at BETWEEN s.ended_at - interval '30 seconds'
                            AND s.ended_at + interval '30 seconds'""",
)


async def _drop_plays_stored_from_another_source(conn: AsyncConnection, user_id: UUID) -> None:
    """Remove from the stage the plays this listener has stored already through another
    source (see _CROSS_SOURCE_MATCHES); skipped when only one source is involved."""
    cur = await conn.execute(
        "SELECT (SELECT array_agg(DISTINCT source) FROM plays_stage),"
        " ARRAY(SELECT DISTINCT source FROM ingest.plays WHERE user_id = %s)",
        (user_id,),
    )
    row = await cur.fetchone()
    staged, stored = set((row[0] if row else None) or []), set((row[1] if row else None) or [])
    if not stored or len(staged | stored) <= 1:
        return
    for statement in _CROSS_SOURCE_MATCHES:
        await conn.execute(statement, {"user": user_id})


@asynccontextmanager
async def _copying(
    conn: AsyncConnection, table: str, leading: Sequence[tuple[str, str, object]]
) -> AsyncIterator[Callable[[Sequence[Play]], Awaitable[None]]]:
    """One binary COPY into `table`, open for as many `write(plays)` as the caller makes,
    each row led by the `leading` (column, type, value) triples. One COPY for the whole
    import: ending and restarting it per chunk stalled both sides (the server finishing a
    chunk while we waited, then idling while we encoded the next)."""
    columns = ", ".join([*(name for name, _, _ in leading), *COPY_COLUMNS])
    types = [*(kind for _, kind, _ in leading), *COPY_TYPES]
    values = tuple(value for _, _, value in leading)
    async with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        # The row encoder directly, one await per 32 KiB block rather than per row
        # (AsyncCopy.write_row is this plus an await): a fifth of the store's Python time.
        encode = copy.formatter.write_row

        async def write(plays: Sequence[Play]) -> None:
            for play in plays:
                if block := encode((*values, *play.copy_row())):
                    await copy.write(block)

        yield write


async def _copy_plays(
    conn: AsyncConnection,
    table: str,
    leading: Sequence[tuple[str, str, object]],
    plays: Sequence[Play],
    chunk_rows: int,
    on_chunk: Callable[[int], Awaitable[None]],
) -> None:
    """The plays COPYed into `table` (see `_copying`), progress after every `chunk_rows`."""
    async with _copying(conn, table, leading) as write:
        for start in range(0, len(plays), chunk_rows):
            await write(plays[start : start + chunk_rows])
            await on_chunk(min(start + chunk_rows, len(plays)))


async def import_deltas(pool: AsyncConnectionPool, import_id: UUID) -> list[ArtistDelta]:
    """What an already finished import added, per artist (to re-announce it after a crash)."""
    async with pool.connection() as conn:
        return await _stored_deltas(conn, import_id)


async def _stored_deltas(
    conn: AsyncConnection, import_id: UUID, user_id: UUID | None = None
) -> list[ArtistDelta]:
    """The plays stored under the import, per artist, most played first (`user_id`, when
    known, lets the listener's index find them)."""
    owner = "" if user_id is None else " AND user_id = %s"
    cur = await conn.execute(
        "SELECT coalesce(artist_name, ''), count(*), min(ended_at), max(ended_at)"
        f" FROM ingest.plays WHERE import_id = %s{owner} GROUP BY 1 ORDER BY 2 DESC, 1",
        (import_id,) if user_id is None else (import_id, user_id),
    )
    return [ArtistDelta(*row) for row in await cur.fetchall()]
