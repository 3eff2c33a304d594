"""Revoking a key on two gateway replicas: a new call with it is refused at once on both (a
cached owner does not outlive the revocation), and its open subscriptions on both end within a
few seconds with UNAUTHENTICATED, saying the key was revoked; the listener's other key goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

import grpc
import pytest

from fullcircle.client import AdminClient, FullCircleClient
from tools.stack.local import LocalStack

from .test_subscriptions import _announce, _new_set

pytestmark = pytest.mark.e2e

STREAM_END_S = 15  # REVOCATION_POLL_S is 1 s: generous, only so a failure does not hang


async def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_a_revoked_key_ends_its_open_streams_and_new_calls_on_both_replicas(
    local_stack: LocalStack, new_listener
) -> None:
    state = local_stack.running()
    assert state is not None
    replica, port = await asyncio.to_thread(local_stack.add_replica, "gateway")
    addresses = [state.gateway_address, f"127.0.0.1:{port}"]
    try:
        name = f"revoked-{uuid.uuid4().hex[:6]}"
        user_id, key = await new_listener(name)
        set_id = await _new_set(state, user_id, 1, ["Revocation Test Artist"])
        async with AdminClient(state.gateway_address, local_stack.admin_token()) as admin:
            other_key = (await admin.create_api_key(name)).api_key
        async with (
            FullCircleClient(addresses[0], key) as first,
            FullCircleClient(addresses[1], key) as second,
            FullCircleClient(addresses[1], other_key) as unrevoked,
        ):
            streams = [aiter(client.subscribe(deadline_s=120)) for client in (first, second)]
            kept = aiter(unrevoked.subscribe(deadline_s=120))
            for stream in [*streams, kept]:
                assert (await anext(stream)).set.set_id == set_id
            # both replicas have the key's owner cached now (KEY_CACHE_S)
            for client in (first, second):
                assert (await client.recommendations(1)).set_id == set_id

            async with AdminClient(state.gateway_address, local_stack.admin_token()) as admin:
                assert await admin.revoke_api_key(key.split("_")[1]) == name
            revoked_at = time.monotonic()
            for client in (first, second):
                assert await _code(client.recommendations(1)) == grpc.StatusCode.UNAUTHENTICATED

            for stream in streams:
                with pytest.raises(grpc.aio.AioRpcError) as ended:
                    await asyncio.wait_for(anext(stream), STREAM_END_S)
                assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
                assert "revoked" in (ended.value.details() or "")
                print(f"stream ended {time.monotonic() - revoked_at:.2f} s after the revocation")
            assert (await unrevoked.recommendations(1)).set_id == set_id
            second_set = await _new_set(state, user_id, 2, ["Still Subscribed Artist"])
            await _announce(state, user_id, second_set)
            assert (await asyncio.wait_for(anext(kept), 20)).set.set_id == second_set
    finally:
        await asyncio.to_thread(local_stack.remove_replica, replica)


async def test_a_revoked_key_ends_its_open_watch_import(
    local_stack: LocalStack, new_listener, shared_data: Path
) -> None:
    state = local_stack.running()
    assert state is not None
    name = f"watching-{uuid.uuid4().hex[:6]}"
    _, key = await new_listener(name)
    async with FullCircleClient(state.gateway_address, key) as client:
        # ingest stopped: the import stays queued, so its watch stays open
        os.kill(state.pids["ingest"], signal.SIGSTOP)
        try:
            import_id = await client.import_history(
                shared_data / "spotify-history-efrrowini/Streaming_History_Audio_2022.json"
            )
            watch = aiter(client.watch_import(import_id, deadline_s=120))
            waiting = asyncio.ensure_future(anext(watch))
            await asyncio.sleep(1)  # the watch is open on the gateway
            assert not waiting.done()
            async with AdminClient(state.gateway_address, local_stack.admin_token()) as admin:
                assert await admin.revoke_api_key(key) == name
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                await asyncio.wait_for(waiting, STREAM_END_S)
        finally:
            os.kill(state.pids["ingest"], signal.SIGCONT)
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (ended.value.details() or "")
