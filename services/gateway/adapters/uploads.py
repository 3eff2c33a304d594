"""SQL adapter of the gateway's upload store (the claim check ingest reads): an upload's row
written when it starts, its parts inserted as they fill, completed (or refused as a copy of an
earlier one) at its end, deleted on any failure; how each import ended, and the parts that go
once it has (retention), or once nobody is sending them any more (abandoned)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Literal
from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from fullcircle.events import ImportRequested
from services.gateway.domain.uploads import EarlierUpload, PartAssembler

Outcome = Literal["done", "failed", "kept"]


class UploadWriter:
    """One upload on its way into the store: at most one part of it in memory."""

    def __init__(self, pool: AsyncConnectionPool, user_id: UUID, parts: PartAssembler) -> None:
        self.pool = pool
        self.user_id = user_id
        self.parts = parts
        self.upload_id, self.import_id = uuid.uuid4(), uuid.uuid4()
        self._next_part = 0
        self._begun = False

    async def begin(self, file_name: str) -> None:
        """Write the upload's row (incomplete: ingest never reads it, the sweep may delete it)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO gateway.uploads (upload_id, import_id, user_id, file_name,"
                " size_bytes, sha256, complete) VALUES (%s, %s, %s, %s, 0, '', false)",
                (self.upload_id, self.import_id, self.user_id, file_name or "upload"),
            )
        self._begun = True

    async def add(self, data: bytes) -> None:
        """Take one chunk; store every part it filled."""
        for part in self.parts.add(data):
            await self._store(part)

    async def complete(self, file_name: str) -> EarlierUpload | None:
        """Store the last part and complete the upload, unless the listener uploaded the same
        bytes before and that import is done or running: then this upload is deleted (nothing
        of it kept) and the earlier one returned."""
        last = self.parts.last_part()
        if last:
            await self._store(last)
        sha256 = self.parts.sha256
        async with self.pool.connection() as conn, conn.transaction():
            # two identical uploads finishing at once: one completes, the other sees it
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"gateway.uploads:{self.user_id}:{sha256}",),
            )
            cur = await conn.execute(
                "SELECT import_id, file_name, created_at, outcome FROM gateway.uploads"
                " WHERE user_id = %s AND sha256 = %s AND complete AND upload_id <> %s"
                " AND (outcome IS NULL OR outcome = 'done') ORDER BY created_at LIMIT 1",
                (self.user_id, sha256, self.upload_id),
            )
            row = await cur.fetchone()
            if row is not None:
                await conn.execute(
                    "DELETE FROM gateway.uploads WHERE upload_id = %s", (self.upload_id,)
                )
                return EarlierUpload(*row)
            await conn.execute(
                "UPDATE gateway.uploads SET complete = true, file_name = %s, size_bytes = %s,"
                " sha256 = %s, received_at = now() WHERE upload_id = %s",
                (file_name or "upload", self.parts.size_bytes, sha256, self.upload_id),
            )
        return None

    async def discard(self) -> None:
        """Delete the upload and its parts (an upload that failed, was refused or cut off).
        Runs to its end even when the call that received it is cancelled."""
        if self._begun:
            await asyncio.shield(delete_upload(self.pool, self.upload_id))

    async def _store(self, part: bytes) -> None:
        async with self.pool.connection() as conn:
            # binary (%b): 4 MiB of bytea sent as they are, not escaped to text and back
            await conn.execute(
                "WITH part AS (INSERT INTO gateway.upload_parts (upload_id, part_no, data)"
                " VALUES (%s, %s, %b)) UPDATE gateway.uploads SET received_at = now()"
                " WHERE upload_id = %s",
                (self.upload_id, self._next_part, part, self.upload_id),
            )
        self._next_part += 1


async def mark_requested(pool: AsyncConnectionPool, upload_id: UUID) -> None:
    """Note that ingest was asked for the upload's import (imports.requested published)."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE gateway.uploads SET requested_at = now() WHERE upload_id = %s", (upload_id,)
        )


async def unrequested(pool: AsyncConnectionPool, idle_s: float) -> list[ImportRequested]:
    """The requests never published for complete uploads (their gateway died between
    completing one and asking ingest), `idle_s` or more after they completed."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT user_id, import_id, upload_id, file_name, size_bytes FROM gateway.uploads"
            " WHERE complete AND requested_at IS NULL"
            " AND received_at < now() - make_interval(secs => %s) ORDER BY received_at",
            (idle_s,),
        )
        rows = await cur.fetchall()
    return [
        ImportRequested(
            user_id=user_id,
            import_id=import_id,
            upload_id=upload_id,
            file_name=file_name,
            size_bytes=size_bytes,
        )
        for user_id, import_id, upload_id, file_name, size_bytes in rows
    ]


async def delete_upload(pool: AsyncConnectionPool, upload_id: UUID) -> None:
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM gateway.uploads WHERE upload_id = %s", (upload_id,))


async def record_outcome(
    pool: AsyncConnectionPool, import_id: UUID, outcome: Outcome, delete_parts: bool
) -> int:
    """Note how an import ended (the first time it is told: a redelivered or replayed event
    changes nothing) and, when `delete_parts`, delete its upload's parts; parts deleted."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "UPDATE gateway.uploads SET outcome = %s, finished_at = coalesce(finished_at, now())"
            " WHERE import_id = %s RETURNING upload_id",
            (outcome, import_id),
        )
        row = await cur.fetchone()
        if row is None or not delete_parts:
            return 0
        cur = await conn.execute("DELETE FROM gateway.upload_parts WHERE upload_id = %s", row)
        return cur.rowcount


async def delete_expired_parts(pool: AsyncConnectionPool, retention_s: float) -> int:
    """Delete the parts of uploads whose import was done more than `retention_s` ago; how many."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM gateway.upload_parts p USING gateway.uploads u"
            " WHERE p.upload_id = u.upload_id AND u.outcome = 'done'"
            " AND u.finished_at < now() - make_interval(secs => %s)",
            (retention_s,),
        )
    return cur.rowcount


async def sweep_abandoned(pool: AsyncConnectionPool, idle_s: float) -> int:
    """Delete incomplete uploads no part has reached for `idle_s` (their gateway died, or their
    client vanished, mid-upload), parts and all; how many."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM gateway.uploads WHERE NOT complete"
            " AND received_at < now() - make_interval(secs => %s)",
            (idle_s,),
        )
    return cur.rowcount
