"""Replay after Redis lost its data: re-publish, from PostgreSQL (the source of truth), the
events that start the pipeline, so downstream services rebuild whatever they missed.

What is re-published, per listener:
- `imports.requested` for every upload the gateway keeps (claim check). Ingest finishes an
  import that never finished and, for one that did, announces it again (`imports.progress`
  done and its `plays.ingested` batches); it stores nothing twice.
- `plays.ingested` for plays stored without an import (live Spotify sync), in batches of
  `ARTISTS_PER_EVENT` artists like ingest's own.

Everything downstream follows from those: enrich fetches only what its cache lacks, features
recomputes the profile once per burst (a new version), the model makes the set for it and
announces `recommendations.updated`. Replaying twice is safe; it costs one more recompute.
Reads `gateway.uploads` and `ingest.plays` only (published read models); writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg

from fullcircle.bus import Bus
from fullcircle.events import ImportRequested, PlaysIngested

ARTISTS_PER_EVENT = 500


@dataclass(frozen=True)
class ReplayReport:
    listeners: int
    imports: int
    sync_batches: int


async def replay(database_url: str, bus: Bus, user_id: UUID | None = None) -> ReplayReport:
    """Re-publish the pipeline's starting events for one listener (or all); `bus` is started."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT upload_id, import_id, user_id, file_name, size_bytes FROM gateway.uploads"
            " WHERE %(user)s::uuid IS NULL OR user_id = %(user)s::uuid ORDER BY created_at",
            {"user": user_id},
        )
        uploads = await cur.fetchall()
        cur = await conn.execute(
            "SELECT user_id, coalesce(artist_name, ''), count(*), min(ended_at), max(ended_at)"
            " FROM ingest.plays WHERE import_id IS NULL"
            " AND (%(user)s::uuid IS NULL OR user_id = %(user)s::uuid)"
            " GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
            {"user": user_id},
        )
        synced = await cur.fetchall()
    for upload_id, import_id, owner, file_name, size_bytes in uploads:
        await bus.publish(
            ImportRequested(
                user_id=owner,
                import_id=import_id,
                upload_id=upload_id,
                file_name=file_name,
                size_bytes=size_bytes,
            )
        )
    batches = _sync_batches(synced)
    for event in batches:
        await bus.publish(event)
    listeners = {row[2] for row in uploads} | {row[0] for row in synced}
    return ReplayReport(len(listeners), len(uploads), len(batches))


def _sync_batches(rows: list[tuple[UUID, str, int, datetime, datetime]]) -> list[PlaysIngested]:
    """Per listener, `plays.ingested` batches of their synced plays, most-played artists first."""
    by_user: dict[UUID, list[tuple[UUID, str, int, datetime, datetime]]] = {}
    for row in rows:
        by_user.setdefault(row[0], []).append(row)
    events = []
    for owner, artists in by_user.items():
        chunks = [
            artists[start : start + ARTISTS_PER_EVENT]
            for start in range(0, len(artists), ARTISTS_PER_EVENT)
        ]
        for number, chunk in enumerate(chunks, start=1):
            events.append(
                PlaysIngested(
                    user_id=owner,
                    source="replay",
                    new_plays=sum(row[2] for row in chunk),
                    first_played_at=min(row[3] for row in chunk),
                    last_played_at=max(row[4] for row in chunk),
                    artists=[row[1] for row in chunk if row[1]],
                    batch=number,
                    batches=len(chunks),
                )
            )
    return events
