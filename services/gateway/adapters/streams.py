"""Reading the bus without a consumer group (every gateway replica sees every event): import
progress for WatchImport, and the fan-out of `recommendations.updated` to live subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from redis.asyncio import Redis

from fullcircle.bus import Bus, decode_entry
from fullcircle.events import (
    IMPORTS_PROGRESS,
    RECOMMENDATIONS_UPDATED,
    ImportProgress,
    RecommendationsUpdated,
)

log = logging.getLogger(__name__)

BLOCK_MS = 1000


async def import_progress(redis: Redis, import_id: UUID) -> AsyncIterator[ImportProgress]:
    """Every progress event of one import, from the first, until it is done or has failed."""
    last_id = "0"
    while True:
        reply = await redis.xread({IMPORTS_PROGRESS: last_id}, count=500, block=BLOCK_MS)
        for _stream, entries in reply:
            for entry_id, fields in entries:
                last_id = entry_id.decode()
                progress = decode_entry(fields, ImportProgress)
                if progress.import_id != import_id:
                    continue
                yield progress
                if progress.finished:
                    return


@dataclass(eq=False)
class Subscription:
    """A live subscriber's bounded queue of (event id, event); `overflowed` once it fell behind."""

    user_id: UUID
    queue: asyncio.Queue[tuple[str, RecommendationsUpdated]]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class RecommendationFanout:
    """One reader of `recommendations.updated` per gateway, dispatching to that user's subscribers.

    A slow subscriber whose queue is full is marked overflowed (its RPC ends with a clear status)
    instead of slowing the reader or the other subscribers."""

    def __init__(
        self,
        bus: Bus,
        queue_size: int,
        on_event: Callable[[UUID], Awaitable[None]] | None = None,
    ) -> None:
        self.bus = bus
        self.queue_size = queue_size
        self.on_event = on_event
        self._subscribers: dict[UUID, set[Subscription]] = {}

    @contextlib.contextmanager
    def subscribe(self, user_id: UUID) -> Iterator[Subscription]:
        subscription = Subscription(user_id, asyncio.Queue(self.queue_size))
        self._subscribers.setdefault(user_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers[user_id].discard(subscription)
            if not self._subscribers[user_id]:
                del self._subscribers[user_id]

    async def backlog(
        self, user_id: UUID, after_id: str
    ) -> list[tuple[str, RecommendationsUpdated]]:
        """The user's events after `after_id` still in the stream (for a resuming subscriber)."""
        found: list[tuple[str, RecommendationsUpdated]] = []
        start = f"({after_id}"
        while True:
            entries = await self.bus.redis.xrange(RECOMMENDATIONS_UPDATED, min=start, count=500)
            if not entries:
                return found
            for entry_id, fields in entries:
                event = decode_entry(fields, RecommendationsUpdated)
                if event.user_id == user_id:
                    found.append((entry_id.decode(), event))
            start = f"({entries[-1][0].decode()}"

    async def run(self, stopping: asyncio.Event) -> None:
        """Read new events until `stopping` is set, starting after the stream's current end."""
        latest = await self.bus.redis.xrevrange(RECOMMENDATIONS_UPDATED, count=1)
        last_id = latest[0][0].decode() if latest else "0"
        while not stopping.is_set():
            try:
                reply = await self.bus.redis.xread(
                    {RECOMMENDATIONS_UPDATED: last_id}, count=500, block=BLOCK_MS
                )
            except (ConnectionError, OSError) as exc:
                log.warning("recommendations fan-out lost Redis (%s); retrying", exc)
                await asyncio.sleep(1)
                continue
            for _stream, entries in reply:
                for entry_id, fields in entries:
                    last_id = entry_id.decode()
                    event = decode_entry(fields, RecommendationsUpdated)
                    if self.on_event is not None:
                        await self.on_event(event.user_id)
                    self._dispatch(last_id, event)

    def _dispatch(self, entry_id: str, event: RecommendationsUpdated) -> None:
        for subscription in self._subscribers.get(event.user_id, ()):
            try:
                subscription.queue.put_nowait((entry_id, event))
            except asyncio.QueueFull:
                subscription.overflowed.set()
