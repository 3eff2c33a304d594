"""Every public RPC is scoped to the caller's own listener: with Bob's key nothing of Alice's can
be read, followed or changed. The test walks the service descriptor, so a new RPC without a
case here fails it. Last: no API key, token or secret of this run appears in any service log."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest

from fullcircle.client import FullCircleClient
from fullcircle.v1 import common_pb2, gateway_pb2
from tools.stack.local import LocalStack

from .conftest import TOKEN_SECRET
from .test_subscriptions import _announce, _new_set

pytestmark = pytest.mark.e2e

ALICE_ARTISTS = ["Alice Only Artist One", "Alice Only Artist Two"]


async def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_bobs_key_reaches_nothing_of_alices_through_any_rpc(
    local_stack: LocalStack, new_listener, shared_data: Path
) -> None:
    state = local_stack.running()
    assert state is not None
    alice_id, alice_key = await new_listener(f"alice-{uuid.uuid4().hex[:6]}")
    _, bob_key = await new_listener(f"bob-{uuid.uuid4().hex[:6]}")
    await _new_set(state, alice_id, 1, ALICE_ARTISTS)
    export = shared_data / "spotify-history-efrrowini/Streaming_History_Audio_2026.json"
    async with (
        FullCircleClient(state.gateway_address, alice_key) as alice,
        FullCircleClient(state.gateway_address, bob_key) as bob,
    ):
        alice_import = await alice.import_history(export)
        checked: set[str] = set()

        async def watch_alices_import() -> None:
            async for _ in bob.watch_import(alice_import, deadline_s=10):
                pass

        assert await _code(watch_alices_import()) == grpc.StatusCode.NOT_FOUND
        checked.add("WatchImport")

        assert await _code(bob.recommendations()) == grpc.StatusCode.NOT_FOUND
        checked.add("GetRecommendations")
        assert await _code(bob.taste_profile()) == grpc.StatusCode.NOT_FOUND
        checked.add("GetTasteProfile")
        assert await _code(bob.explain(ALICE_ARTISTS[0])) == grpc.StatusCode.NOT_FOUND
        checked.add("ExplainRecommendation")
        assert await _code(bob.playlist("upbeat")) == grpc.StatusCode.NOT_FOUND
        checked.add("CreatePlaylist")

        await bob.feedback(ALICE_ARTISTS[0], common_pb2.FEEDBACK_KIND_DISLIKE)
        assert [i.artist for i in (await alice.recommendations()).items] == ALICE_ARTISTS
        checked.add("SubmitFeedback")

        bobs_stream = aiter(bob.subscribe(deadline_s=30))
        bobs_next = asyncio.ensure_future(anext(bobs_stream))
        newer = await _new_set(state, alice_id, 2, ["Alice Newer Artist"])
        await _announce(state, alice_id, newer)
        await asyncio.sleep(2)
        assert not bobs_next.done(), "Bob's subscription must not see Alice's sets"
        bobs_next.cancel()
        checked.add("SubscribeRecommendations")

        bobs_import = await bob.import_history(export)  # lands in Bob's history, not Alice's
        async for update in alice.watch_import(alice_import, deadline_s=60):
            alice_final = update
        async for update in bob.watch_import(bobs_import, deadline_s=60):
            bob_final = update
        assert alice_final.plays_new > 0 and bob_final.plays_new == alice_final.plays_new
        checked.add("ImportHistory")

        await bob.sync_spotify()  # Bob has no link: nothing of anyone's is synced
        checked.add("SyncSpotify")

        alices_link = await alice.link_spotify()
        state = alices_link.authorize_url.split("state=")[1].split("&")[0]
        stolen = f"http://127.0.0.1:8888/callback?code=anything&state={state}"
        assert await _code(bob.link_spotify(redirect_url=stolen)) == grpc.StatusCode.NOT_FOUND
        checked.add("LinkSpotify")

    every_rpc = {m.name for m in gateway_pb2.DESCRIPTOR.services_by_name["FullCircle"].methods}
    assert checked == every_rpc, f"RPCs without an isolation case: {every_rpc - checked}"


async def test_no_secret_reaches_any_service_log(local_stack: LocalStack, new_listener) -> None:
    _, key = await new_listener(f"secret-{uuid.uuid4().hex[:6]}")
    state = local_stack.running()
    assert state is not None
    async with FullCircleClient(state.gateway_address, key) as client:
        await _code(client.recommendations())
    async with FullCircleClient(state.gateway_address, key + "tampered") as stranger:
        assert await _code(stranger.recommendations()) == grpc.StatusCode.UNAUTHENTICATED
    logs = "".join(path.read_text(errors="replace") for path in local_stack.logs.glob("*.log"))
    assert logs, "the services log to files in the stack's data folder"
    secret_part = key.rsplit("_", 1)[-1]
    assert secret_part not in logs
    assert TOKEN_SECRET not in logs
    assert "local-catalog" not in logs  # the Last.fm API key the stack passes to enrich


async def test_a_revoked_key_is_refused(local_stack: LocalStack, new_listener) -> None:
    from psycopg import AsyncConnection

    from services.gateway.adapters.accounts import revoke_api_key

    state = local_stack.running()
    assert state is not None
    _, key = await new_listener(f"revoked-{uuid.uuid4().hex[:6]}")
    async with FullCircleClient(state.gateway_address, key) as client:
        assert await _code(client.taste_profile()) == grpc.StatusCode.NOT_FOUND  # accepted
        async with await AsyncConnection.connect(state.database_url) as conn:
            assert await revoke_api_key(conn, key.split("_")[1])
        await asyncio.sleep(1.5)  # KEY_CACHE_S is 1 s in this stack
        assert await _code(client.taste_profile()) == grpc.StatusCode.UNAUTHENTICATED
