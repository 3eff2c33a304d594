"""Reading the bus without a consumer group (every gateway replica sees every event): import
progress for WatchImport; the fan-out of `recommendations.updated` to live subscribers and to
SubmitFeedback calls waiting for the set that reflects their feedback; `tracks.enriched`, which
only drops cached answers (a set's tracks arriving is not a new set for subscribers)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from redis.asyncio import Redis

from fullcircle.bus import Bus, decode_entry
from fullcircle.erasure import stream_id_before
from fullcircle.events import (
    IMPORTS_PROGRESS,
    RECOMMENDATIONS_UPDATED,
    TRACKS_ENRICHED,
    Event,
    ImportProgress,
    RecommendationsUpdated,
    TracksEnriched,
)

log = logging.getLogger(__name__)

BLOCK_MS = 1000


async def import_progress(
    redis: Redis, import_id: UUID, requested_at: datetime
) -> AsyncIterator[ImportProgress]:
    """Every progress event of one import, until it is done or has failed; read from when it
    was requested (its events are all later), not from the stream's first entry."""
    # the request time is PostgreSQL's clock, stream ids are Redis's: read from a margin before
    last_id = stream_id_before(requested_at)
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


async def deletion_answers(
    redis: Redis, answers: tuple[type[Event], ...], request: Event
) -> AsyncGenerator[Event, None]:
    """The answers (events with `request_id`) to one deletion request as they arrive, read
    from a margin before the request on every answering stream; ends when the caller stops."""
    by_stream = {answer.stream: answer for answer in answers}
    last_ids = dict.fromkeys(by_stream, stream_id_before(request.occurred_at))
    while True:
        reply = await redis.xread(dict(last_ids), count=500, block=BLOCK_MS)
        for stream, entries in reply:
            name = stream.decode() if isinstance(stream, bytes) else stream
            for entry_id, fields in entries:
                last_ids[name] = entry_id.decode()
                answer = decode_entry(fields, by_stream[name])
                if getattr(answer, "request_id", None) == request.event_id:
                    yield answer


@dataclass(eq=False)
class Subscription:
    """A live subscriber's bounded queue of (event id, event); `overflowed` once it fell behind."""

    user_id: UUID
    queue: asyncio.Queue[tuple[str, RecommendationsUpdated]]
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class RecommendationFanout:
    """One reader of `recommendations.updated` and `tracks.enriched` per gateway: every event
    drops the listener's cached answers (`on_event`); a new set then goes to that listener's
    subscribers and resolves the SubmitFeedback calls waiting for the feedback it reflects.

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
        self._feedback: dict[UUID, asyncio.Future[UUID]] = {}
        self.reading = asyncio.Event()  # set once every event from now on will be seen

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

    @contextlib.contextmanager
    def reflecting(self, feedback_id: UUID) -> Iterator[asyncio.Future[UUID]]:
        """A future resolved with the set id once a set reflecting the feedback event is
        announced (register before publishing the feedback, so the answer cannot be missed)."""
        reflected: asyncio.Future[UUID] = asyncio.get_running_loop().create_future()
        self._feedback[feedback_id] = reflected
        try:
            yield reflected
        finally:
            self._feedback.pop(feedback_id, None)

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
        """Read new events until `stopping` is set, starting after each stream's current end."""
        last_ids = {
            stream: await self._end(stream) for stream in (RECOMMENDATIONS_UPDATED, TRACKS_ENRICHED)
        }
        self.reading.set()
        while not stopping.is_set():
            try:
                reply = await self.bus.redis.xread(last_ids, count=500, block=BLOCK_MS)
            except (ConnectionError, OSError) as exc:
                log.warning("recommendations fan-out lost Redis (%s); retrying", exc)
                await asyncio.sleep(1)
                continue
            for stream, entries in reply:
                name = stream.decode() if isinstance(stream, bytes) else stream
                for entry_id, fields in entries:
                    last_ids[name] = entry_id.decode()
                    if name == TRACKS_ENRICHED:
                        await self._changed(decode_entry(fields, TracksEnriched).user_id)
                        continue
                    event = decode_entry(fields, RecommendationsUpdated)
                    await self._changed(event.user_id)
                    self._dispatch(last_ids[name], event)

    async def _end(self, stream: str) -> str:
        latest = await self.bus.redis.xrevrange(stream, count=1)
        return latest[0][0].decode() if latest else "0"

    async def _changed(self, user_id: UUID) -> None:
        if self.on_event is not None:
            await self.on_event(user_id)

    def _dispatch(self, entry_id: str, event: RecommendationsUpdated) -> None:
        for feedback_id in event.feedback_ids:
            waiting = self._feedback.get(feedback_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(event.set_id)
        for subscription in self._subscribers.get(event.user_id, ()):
            try:
                subscription.queue.put_nowait((entry_id, event))
            except asyncio.QueueFull:
                subscription.overflowed.set()
