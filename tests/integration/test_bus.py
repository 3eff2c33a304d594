"""The bus on a real Redis: backlog is never missed, failures are retried by the claimer,
and a message that keeps failing lands in the dead letters without blocking the next one."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from fullcircle.bus import Bus
from fullcircle.events import (
    IMPORTS_REQUESTED,
    ImportRequested,
    dead_letter_stream,
)
from fullcircle.settings import FullCircleSettings

pytestmark = pytest.mark.integration


def _request(name: str) -> ImportRequested:
    return ImportRequested(
        user_id=uuid.uuid4(),
        import_id=uuid.uuid4(),
        upload_id=uuid.uuid4(),
        file_name=name,
        size_bytes=1,
    )


async def _wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_events_published_before_the_consumer_starts_are_delivered(
    settings: FullCircleSettings,
) -> None:
    producer = Bus(settings, "gateway")
    await producer.start()
    early = _request("early.zip")
    await producer.publish(early)
    received: list[ImportRequested] = []

    async def handle(event: ImportRequested) -> None:
        received.append(event)

    consumer = Bus(settings, "ingest")
    consumer.consume(ImportRequested, handle)
    await consumer.start()
    try:
        late = _request("late.zip")
        await producer.publish(late)
        await _wait_for(lambda: len(received) == 2)
        assert [event.event_id for event in received] == [early.event_id, late.event_id]
    finally:
        await consumer.stop()
        await producer.stop()


async def test_a_failure_is_retried_and_a_poison_message_is_dead_lettered(
    settings: FullCircleSettings,
) -> None:
    attempts: dict[str, int] = {}
    handled: list[str] = []
    given_up: list[str] = []

    async def handle(event: ImportRequested) -> None:
        attempts[event.file_name] = attempts.get(event.file_name, 0) + 1
        if event.file_name == "poison.zip" or (
            event.file_name == "flaky.zip" and attempts["flaky.zip"] == 1
        ):
            raise RuntimeError(f"cannot handle {event.file_name}")
        handled.append(event.file_name)

    async def give_up(event: ImportRequested, error: str) -> None:
        given_up.append(f"{event.file_name}: {error}")

    bus = Bus(settings, "ingest")
    bus.consume(ImportRequested, handle, give_up)
    await bus.start()
    try:
        for name in ("poison.zip", "flaky.zip", "fine.zip"):
            await bus.publish(_request(name))
        await _wait_for(lambda: {"flaky.zip", "fine.zip"} <= set(handled) and given_up)
        assert attempts["flaky.zip"] == 2
        assert attempts["poison.zip"] == settings.bus_max_deliveries
        assert given_up == ["poison.zip: RuntimeError: cannot handle poison.zip"]
        redis = Redis.from_url(settings.redis_url)
        dead = await redis.xrange(dead_letter_stream(IMPORTS_REQUESTED))
        assert len(dead) == 1
        assert b"cannot handle poison.zip" in dead[0][1][b"error"]
        pending = await redis.xpending(IMPORTS_REQUESTED, "ingest")
        assert pending["pending"] == 0
        await redis.aclose()
    finally:
        await bus.stop()


async def test_an_invalid_message_goes_straight_to_the_dead_letters(
    settings: FullCircleSettings,
) -> None:
    calls: list[object] = []

    async def handle(event: ImportRequested) -> None:
        calls.append(event)

    bus = Bus(settings, "ingest")
    bus.consume(ImportRequested, handle)
    await bus.start()
    try:
        await bus.broker.publish({"file_name": "no ids at all"}, stream=IMPORTS_REQUESTED)
        redis = Redis.from_url(settings.redis_url)
        deadline = asyncio.get_running_loop().time() + 10
        while not await redis.xlen(dead_letter_stream(IMPORTS_REQUESTED)):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        assert calls == []
        await redis.aclose()
    finally:
        await bus.stop()


async def test_dead_letters_can_be_listed_replayed_and_dropped(
    settings: FullCircleSettings,
) -> None:
    from fullcircle.bus import (
        drop_dead_letter,
        get_dead_letter,
        list_dead_letters,
        replay_dead_letter,
    )

    fixed = asyncio.Event()
    handled: list[str] = []

    async def handle(event: ImportRequested) -> None:
        if not fixed.is_set():
            raise ValueError(f"bug while handling {event.file_name}")
        handled.append(event.file_name)

    bus = Bus(settings, "ingest")
    bus.consume(ImportRequested, handle)
    await bus.start()
    redis = Redis.from_url(settings.redis_url)
    try:
        for name in ("first.zip", "second.zip"):
            await bus.publish(_request(name))
        deadline = asyncio.get_running_loop().time() + 15
        while len(await list_dead_letters(redis)) < 2:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        first, second = await list_dead_letters(redis)
        assert first.stream == IMPORTS_REQUESTED and first.group == "ingest"
        assert "ValueError: bug while handling first.zip" in first.error
        shown = await get_dead_letter(redis, first.ref)
        assert shown is not None and b"first.zip" in shown.body
        fixed.set()
        await replay_dead_letter(redis, first.ref, 1000)
        await _wait_for(lambda: handled == ["first.zip"])
        assert await drop_dead_letter(redis, second.ref)
        assert await list_dead_letters(redis) == []
        assert not await drop_dead_letter(redis, second.ref)
    finally:
        await redis.aclose()
        await bus.stop()


async def test_a_consumer_recovers_when_redis_loses_its_data(
    settings: FullCircleSettings,
) -> None:
    received: list[str] = []

    async def handle(event: ImportRequested) -> None:
        received.append(event.file_name)

    bus = Bus(settings, "ingest")
    bus.consume(ImportRequested, handle)
    await bus.start()
    redis = Redis.from_url(settings.redis_url)
    try:
        await bus.publish(_request("before.zip"))
        await _wait_for(lambda: received == ["before.zip"])
        await redis.flushdb()  # Redis restarted without its data: streams and groups are gone
        deadline = asyncio.get_running_loop().time() + 10
        while all(sub.running for sub in bus.broker.subscribers):
            assert asyncio.get_running_loop().time() < deadline, "NOGROUP never seen"
            await asyncio.sleep(0.05)
        assert await bus.recover() >= 1
        await bus.publish(_request("after.zip"))
        await _wait_for(lambda: received == ["before.zip", "after.zip"])
    finally:
        await redis.aclose()
        await bus.stop()
