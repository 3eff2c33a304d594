"""The feedback a listener sent over the bus, recorded once per event, and which set reflects it."""

from __future__ import annotations

from uuid import UUID

from psycopg_pool import AsyncConnectionPool

from fullcircle.events import FeedbackSubmitted


async def record(pool: AsyncConnectionPool, event: FeedbackSubmitted) -> bool:
    """Record the event and put it in force; False when it was recorded before (a redelivery:
    applying it again could undo newer feedback on the same artist)."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            """INSERT INTO model.feedback_events (event_id, user_id, artist, kind, expires_at)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING""",
            (event.event_id, event.user_id, event.artist, event.kind, event.expires_at),
        )
        if cur.rowcount == 0:
            return False
        await conn.execute(
            """INSERT INTO model.feedback (user_id, artist_key, artist, kind, expires_at)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (user_id, artist_key) DO UPDATE SET kind = excluded.kind,
                   artist = excluded.artist, expires_at = excluded.expires_at,
                   created_at = now()""",
            (event.user_id, event.artist.lower(), event.artist, event.kind, event.expires_at),
        )
    return True


async def settled_listeners(
    pool: AsyncConnectionPool, quiet_s: float, longest_wait_s: float, of: UUID | None = None
) -> list[UUID]:
    """Listeners with a set whose feedback no set reflects yet and has settled: none came for
    `quiet_s`, or the oldest has waited `longest_wait_s` (a listener who never pauses still
    gets sets). Judged on PostgreSQL's clock, the one that stamped `received_at`, so every
    model replica agrees. `of`: that listener only."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            """SELECT e.user_id FROM model.feedback_events e
               WHERE e.reflected_in IS NULL AND (%s::uuid IS NULL OR e.user_id = %s)
                 AND EXISTS (SELECT 1 FROM model.recommendation_sets s WHERE s.user_id = e.user_id)
               GROUP BY e.user_id
               HAVING max(e.received_at) <= now() - make_interval(secs => %s)
                   OR min(e.received_at) <= now() - make_interval(secs => %s)""",
            (of, of, quiet_s, longest_wait_s),
        )
        return [row[0] for row in await cur.fetchall()]


async def pending(pool: AsyncConnectionPool, user_id: UUID) -> list[UUID]:
    """The listener's recorded feedback events no set reflects yet, oldest first."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event_id FROM model.feedback_events"
            " WHERE user_id = %s AND reflected_in IS NULL ORDER BY received_at, event_id",
            (user_id,),
        )
        return [row[0] for row in await cur.fetchall()]


async def mark_reflected(pool: AsyncConnectionPool, event_ids: list[UUID], set_id: UUID) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE model.feedback_events SET reflected_in = %s"
            " WHERE event_id = ANY(%s) AND reflected_in IS NULL",
            (set_id, event_ids),
        )
