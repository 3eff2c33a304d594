"""SQL adapter of play deletion: which of a listener's plays a request names, removed in one
transaction with the import records that go with them."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from fullcircle.events import PlaysDeletionRequested
from services.ingest.adapters.store import lock_listener


class DeletionRefused(Exception):
    """Nothing was deleted, and why; the message is meant for the listener."""

    def __init__(self, reason: Literal["not_found", "running"], message: str) -> None:
        super().__init__(message)
        self.reason: Literal["not_found", "running"] = reason


async def delete_plays(
    pool: AsyncConnectionPool, request: PlaysDeletionRequested
) -> dict[str, int]:
    """Delete the plays `request` names (and, for one import or all, the import records);
    returns rows removed per kind. Deleting again removes nothing more."""
    async with pool.connection() as conn, conn.transaction():
        await _refuse_while_importing(conn, request.user_id)
        await lock_listener(conn, request.user_id)
        if request.import_id is not None:
            return await _delete_import(conn, request.user_id, request.import_id)
        if request.everything:
            plays = await _delete(conn, "ingest.plays", "user_id = %s", (request.user_id,))
            imports = await _delete(conn, "ingest.imports", "user_id = %s", (request.user_id,))
            return {"plays": plays, "imports": imports}
        values: tuple[object, ...]
        if request.artist is not None:
            condition, values = "lower(artist_name) = lower(%s)", (request.artist,)
        elif request.played_from is not None and request.played_to is not None:
            condition = "ended_at >= %s AND ended_at < %s"
            values = (request.played_from, request.played_to)
        else:
            raise ValueError(f"deletion request {request.event_id} names no plays")
        plays = await _delete(
            conn, "ingest.plays", f"user_id = %s AND {condition}", (request.user_id, *values)
        )
        return {"plays": plays}


async def _refuse_while_importing(conn: AsyncConnection, user_id: UUID) -> None:
    """An import still storing plays would bring back what is deleted now (its rows are not
    visible until it commits): the listener deletes once it is done."""
    cur = await conn.execute(
        "SELECT import_id FROM ingest.imports WHERE user_id = %s AND status = 'running' LIMIT 1",
        (user_id,),
    )
    row = await cur.fetchone()
    if row is not None:
        raise DeletionRefused(
            "running", f"import {row[0]} is still running; delete once it is done"
        )


async def _delete_import(conn: AsyncConnection, user_id: UUID, import_id: UUID) -> dict[str, int]:
    """The plays an import stored first (a play it shared with an earlier import stays with
    that one) and its record; another listener's import is not found, like an unknown one."""
    imports = await _delete(
        conn, "ingest.imports", "user_id = %s AND import_id = %s", (user_id, import_id)
    )
    if not imports:
        raise DeletionRefused("not_found", f"no import {import_id} of yours")
    plays = await _delete(
        conn, "ingest.plays", "user_id = %s AND import_id = %s", (user_id, import_id)
    )
    return {"plays": plays, "imports": imports}


async def _delete(
    conn: AsyncConnection, table: str, condition: str, values: tuple[object, ...]
) -> int:
    cur = await conn.execute(f"DELETE FROM {table} WHERE {condition}", values)
    return cur.rowcount
