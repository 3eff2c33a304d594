"""Uploads through the real gateway process: a 300 MiB export through the CLI is refused with
the size message every time (never "Internal error from Core"), uploads over the per-key bound
are refused saying how many run while the gateway keeps serving health, an upload's bytes go
once its import is done (the row stays) and at once when it failed on the file, and the same
file uploaded again is refused naming the earlier import."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fullcircle.client import FullCircleClient
from fullcircle.v1 import gateway_pb2, gateway_pb2_grpc
from tools.stack.local import LocalStack, StackState

from .test_admin import _cli

pytestmark = pytest.mark.e2e

EXPORT = "spotify-history-efrrowini/Streaming_History_Audio_2022.json"


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(600):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def _upload_row(state: StackState, import_id: str) -> tuple[Any, ...] | None:
    """(outcome, parts left, size) of an import's upload, or None when no row is kept."""
    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        cur = await conn.execute(
            "SELECT u.outcome, count(p.part_no), u.size_bytes FROM gateway.uploads u"
            " LEFT JOIN gateway.upload_parts p USING (upload_id) WHERE u.import_id = %s"
            " GROUP BY u.upload_id",
            (import_id,),
        )
        return await cur.fetchone()


async def _finished(client: FullCircleClient, import_id: str) -> gateway_pb2.ImportProgress:
    last = None
    async for progress in client.watch_import(import_id, deadline_s=120):
        last = progress
    assert last is not None and last.finished
    return last


def test_the_cli_refuses_a_300_mib_export_with_the_size_message_every_time(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    name = f"big-{uuid.uuid4().hex[:6]}"
    assert _cli(local_stack, "user", "add", name).returncode == 0
    export = tmp_path / "my_spotify_data.zip"
    with export.open("wb") as sparse:
        sparse.truncate(300 * 2**20)  # its size is known, so none of it is sent
    for _ in range(5):
        refused = _cli(local_stack, "import", str(export), "--user", name)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "upload over the 256 MiB limit (this one is 300.0 MiB)" in refused.stdout
        assert "Internal error" not in refused.stdout + refused.stderr


async def test_a_refusal_mid_upload_reaches_a_client_still_sending_every_time(
    stack: StackState, new_listener
) -> None:
    """A client that streams without waiting (any gRPC client's request iterator) and is refused
    mid-upload gets the refusal, not "Internal error from Core": the gateway reads the rest of
    the stream away before answering (grpc/grpc#36066). Here the upload is longer than the size
    it declared; the size limit takes the same path."""
    _, key = await new_listener(f"midway-{uuid.uuid4().hex[:6]}")
    metadata = (("authorization", f"Bearer {key}"),)

    async def chunks() -> Any:
        yield gateway_pb2.ImportChunk(file_name="liar.json", size_bytes=2**20)
        for _ in range(32):
            yield gateway_pb2.ImportChunk(data=b" " * 2**20)

    async with grpc.aio.insecure_channel(stack.gateway_address) as channel:
        stub = gateway_pb2_grpc.FullCircleStub(channel)
        for _ in range(5):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ImportHistory(chunks(), metadata=metadata, timeout=60)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value
            assert "longer than the 1,048,576 bytes" in (refused.value.details() or "")


async def test_uploads_over_the_key_bound_are_refused_while_health_answers(
    local_stack: LocalStack, stack: StackState, new_listener
) -> None:
    _, key = await new_listener(f"bound-{uuid.uuid4().hex[:6]}")
    metadata = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(stack.gateway_address) as channel:
        stub = gateway_pb2_grpc.FullCircleStub(channel)
        held = []
        for n in range(2):
            call = stub.ImportHistory(metadata=metadata, timeout=60)
            await call.write(gateway_pb2.ImportChunk(file_name=f"slow-{n}.json", size_bytes=6))
            assert (await call.initial_metadata()).get("fullcircle-upload") == "accepted"
            held.append(call)
        third = stub.ImportHistory(metadata=metadata, timeout=60)
        await third.write(gateway_pb2.ImportChunk(file_name="third.json", size_bytes=6))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await third
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "2 uploads with this API key are running" in (refused.value.details() or "")
        assert "wait for one to finish" in (refused.value.details() or "")
        health = health_pb2_grpc.HealthStub(channel)
        answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # junk finishes the held uploads: their imports fail on the file, their bytes go
        accepted = []
        for n, call in enumerate(held):
            await call.write(gateway_pb2.ImportChunk(data=f"junk-{n}".encode()))
            await call.done_writing()
            accepted.append((await call).import_id)
    async with FullCircleClient(stack.gateway_address, key) as client:
        for import_id in accepted:
            assert (await _finished(client, import_id)).stage == "failed"

            async def bytes_gone(import_id: str = import_id) -> bool:
                return await _upload_row(stack, import_id) == ("failed", 0, 6)

            await _eventually(bytes_gone, f"the failed upload {import_id}'s parts deleted")


async def test_a_done_imports_bytes_go_and_the_same_file_again_is_refused(
    stack: StackState, new_listener, shared_data: Path, tmp_path: Path
) -> None:
    _, key = await new_listener(f"dedupe-{uuid.uuid4().hex[:6]}")
    export = shared_data / EXPORT
    async with FullCircleClient(stack.gateway_address, key) as client:
        import_id = await client.import_history(export)
        assert (await _finished(client, import_id)).stage == "done"

        async def bytes_gone() -> bool:
            return await _upload_row(stack, import_id) == ("done", 0, export.stat().st_size)

        await _eventually(bytes_gone, "the done import's parts deleted, its row kept")
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await client.import_history(export)
        assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
        details = again.value.details() or ""
        assert import_id in details and export.name in details and "is done" in details
        # WatchImport still answers for the import whose bytes are gone
        assert (await _finished(client, import_id)).stage == "done"
        # junk fails; the same junk again is not refused as a copy (a failed import blocks
        # nothing)
        junk = tmp_path / "not-an-export.json"
        junk.write_text(json.dumps({"not": "a history"}) + os.urandom(8).hex())
        failed = await client.import_history(junk)
        assert (await _finished(client, failed)).stage == "failed"

        async def junk_gone() -> bool:
            row = await _upload_row(stack, failed)
            return row is not None and row[:2] == ("failed", 0)

        await _eventually(junk_gone, "the junk upload's parts deleted")
        assert await client.import_history(junk) != failed
