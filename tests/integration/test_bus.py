"""The bus on a real Redis: backlog is never missed, failures are retried by the claimer,
a message that keeps failing lands in the dead letters without blocking the next one, long work
keeps its claim, dead letters are never trimmed, and the topology is enforced."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from redis.asyncio import Redis

from fullcircle.bus import Bus, TopologyError
from fullcircle.events import (
    IMPORTS_REQUESTED,
    ImportProgress,
    ImportRequested,
    Topology,
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


async def _publish(settings: FullCircleSettings, *events: ImportRequested) -> None:
    """Publish as the stream's producer (the gateway) does."""
    gateway = Bus(settings, "gateway")
    await gateway.start()
    try:
        for event in events:
            await gateway.publish(event)
    finally:
        await gateway.stop()


def _own_stream() -> tuple[type[ImportRequested], Topology]:
    """An event type on a stream of this test alone, consumed by "worker", made by "maker"."""
    stream = f"test.work.{uuid.uuid4().hex[:8]}.v1"
    work = type("WorkRequested", (ImportRequested,), {"stream": stream})
    topology = Topology(
        producers={stream: "maker"}, handlers={("worker", stream): ()}, ungrouped={}
    )
    return work, topology


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
        await _publish(
            settings, *(_request(name) for name in ("poison.zip", "flaky.zip", "fine.zip"))
        )
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
        await _publish(settings, _request("first.zip"), _request("second.zip"))
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
        await _publish(settings, _request("before.zip"))
        await _wait_for(lambda: received == ["before.zip"])
        await redis.flushdb()  # Redis restarted without its data: streams and groups are gone
        deadline = asyncio.get_running_loop().time() + 10
        while all(sub.running for sub in bus.broker.subscribers):
            assert asyncio.get_running_loop().time() < deadline, "NOGROUP never seen"
            await asyncio.sleep(0.05)
        assert await bus.recover() >= 1
        await _publish(settings, _request("after.zip"))
        await _wait_for(lambda: received == ["before.zip", "after.zip"])
    finally:
        await redis.aclose()
        await bus.stop()


async def test_a_handler_working_longer_than_the_claim_idle_time_keeps_its_claim(
    settings: FullCircleSettings,
) -> None:
    work, topology = _own_stream()
    settings = settings.model_copy(update={"bus_claim_idle_ms": 300})
    started: list[str] = []
    release = asyncio.Event()

    async def handle(event: ImportRequested) -> None:
        started.append(event.file_name)
        await release.wait()

    worker = Bus(settings, "worker", topology=topology)
    worker.consume(work, handle)
    maker = Bus(settings, "maker", topology=topology)
    await maker.start()
    try:
        for name in ("long.zip", "next.zip"):  # a backlog: both there when the worker starts
            await maker.publish(work.model_validate(_request(name).model_dump()))
        await worker.start()
        await _wait_for(lambda: started == ["long.zip"])
        # ten idle times: without the heartbeat the claimer (polling every second) takes the
        # running message after 300 ms idle and starts the handler a second time; a message
        # read along with it would idle out waiting and be started by the claimer too
        await asyncio.sleep(3.0)
        pending = await worker.redis.xpending_range(work.stream, "worker", "-", "+", 10)
        assert [entry["times_delivered"] for entry in pending] == [1]
        assert started == ["long.zip"]
        release.set()
        await _wait_for(lambda: len(started) == 2)
        deadline = asyncio.get_running_loop().time() + 10
        while (await worker.redis.xpending(work.stream, "worker"))["pending"]:
            assert asyncio.get_running_loop().time() < deadline, "never acknowledged"
            await asyncio.sleep(0.05)
        assert started == ["long.zip", "next.zip"]
    finally:
        await maker.stop()
        await worker.stop()


async def _stalled_here(release: asyncio.Event) -> None:
    await release.wait()


async def test_a_stalled_handler_logs_where_it_waits_and_still_finishes(
    settings: FullCircleSettings, caplog: pytest.LogCaptureFixture
) -> None:
    work, topology = _own_stream()
    settings = settings.model_copy(update={"bus_slow_handler_s": 0.2})
    release = asyncio.Event()
    done: list[str] = []

    async def handle(event: ImportRequested) -> None:
        await _stalled_here(release)
        done.append(event.file_name)

    worker = Bus(settings, "worker", topology=topology)
    worker.consume(work, handle)
    maker = Bus(settings, "maker", topology=topology)
    await maker.start()
    await worker.start()
    try:
        with caplog.at_level(logging.WARNING, logger="fullcircle.bus"):
            await maker.publish(work.model_validate(_request("stuck.zip").model_dump()))
            await _wait_for(lambda: sum("still handling" in r.message for r in caplog.records) >= 2)
        stalled = [r.message for r in caplog.records if "still handling" in r.message]
        assert work.stream in stalled[0]
        # the chain of awaits reaches the line the handler waits on, down to the event
        assert "_stalled_here" in stalled[0] and "wait" in stalled[0].rsplit("->", 2)[-2]
        release.set()
        await _wait_for(lambda: done == ["stuck.zip"])
    finally:
        await maker.stop()
        await worker.stop()


async def test_a_failing_long_handler_is_still_retried_and_dead_lettered(
    settings: FullCircleSettings,
) -> None:
    work, topology = _own_stream()
    settings = settings.model_copy(update={"bus_claim_idle_ms": 300, "bus_max_deliveries": 3})
    attempts: list[int] = []

    async def handle(event: ImportRequested) -> None:
        attempts.append(len(attempts) + 1)
        await asyncio.sleep(0.6)  # twice the idle time, under the heartbeat
        raise RuntimeError("the fetch failed")

    worker = Bus(settings, "worker", topology=topology)
    worker.consume(work, handle)
    maker = Bus(settings, "maker", topology=topology)
    await worker.start()
    await maker.start()
    try:
        await maker.publish(work.model_validate(_request("failing.zip").model_dump()))
        deadline = asyncio.get_running_loop().time() + 20
        while not await worker.redis.xlen(dead_letter_stream(work.stream)):
            assert asyncio.get_running_loop().time() < deadline, "never dead-lettered"
            await asyncio.sleep(0.05)
        assert attempts == [1, 2, 3]
        assert (await worker.redis.xpending(work.stream, "worker"))["pending"] == 0
    finally:
        await maker.stop()
        await worker.stop()


async def test_dead_letters_are_never_trimmed_and_too_many_raise_an_alert(
    settings: FullCircleSettings, caplog: pytest.LogCaptureFixture
) -> None:
    work, topology = _own_stream()
    settings = settings.model_copy(update={"bus_stream_maxlen": 100, "bus_dead_letter_alert": 240})

    async def handle(event: ImportRequested) -> None:
        raise AssertionError("an invalid message never reaches the handler")

    worker = Bus(settings, "worker", topology=topology)
    worker.consume(work, handle)
    await worker.start()
    caplog.set_level(logging.ERROR, logger="fullcircle.bus")
    try:
        # 250 entries span three stream nodes, so a MAXLEN ~ 100 would trim the first away
        for n in range(250):
            await worker.redis.xadd(work.stream, {"not": f"an event {n}"})
        dlq = dead_letter_stream(work.stream)
        deadline = asyncio.get_running_loop().time() + 20
        while await worker.redis.xlen(dlq) < 250:
            assert asyncio.get_running_loop().time() < deadline, "dead letters went missing"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert await worker.redis.xlen(dlq) == 250
        alerts = [r.getMessage() for r in caplog.records if "alert above 240" in r.getMessage()]
        assert len(alerts) == 10 and alerts[-1].startswith(f"{dlq} holds 250 dead letters")
    finally:
        await worker.stop()


async def test_a_handler_publishing_an_undeclared_stream_fails(
    settings: FullCircleSettings,
) -> None:
    work, topology = _own_stream()
    progress_topology = Topology(
        producers={**topology.producers, ImportProgress.stream: "worker"},
        handlers=topology.handlers,
        ungrouped={},
    )
    errors: list[str] = []

    async def handle(event: ImportRequested) -> None:
        try:
            await worker.publish(
                ImportProgress(user_id=event.user_id, import_id=event.import_id, stage="done")
            )
        except TopologyError as exc:
            errors.append(str(exc))

    worker = Bus(settings, "worker", topology=progress_topology)
    worker.consume(work, handle)
    maker = Bus(settings, "maker", topology=progress_topology)
    await worker.start()
    await maker.start()
    try:
        with pytest.raises(TopologyError, match="produced by worker"):
            await maker.publish(
                ImportProgress(user_id=uuid.uuid4(), import_id=uuid.uuid4(), stage="done")
            )
        await maker.publish(work.model_validate(_request("x.zip").model_dump()))
        await _wait_for(lambda: bool(errors))
        assert "handler of" in errors[0] and "does not declare" in errors[0]
        with pytest.raises(TopologyError, match="not a consumer"):
            maker.consume(work, handle)
    finally:
        await maker.stop()
        await worker.stop()
