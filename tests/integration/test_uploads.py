"""The gateway's upload store on real PostgreSQL and Redis, through ImportHistory over gRPC on
loopback: parts are written as they arrive (never the whole upload held), the checksum is the
file's, a refused, cut off or cancelled upload leaves nothing, a copy of an earlier upload is
refused naming it, what a dead gateway left is swept, upload slots of a dead gateway expire,
and an import's end deletes the bytes it no longer needs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import grpc
import pytest

from fullcircle.bus import Bus, decode_entry
from fullcircle.client import FullCircleClient
from fullcircle.events import IMPORTS_REQUESTED, ImportProgress, ImportRequested
from fullcircle.grpc_server import GrpcServer
from fullcircle.ratelimit import async_shared_rate_limit
from fullcircle.v1 import gateway_pb2, gateway_pb2_grpc
from services.gateway.adapters import accounts, uploads
from services.gateway.adapters.upload_slots import PREFIX, UploadSlots
from services.gateway.auth import AuthInterceptor
from services.gateway.domain.uploads import UPLOAD_PART_BYTES, PartAssembler
from services.gateway.retention import UploadRetention
from services.gateway.servicer import FullCircleServicer
from services.gateway.settings import GatewaySettings

pytestmark = pytest.mark.integration

LIMIT = 3 * UPLOAD_PART_BYTES + 1000
CHUNK = 1024 * 1024


@pytest.fixture
async def gateway(pool: Any, redis_url: str, migrated_database: str) -> AsyncIterator[Any]:
    """A gateway's FullCircle servicer (its upload path: auth, slots, store, bus) on loopback;
    yields a function making (address, API key, user id) of a new listener, with the bus."""
    settings = GatewaySettings(
        database_url=migrated_database,
        redis_url=redis_url,
        max_upload_bytes=LIMIT,
        uploads_per_key=2,
        uploads_per_gateway=3,
        upload_slot_ttl_s=1.0,
        key_cache_s=0,
    )
    bus = Bus(settings, "gateway")
    await bus.start()
    servicer = FullCircleServicer(settings, pool, bus, None, None, None, None, None)  # type: ignore[arg-type]
    server = GrpcServer("127.0.0.1", 0)
    server.interceptors.append(
        AuthInterceptor(pool, bus, async_shared_rate_limit(redis_url, "gateway:key", 1000), 0)
    )
    server.add(
        gateway_pb2_grpc.add_FullCircleServicer_to_server,
        servicer,
        gateway_pb2.DESCRIPTOR.services_by_name["FullCircle"].full_name,
    )
    await server.start()

    async def listener() -> tuple[str, str, UUID]:
        async with pool.connection() as conn:
            user_id, key = await accounts.create_user(conn, f"up-{uuid.uuid4().hex[:10]}")
        return server.address, key.token, user_id

    yield listener, bus, servicer
    await server.stop(0)
    await bus.stop()


async def _rows(pool: Any, user_id: UUID) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT u.upload_id, u.complete, u.size_bytes, u.sha256, count(p.part_no),"
            " coalesce(sum(length(p.data)), 0) FROM gateway.uploads u"
            " LEFT JOIN gateway.upload_parts p USING (upload_id) WHERE u.user_id = %s"
            " GROUP BY u.upload_id ORDER BY u.created_at",
            (user_id,),
        )
        return await cur.fetchall()


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def _refusal(answer: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    """The status code and message an upload call was refused with."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await answer
    return refused.value.code(), refused.value.details() or ""


def _open_upload(address: str, key: str) -> tuple[grpc.aio.Channel, Any]:
    channel = grpc.aio.insecure_channel(address)
    stub = gateway_pb2_grpc.FullCircleStub(channel)
    call = stub.ImportHistory(metadata=(("authorization", f"Bearer {key}"),), timeout=60)
    return channel, call


async def test_parts_are_stored_as_they_arrive_and_the_checksum_is_the_files(
    gateway: Any, pool: Any, redis_url: str
) -> None:
    listener, bus, _ = gateway
    address, key, user_id = await listener()
    payload = os.urandom(2 * UPLOAD_PART_BYTES + 12345)
    channel, call = _open_upload(address, key)
    async with channel:
        await call.write(gateway_pb2.ImportChunk(file_name="my_spotify_data.zip"))
        for start in range(0, 2 * UPLOAD_PART_BYTES, CHUNK):
            await call.write(gateway_pb2.ImportChunk(data=payload[start : start + CHUNK]))

        async def two_parts_stored() -> bool:
            rows = await _rows(pool, user_id)
            return bool(rows) and rows[0][4] == 2

        # the first two parts are in PostgreSQL while the client still sends: not held whole
        await _eventually(two_parts_stored, "two parts stored mid-upload")
        [(_, complete, *_)] = await _rows(pool, user_id)
        assert complete is False
        await call.write(gateway_pb2.ImportChunk(data=payload[2 * UPLOAD_PART_BYTES :]))
        await call.done_writing()
        reply = await call
    [(upload_id, complete, size, sha256, parts, stored)] = await _rows(pool, user_id)
    assert complete and size == stored == len(payload) == reply.size_bytes
    assert sha256 == hashlib.sha256(payload).hexdigest()
    assert parts == 3
    [(_, fields)] = await bus.redis.xrange(IMPORTS_REQUESTED)
    requested = decode_entry(fields, ImportRequested)
    assert (requested.upload_id, str(requested.import_id)) == (upload_id, reply.import_id)
    assert requested.file_name == "my_spotify_data.zip"


async def test_a_refused_or_cancelled_upload_leaves_nothing(gateway: Any, pool: Any) -> None:
    listener, _, _ = gateway
    address, key, user_id = await listener()
    # cancelled by the client after two parts (the gateway sees the stream end early: a
    # client cancelling ends the request stream as if it were whole, so the size it declared
    # tells a cut upload from a whole one)
    channel, call = _open_upload(address, key)
    async with channel:
        await call.write(gateway_pb2.ImportChunk(file_name="cut.zip", size_bytes=LIMIT))
        await call.initial_metadata()
        for _ in range(2 * UPLOAD_PART_BYTES // CHUNK):
            await call.write(gateway_pb2.ImportChunk(data=b"x" * CHUNK))

        async def stored() -> bool:
            return bool(await _rows(pool, user_id))

        await _eventually(stored, "the upload begun")
        call.cancel()

        async def gone() -> bool:
            return not await _rows(pool, user_id)

        await _eventually(gone, "the cancelled upload deleted")
    # over the size limit, not declared: refused with the size message, every time
    for _ in range(5):
        channel, call = _open_upload(address, key)
        async with channel:
            await call.write(gateway_pb2.ImportChunk(file_name="big.zip"))
            for _ in range(LIMIT // CHUNK + 2):
                await call.write(gateway_pb2.ImportChunk(data=b"y" * CHUNK))
            await call.done_writing()
            code, details = await _refusal(call)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "MiB limit" in details
        assert await _rows(pool, user_id) == []


async def test_a_declared_size_over_the_limit_is_refused_before_a_byte_is_sent(
    gateway: Any, pool: Any, tmp_path: Path
) -> None:
    listener, _, _ = gateway
    address, key, user_id = await listener()
    big = tmp_path / "my_spotify_data.zip"
    with big.open("wb") as sparse:
        sparse.truncate(LIMIT + 1)  # no disk used: nothing of it needs to be read
    async with FullCircleClient(address, key) as client:
        for _ in range(5):
            code, details = await _refusal(client.import_history(big))
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "MiB limit (this one is" in details
    assert await _rows(pool, user_id) == []


async def test_the_same_file_twice_is_refused_naming_the_earlier_import(
    gateway: Any, pool: Any, tmp_path: Path
) -> None:
    listener, _, _ = gateway
    address, key, user_id = await listener()
    export = tmp_path / "Streaming_History_Audio_2024.json"
    export.write_bytes(os.urandom(UPLOAD_PART_BYTES + 1))
    async with FullCircleClient(address, key) as client:
        first = await client.import_history(export)
        code, details = await _refusal(client.import_history(export))
        assert code == grpc.StatusCode.ALREADY_EXISTS
        assert first in details and export.name in details and "still running" in details
        assert "nothing new was stored" in details
        assert len(await _rows(pool, user_id)) == 1
        # once the earlier import failed on the file, the same file may be uploaded again
        await uploads.record_outcome(pool, UUID(first), "failed", delete_parts=True)
        second = await client.import_history(export)
    assert second != first and len(await _rows(pool, user_id)) == 2


async def test_uploads_over_the_bounds_are_refused_saying_how_many_run(
    gateway: Any, pool: Any
) -> None:
    listener, _, servicer = gateway
    address, key, _ = await listener()
    held = []
    for _ in range(2):
        channel, call = _open_upload(address, key)
        await call.write(gateway_pb2.ImportChunk(file_name="slow.zip", size_bytes=10))
        await call.initial_metadata()  # taken: the go-ahead came
        held.append((channel, call))
    channel, call = _open_upload(address, key)
    async with channel:
        await call.write(gateway_pb2.ImportChunk(file_name="third.zip", size_bytes=10))
        code, details = await _refusal(call)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "2 uploads with this API key are running" in details
    # another listener still gets the gateway's third slot, not a fourth
    other_address, other_key, _ = await listener()
    channel, call = _open_upload(other_address, other_key)
    await call.write(gateway_pb2.ImportChunk(file_name="other.zip", size_bytes=10))
    await call.initial_metadata()
    held.append((channel, call))
    address, fourth_key, _ = await listener()
    channel, call = _open_upload(address, fourth_key)
    async with channel:
        await call.write(gateway_pb2.ImportChunk(file_name="fourth.zip", size_bytes=10))
        code, details = await _refusal(call)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "receiving 3 uploads" in details
    for channel, call in held:
        await call.write(gateway_pb2.ImportChunk(data=os.urandom(10)))
        await call.done_writing()
        assert (await call).size_bytes == 10
        await channel.close()
    assert servicer.upload_slots.running == 0


async def test_the_slots_of_a_dead_gateway_expire_and_a_live_ones_do_not(
    gateway: Any, redis_url: str
) -> None:
    _, bus, _ = gateway
    slots = UploadSlots(lambda: bus.redis, per_key=1, per_gateway=8, ttl_s=0.5)
    key_id = uuid.uuid4().hex
    # a gateway that took a slot and died: its last renewal gave it 2 s more, then nothing
    await bus.redis.eval(
        "local t = redis.call('TIME')"
        " redis.call('ZADD', KEYS[1], t[1] * 1000 + math.floor(t[2] / 1000) + 2000, 'dead')",
        1,
        f"{PREFIX}{key_id}",
    )
    with pytest.raises(Exception, match="1 uploads with this API key are running"):
        async with slots.hold(key_id):
            pass

    async def free() -> bool:
        try:
            async with slots.hold(key_id):
                return True
        except Exception:
            return False

    await _eventually(free, "the dead gateway's slot expired")
    # a live holder renews its slot: still refused after several lifetimes of it
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with slots.hold(key_id):
            entered.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await entered.wait()
    await asyncio.sleep(1.5)
    assert not await free()
    release.set()
    await holder
    assert await free()


async def test_abandoned_uploads_are_swept_and_live_ones_kept(gateway: Any, pool: Any) -> None:
    listener, bus, _ = gateway
    _, _, user_id = await listener()
    retention = UploadRetention(pool, bus, GatewaySettings(upload_abandoned_s=3600))
    left, live = (uploads.UploadWriter(pool, user_id, PartAssembler(LIMIT, 8)) for _ in "ab")
    for writer in (left, live):
        await writer.begin("half.zip")
        await writer.add(b"0123456789abcdef")
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE gateway.uploads SET received_at = now() - %s WHERE upload_id = %s",
            (timedelta(hours=2), left.upload_id),
        )
    await retention.sweep()
    assert [row[0] for row in await _rows(pool, user_id)] == [live.upload_id]


@pytest.mark.parametrize(
    ("stage", "kept", "retention_s", "outcome", "parts_left"),
    [
        ("done", False, 0, "done", 0),
        ("failed", False, 0, "failed", 0),
        ("failed", True, 0, "kept", 2),
        ("done", False, 3600, "done", 2),
    ],
)
async def test_an_imports_end_deletes_the_bytes_it_no_longer_needs(
    gateway: Any,
    pool: Any,
    stage: str,
    kept: bool,
    retention_s: float,
    outcome: str,
    parts_left: int,
) -> None:
    listener, bus, _ = gateway
    _, _, user_id = await listener()
    upload_id, import_id = await accounts.store_upload(
        pool, user_id, "history.json", os.urandom(UPLOAD_PART_BYTES + 1)
    )
    retention = UploadRetention(pool, bus, GatewaySettings(upload_retention_s=retention_s))
    progress = ImportProgress(user_id=user_id, import_id=import_id, stage=stage, upload_kept=kept)
    for _ in range(2):  # a redelivery changes nothing
        await retention.on_import_progress(progress)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT outcome, finished_at IS NOT NULL FROM gateway.uploads WHERE upload_id = %s",
            (upload_id,),
        )
        assert await cur.fetchone() == (outcome, True)
    [(*_, parts, _)] = await _rows(pool, user_id)
    assert parts == parts_left
    if retention_s:
        async with pool.connection() as conn:
            await conn.execute(
                "UPDATE gateway.uploads SET finished_at = now() - %s WHERE upload_id = %s",
                (timedelta(seconds=retention_s + 1), upload_id),
            )
        await retention.sweep()
        [(*_, parts, _)] = await _rows(pool, user_id)
        assert parts == 0


async def test_a_complete_upload_its_gateway_never_announced_is_requested_by_the_sweep(
    gateway: Any, pool: Any
) -> None:
    """A gateway that died between completing an upload and publishing imports.requested: the
    sweep asks ingest for it (once), so it is neither lost nor left blocking a re-upload."""
    listener, bus, _ = gateway
    _, _, user_id = await listener()
    upload_id, import_id = await accounts.store_upload(pool, user_id, "late.json", b"[3]")
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE gateway.uploads SET received_at = now() - interval '5 minutes'"
            " WHERE upload_id = %s",
            (upload_id,),
        )
    retention = UploadRetention(pool, bus, GatewaySettings())
    await retention.sweep()
    await retention.sweep()
    requested = [
        decode_entry(f, ImportRequested) for _, f in await bus.redis.xrange(IMPORTS_REQUESTED)
    ]
    assert [(r.upload_id, r.import_id, r.file_name) for r in requested] == [
        (upload_id, import_id, "late.json")
    ]
