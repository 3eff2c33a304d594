"""Replay after Redis lost its data: re-publish, from PostgreSQL (the source of truth), the
events that start the pipeline, so downstream services rebuild whatever they missed.

What is re-published, per listener:
- `imports.requested` for every upload whose bytes the gateway still keeps (an import still
  running, or done within UPLOAD_RETENTION_S, or failed on our side). Ingest finishes an import
  that never finished and, for one that did, announces it again (`imports.progress` done and
  its `plays.ingested` batches); it stores nothing twice.
- `plays.ingested` for the other plays in PostgreSQL: those of imports whose upload's bytes are
  gone (deleted once the import was done) and those stored without an import (live Spotify
  sync), per import, in batches of `ARTISTS_PER_EVENT` artists like ingest's own.

Everything downstream follows from those: enrich fetches only what its cache lacks, features
recomputes the profile once per burst (a new version), the model makes the set for it and
announces `recommendations.updated`. Replaying twice is safe; it costs one more recompute.
Reads `gateway.uploads` (and whether its parts remain) and `ingest.plays` only (published read
models); writes nothing.
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
    imports: int  # re-requested from their kept uploads
    import_batches: int  # plays.ingested of imports whose upload's bytes are gone
    sync_batches: int


PlayedArtist = tuple[UUID, UUID | None, str, int, datetime, datetime]


async def replay(database_url: str, bus: Bus, user_id: UUID | None = None) -> ReplayReport:
    """Re-publish the pipeline's starting events for one listener (or all); `bus` is started."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT upload_id, import_id, user_id, file_name, size_bytes FROM gateway.uploads u"
            " WHERE complete AND (%(user)s::uuid IS NULL OR user_id = %(user)s::uuid)"
            " AND EXISTS (SELECT FROM gateway.upload_parts p WHERE p.upload_id = u.upload_id)"
            " ORDER BY created_at",
            {"user": user_id},
        )
        uploads = await cur.fetchall()
        cur = await conn.execute(
            "SELECT user_id, import_id, coalesce(artist_name, ''), count(*), min(ended_at),"
            " max(ended_at) FROM ingest.plays"
            " WHERE (%(user)s::uuid IS NULL OR user_id = %(user)s::uuid)"
            " AND (import_id IS NULL OR import_id <> ALL(%(requested)s::uuid[]))"
            " GROUP BY 1, 2, 3 ORDER BY 1, 2 NULLS FIRST, 4 DESC, 3",
            {"user": user_id, "requested": [row[1] for row in uploads]},
        )
        played: list[PlayedArtist] = await cur.fetchall()
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
    batches = _plays_batches(played)
    for event in batches:
        await bus.publish(event)
    listeners = {row[2] for row in uploads} | {row[0] for row in played}
    from_imports = sum(1 for event in batches if event.import_id is not None)
    return ReplayReport(len(listeners), len(uploads), from_imports, len(batches) - from_imports)


def _plays_batches(rows: list[PlayedArtist]) -> list[PlaysIngested]:
    """Per listener and import (None: synced plays), `plays.ingested` batches of its plays,
    most-played artists first."""
    by_origin: dict[tuple[UUID, UUID | None], list[PlayedArtist]] = {}
    for row in rows:
        by_origin.setdefault((row[0], row[1]), []).append(row)
    events = []
    for (owner, import_id), artists in by_origin.items():
        chunks = [
            artists[start : start + ARTISTS_PER_EVENT]
            for start in range(0, len(artists), ARTISTS_PER_EVENT)
        ]
        for number, chunk in enumerate(chunks, start=1):
            events.append(
                PlaysIngested(
                    user_id=owner,
                    import_id=import_id,
                    source="replay",
                    new_plays=sum(row[3] for row in chunk),
                    first_played_at=min(row[4] for row in chunk),
                    last_played_at=max(row[5] for row in chunk),
                    artists=[row[2] for row in chunk if row[2]],
                    batch=number,
                    batches=len(chunks),
                )
            )
    return events
