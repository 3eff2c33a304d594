"""What the pipeline left for one listener, read from PostgreSQL and Redis, and when it has
settled: the yardstick the crash and fault drills (bench crash_all, tests/e2e) compare runs by.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from redis.asyncio import Redis

from fullcircle.events import CONSUMER_GROUPS, dead_letter_stream


@dataclass(frozen=True)
class PipelineState:
    """The end state a listener sees; two runs of the same history must agree on it."""

    plays: int
    distinct_plays: int
    artists: int
    untagged_artists: int
    profile_version: int
    profile_listens: int
    profile_artists: int
    set_profile_version: int
    set_artists: tuple[str, ...]

    @property
    def comparable(self) -> tuple[object, ...]:
        """What must equal a clean run's. Not the profile version (a crash may add recomputes)
        and not which artists the set names: the model mixes in co-listening with the other
        listeners stored (a clean run of the same history is the closest neighbour of the run
        it is compared with) and candidates that other listeners' updates had tagged, so the
        names depend on who else is in the database; the set's size and that it was made for
        the settled profile are compared instead."""
        return (
            self.plays,
            self.distinct_plays,
            self.artists,
            self.untagged_artists,
            self.profile_listens,
            self.profile_artists,
            len(self.set_artists),
        )


async def pipeline_state(database_url: str, user_id: UUID) -> PipelineState:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:

        async def one(sql: str) -> tuple[Any, ...]:
            cur = await conn.execute(sql, {"user": user_id})
            row = await cur.fetchone()
            return tuple(row) if row else ()

        plays, distinct_plays = await one(
            "SELECT count(*), count(DISTINCT play_key) FROM ingest.plays WHERE user_id = %(user)s"
        )
        artists, untagged = await one(
            """SELECT count(*), count(*) FILTER (WHERE a.artist_key IS NULL)
               FROM (SELECT DISTINCT lower(artist_name) AS artist_key FROM ingest.plays
                     WHERE user_id = %(user)s AND artist_name IS NOT NULL) AS mine
               LEFT JOIN enrich.artists a USING (artist_key)"""
        )
        profile = await one(
            "SELECT version, listens, artists FROM features.profiles WHERE user_id = %(user)s"
        ) or (0, 0, 0)
        latest = await one(
            "SELECT set_id, profile_version FROM model.recommendation_sets"
            " WHERE user_id = %(user)s ORDER BY created_at DESC LIMIT 1"
        )
        set_artists: tuple[str, ...] = ()
        if latest:
            cur = await conn.execute(
                "SELECT artist FROM model.recommendations WHERE set_id = %s ORDER BY artist",
                (latest[0],),
            )
            set_artists = tuple(row[0] for row in await cur.fetchall())
    return PipelineState(
        int(plays),
        int(distinct_plays),
        int(artists),
        int(untagged),
        int(profile[0]),
        int(profile[1]),
        int(profile[2]),
        int(latest[1]) if latest else 0,
        set_artists,
    )


@dataclass(frozen=True)
class BusState:
    """Per consumer group: entries delivered but not acknowledged, and entries not yet read."""

    pending: dict[str, int]
    unread: dict[str, int]
    dead_letters: dict[str, int]

    @property
    def idle(self) -> bool:
        return not any(self.pending.values()) and not any(self.unread.values())


def _entry_id(value: bytes | str) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    millis, _, sequence = text.partition("-")
    return int(millis), int(sequence or 0)


async def bus_state(redis_url: str) -> BusState:
    redis = Redis.from_url(redis_url)
    pending: dict[str, int] = {}
    unread: dict[str, int] = {}
    dead: dict[str, int] = {}
    try:
        for stream, groups in CONSUMER_GROUPS.items():
            dead[stream] = int(await redis.xlen(dead_letter_stream(stream)))
            if not groups or not await redis.exists(stream):
                continue
            info = await redis.xinfo_stream(stream)
            last = _entry_id(info["last-generated-id"])
            for group in await redis.xinfo_groups(stream):
                name = f"{stream}/{group['name'].decode()}"
                pending[name] = int(group["pending"])
                unread[name] = int(_entry_id(group["last-delivered-id"]) < last)
    finally:
        await redis.aclose()
    return BusState(pending, unread, dead)


async def wait_settled(
    database_url: str,
    redis_url: str,
    user_id: UUID,
    *,
    timeout_s: float = 300.0,
    quiet_s: float = 4.0,
) -> PipelineState:
    """Wait until every group has read and acknowledged everything, every artist of the
    listener is tagged (or known not to be on Last.fm), the latest set is for the latest profile,
    and all of that has held for `quiet_s` seconds; returns that state."""
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    previous: PipelineState | None = None
    while True:
        state = await pipeline_state(database_url, user_id)
        bus = await bus_state(redis_url)
        settled = (
            bus.idle
            and state.plays > 0
            and state.untagged_artists == 0
            and state.profile_version > 0
            and state.set_profile_version == state.profile_version
        )
        if settled and state == previous:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                return state
        else:
            quiet_since = None
        previous = state
        if time.monotonic() > deadline:
            raise TimeoutError(f"the pipeline did not settle in {timeout_s:.0f}s: {state} {bus}")
        await asyncio.sleep(1.0)
