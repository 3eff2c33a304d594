"""Taking a listener's rows back out: each service erases what it owns of them (every table of
its schema with a `user_id` column, so a table added later is erased without being named here)
and answers an account deletion with its own `*.account.erased` event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from graphlib import TopologicalSorter
from typing import TypeVar
from uuid import UUID

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from fullcircle.bus import Bus, decode_entry
from fullcircle.events import AccountDeletionRequested, AccountErased, Event

# Stream ids are Redis's clock, event times the producer's: look a little before the request.
CLOCK_MARGIN_MS = 60_000

R = TypeVar("R", bound=Event)
ListenerLock = Callable[[AsyncConnection, UUID], Awaitable[None]]


async def erase_listener(conn: AsyncConnection, schema: str, user_id: UUID) -> dict[str, int]:
    """Delete every row of `user_id` from every table of `schema` with a `user_id` column,
    tables that reference others first (rows without the column go by ON DELETE CASCADE);
    returns rows removed per table, tables with none left out."""
    removed: dict[str, int] = {}
    for table in await _tables_referencing_first(conn, schema):
        cur = await conn.execute(
            sql.SQL("DELETE FROM {} WHERE user_id = %s").format(sql.Identifier(schema, table)),
            (user_id,),
        )
        if cur.rowcount:
            removed[table] = cur.rowcount
    return removed


async def _tables_referencing_first(conn: AsyncConnection, schema: str) -> list[str]:
    cur = await conn.execute(
        "SELECT c.table_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = %s AND c.column_name = 'user_id'"
        " AND t.table_type = 'BASE TABLE'",
        (schema,),
    )
    tables = {row[0] for row in await cur.fetchall()}
    cur = await conn.execute(
        "SELECT src.relname, dst.relname FROM pg_constraint con"
        " JOIN pg_class src ON src.oid = con.conrelid"
        " JOIN pg_class dst ON dst.oid = con.confrelid"
        " JOIN pg_namespace n ON n.oid = src.relnamespace"
        " WHERE con.contype = 'f' AND n.nspname = %s",
        (schema,),
    )
    referencing: dict[str, set[str]] = {table: set() for table in tables}
    for source, target in await cur.fetchall():
        if source in tables and target in tables and source != target:
            referencing[target].add(source)
    return list(TopologicalSorter(referencing).static_order())


def stream_id_before(moment: datetime) -> str:
    """The id of the first stream entry Redis could have added at `moment`, less the margin."""
    return f"{max(0, int(moment.timestamp() * 1000) - CLOCK_MARGIN_MS)}-0"


async def earlier_answer(redis: Redis, answer: type[R], request: Event) -> R | None:
    """The `answer` event already published for `request` (its `request_id`), if any: a
    redelivered request is answered once, however often it arrives."""
    start = stream_id_before(request.occurred_at)
    while entries := await redis.xrange(answer.stream, min=start, count=500):
        for _entry_id, fields in entries:
            event = decode_entry(fields, answer)
            if getattr(event, "request_id", None) == request.event_id:
                return event
        start = f"({entries[-1][0].decode()}"
    return None


class AccountEraser:
    """One service's handler of `account.deletion.requested`: erases the listener's rows of
    the service's schema in one transaction (under `lock`, when the service serialises its
    work per listener) and publishes what it removed, once per request."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        bus: Bus,
        answer: type[AccountErased],
        lock: ListenerLock | None = None,
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.answer = answer
        self.lock = lock

    async def on_account_deletion(self, request: AccountDeletionRequested) -> None:
        if await earlier_answer(self.bus.redis, self.answer, request) is not None:
            return
        async with self.pool.connection() as conn, conn.transaction():
            if self.lock is not None:
                await self.lock(conn, request.user_id)
            removed = await erase_listener(conn, self.answer.service, request.user_id)
        await self.bus.publish(
            self.answer(user_id=request.user_id, request_id=request.event_id, removed=removed)
        )
