"""The gateway's group-less reads on a real Redis: WatchImport reads from when the import was
requested (not from the stream's first entry) without missing its events; the fan-out answers
a waiting SubmitFeedback with the set that reflects it; tracks.enriched drops cached answers
without announcing the set again to subscribers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from fullcircle.bus import Bus
from fullcircle.erasure import CLOCK_MARGIN_MS
from fullcircle.events import (
    IMPORTS_PROGRESS,
    ImportProgress,
    RecommendationsUpdated,
    TracksEnriched,
)
from fullcircle.settings import FullCircleSettings
from services.gateway.adapters.streams import RecommendationFanout, import_progress

pytestmark = pytest.mark.integration


async def _add_at(bus: Bus, moment: datetime, event: ImportProgress) -> None:
    """Append `event` to imports.progress with the stream id Redis would give it at `moment`
    (the fields as the bus writes them, copied from a scratch stream)."""
    scratch = f"test.scratch.{uuid.uuid4().hex[:8]}"
    await bus.broker.publish(event.model_dump(mode="json"), stream=scratch)
    ((_, fields),) = await bus.redis.xrange(scratch)
    await bus.redis.xadd(IMPORTS_PROGRESS, fields, id=f"{int(moment.timestamp() * 1000)}-0")
    await bus.redis.delete(scratch)


async def test_watch_import_starts_near_the_request_and_misses_none_of_its_events(
    settings: FullCircleSettings,
) -> None:
    bus = Bus(settings, "ingest")
    await bus.start()
    import_id, user_id = uuid.uuid4(), uuid.uuid4()
    requested_at = datetime.now(UTC) - timedelta(minutes=5)

    def progress(stage: str, message: str, of: uuid.UUID = import_id) -> ImportProgress:
        return ImportProgress.model_validate(
            {"user_id": user_id, "import_id": of, "stage": stage, "message": message}
        )

    try:
        # hours before the request: never this import's (a reader from id 0 would yield it)
        await _add_at(bus, requested_at - timedelta(hours=2), progress("parsing", "long before"))
        # Redis's clock a few seconds behind PostgreSQL's: still within the margin
        skewed = requested_at - timedelta(milliseconds=CLOCK_MARGIN_MS // 2)
        await _add_at(bus, skewed, progress("queued", "skewed clock"))
        await bus.publish(progress("parsing", "another import", of=uuid.uuid4()))
        await bus.publish(progress("storing", "storing"))
        await bus.publish(progress("done", "done"))
        seen = [
            event.message async for event in import_progress(bus.redis, import_id, requested_at)
        ]
        assert seen == ["skewed clock", "storing", "done"]
    finally:
        await bus.stop()


async def test_the_fanout_answers_feedback_and_tracks_only_drop_cached_answers(
    settings: FullCircleSettings,
) -> None:
    gateway = Bus(settings, "gateway")
    model = Bus(settings, "model")
    enrich = Bus(settings, "enrich")
    for bus in (gateway, model, enrich):
        await bus.start()
    changed: list[uuid.UUID] = []

    async def drop_cached(user_id: uuid.UUID) -> None:
        changed.append(user_id)

    fanout = RecommendationFanout(gateway, 8, drop_cached)
    stopping = asyncio.Event()
    reader = asyncio.create_task(fanout.run(stopping))
    user_id, set_id, feedback_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        with fanout.subscribe(user_id) as subscription, fanout.reflecting(feedback_id) as wait:
            await asyncio.wait_for(fanout.reading.wait(), 10)
            await enrich.publish(
                TracksEnriched(
                    user_id=user_id, set_id=uuid.uuid4(), artists=3, with_tracks=3, not_found=0
                )
            )
            announced = RecommendationsUpdated(
                user_id=user_id,
                set_id=set_id,
                model_version="m:r1",
                items=1,
                feedback_ids=[feedback_id],
            )
            await model.publish(announced)
            assert await asyncio.wait_for(wait, 10) == set_id
            _, event = await asyncio.wait_for(subscription.queue.get(), 10)
            assert event.set_id == set_id
            assert subscription.queue.empty()  # tracks arriving is not a new set
        assert changed == [user_id, user_id]  # both dropped the cached answers
    finally:
        stopping.set()
        await reader
        for bus in (gateway, model, enrich):
            await bus.stop()
