"""Every public RPC is scoped to the caller's own listener: with Bob's key nothing of Alice's can
be read, followed or changed, and no Admin RPC can be called. The tests walk the service
descriptors, so a new RPC without a case here fails them. Last: no API key, token or secret of
this run appears in any service log."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import psycopg
import pytest

from fullcircle.client import AdminClient, FullCircleClient
from fullcircle.v1 import admin_pb2, admin_pb2_grpc, common_pb2, gateway_pb2
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


async def _feedback_of(database_url: str, user_id: uuid.UUID) -> list[tuple[str]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT artist_key FROM model.feedback WHERE user_id = %s", (user_id,)
        )
        return [tuple(row) for row in await cur.fetchall()]


async def _zones_of(database_url: str, *user_ids: uuid.UUID) -> dict[uuid.UUID, str]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT user_id, time_zone FROM features.listener_time_zones WHERE user_id = ANY(%s)",
            (list(user_ids),),
        )
        return {row[0]: row[1] for row in await cur.fetchall()}


async def _plays_of(database_url: str, user_id: uuid.UUID) -> int:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM ingest.plays WHERE user_id = %s", (user_id,))
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _link_row(database_url: str, user_id: uuid.UUID, change: str) -> None:
    """A linked Spotify account of `user_id` in ingest's table (INSERT), or none (DELETE)."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        if change == "INSERT":
            await conn.execute(
                "INSERT INTO ingest.spotify_accounts (user_id, user_name, sealed_tokens,"
                " next_sync_at) VALUES (%s, 'alice', '\\x00', now() + interval '1 day')",
                (user_id,),
            )
        else:
            await conn.execute("DELETE FROM ingest.spotify_accounts WHERE user_id = %s", (user_id,))


async def test_bobs_key_reaches_nothing_of_alices_through_any_rpc(
    local_stack: LocalStack, new_listener, shared_data: Path
) -> None:
    state = local_stack.running()
    assert state is not None
    database_url = state.database_url
    alice_id, alice_key = await new_listener(f"alice-{uuid.uuid4().hex[:6]}")
    bob_id, bob_key = await new_listener(f"bob-{uuid.uuid4().hex[:6]}")
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
        xspf = gateway_pb2.PLAYLIST_FORMAT_FILE_XSPF
        assert await _code(bob.export_playlist("upbeat", xspf)) == grpc.StatusCode.NOT_FOUND
        checked.add("ExportPlaylist")

        await bob.feedback(ALICE_ARTISTS[0], common_pb2.FEEDBACK_KIND_DISLIKE)
        # Bob's dislike is Bob's: recorded for him, nothing of it on Alice (her import may
        # meanwhile have made her a real set, so her set is not compared here)
        for _ in range(100):  # the model records it from the bus
            if bobs := await _feedback_of(state.database_url, bob_id):
                break
            await asyncio.sleep(0.1)
        assert bobs == [(ALICE_ARTISTS[0].lower(),)]
        assert await _feedback_of(state.database_url, alice_id) == []
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

        bobs_zone = await bob.set_time_zone("Asia/Tokyo")  # Bob's zone, not Alice's
        assert (bobs_zone.time_zone, bobs_zone.source) == ("Asia/Tokyo", "set")
        assert await _zones_of(database_url, bob_id, alice_id) == {bob_id: "Asia/Tokyo"}
        assert await _code(bob.set_time_zone("Mars/Olympus_Mons")) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        checked.add("SetTimeZone")

        bobs_steering = await bob.steer(familiarity=0.2)  # his, not Alice's
        assert bobs_steering.familiarity_set and bobs_steering.familiarity == pytest.approx(0.2)
        assert not (await alice.steering()).familiarity_set
        assert (await bob.steering()).familiarity == pytest.approx(0.2)
        checked.update({"SteerRecommendations", "GetSteering"})

        # exclusions are their own: Bob cannot list or undo Alice's
        alices_rule = await alice.exclude(platform="android")
        bobs_rule = await bob.exclude(platform="android")
        assert [e.exclusion_id for e in await bob.exclusions()] == [bobs_rule.exclusion_id]
        code = await _code(bob.remove_exclusion(alices_rule.exclusion_id))
        assert code == grpc.StatusCode.NOT_FOUND
        assert [e.exclusion_id for e in await alice.exclusions()] == [alices_rule.exclusion_id]
        await alice.remove_exclusion(alices_rule.exclusion_id)
        checked.update({"ExcludeFromTaste", "ListExclusions", "RemoveExclusion"})

        await bob.sync_spotify()  # Bob has no link: nothing of anyone's is synced
        checked.add("SyncSpotify")

        alices_link = await alice.link_spotify()
        state = alices_link.authorize_url.split("state=")[1].split("&")[0]
        stolen = f"http://127.0.0.1:8888/callback?code=anything&state={state}"
        assert await _code(bob.link_spotify(redirect_url=stolen)) == grpc.StatusCode.NOT_FOUND
        checked.add("LinkSpotify")

        # Alice's link as ingest keeps it (a day before its first sync): Bob reads only his
        await _link_row(database_url, alice_id, "INSERT")
        try:
            assert (await alice.spotify_link()).linked
            assert not (await bob.spotify_link()).linked
        finally:
            await _link_row(database_url, alice_id, "DELETE")
        checked.add("GetSpotifyLink")

        alices_keys = [k.key_id for k in await alice.api_keys()]
        assert [k.key_id for k in await bob.api_keys()] == [bob_key.split("_")[1]]
        bobs_new = await bob.create_api_key("bob's laptop")
        assert [k.key_id for k in await alice.api_keys()] == alices_keys  # not Alice's
        code = await _code(bob.revoke_api_key(alices_keys[0]))
        assert code == grpc.StatusCode.NOT_FOUND
        assert await _code(alice.api_keys()) == grpc.StatusCode.OK  # her key works on
        await bob.revoke_api_key(bobs_new.key.key_id)
        checked.update({"ListApiKeys", "CreateApiKey", "RevokeApiKey"})

        alices_plays = await _plays_of(database_url, alice_id)
        deleting_alices = bob.delete_plays(import_id=alice_import)
        assert await _code(deleting_alices) == grpc.StatusCode.NOT_FOUND
        await bob.delete_plays(everything=True)  # Bob's own plays only
        assert await _plays_of(database_url, bob_id) == 0
        assert await _plays_of(database_url, alice_id) == alices_plays > 0
        checked.add("DeletePlays")
        await bob.delete_account()  # Bob's account only
        assert await _plays_of(database_url, alice_id) == alices_plays
        assert await _code(alice.taste_profile()) != grpc.StatusCode.UNAUTHENTICATED
        checked.add("DeleteAccount")

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
    assert local_stack.admin_token() not in logs
    assert "local-catalog" not in logs  # the Last.fm API key the stack passes to enrich


async def test_a_revoked_key_is_refused(local_stack: LocalStack, new_listener) -> None:
    state = local_stack.running()
    assert state is not None
    _, key = await new_listener(f"revoked-{uuid.uuid4().hex[:6]}")
    async with (
        FullCircleClient(state.gateway_address, key) as client,
        AdminClient(state.gateway_address, local_stack.admin_token()) as admin,
    ):
        assert await _code(client.taste_profile()) == grpc.StatusCode.NOT_FOUND  # accepted
        await admin.revoke_api_key(key.split("_")[1])
        await asyncio.sleep(1.5)  # KEY_CACHE_S is 1 s in this stack
        assert await _code(client.taste_profile()) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(admin.revoke_api_key(key)) == grpc.StatusCode.NOT_FOUND


async def test_no_listener_key_reaches_any_admin_rpc(local_stack: LocalStack, new_listener) -> None:
    """Bob's key, a wrong token or none: every Admin RPC is refused and changes nothing."""
    state = local_stack.running()
    assert state is not None
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    _, alice_key = await new_listener(alice)
    _, bob_key = await new_listener(f"bob-{uuid.uuid4().hex[:6]}")
    intruder = f"intruder-{uuid.uuid4().hex[:6]}"
    requests = {
        "CreateUser": admin_pb2.CreateUserRequest(name=intruder),
        "CreateApiKey": admin_pb2.CreateApiKeyRequest(user_name=alice),
        "RevokeApiKey": admin_pb2.RevokeApiKeyRequest(key_id=alice_key.split("_")[1]),
        "ListUsers": admin_pb2.ListUsersRequest(),
        "UnlinkSpotify": admin_pb2.UnlinkSpotifyRequest(user_name=alice),
    }
    callers = {
        f"Bearer {bob_key}": grpc.StatusCode.PERMISSION_DENIED,
        "Bearer not-the-admin-token": grpc.StatusCode.UNAUTHENTICATED,
        None: grpc.StatusCode.UNAUTHENTICATED,
    }
    async with grpc.aio.insecure_channel(state.gateway_address) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        for name, request in requests.items():
            for authorization, refused in callers.items():
                metadata = (("authorization", authorization),) if authorization else ()
                call = getattr(stub, name)(request, metadata=metadata, timeout=10)
                assert await _code(call) == refused, (name, authorization)
    every_rpc = {m.name for m in admin_pb2.DESCRIPTOR.services_by_name["Admin"].methods}
    assert set(requests) == every_rpc, f"Admin RPCs without a case: {every_rpc - set(requests)}"
    async with (
        AdminClient(state.gateway_address, local_stack.admin_token()) as admin,
        FullCircleClient(state.gateway_address, alice_key) as as_alice,
    ):
        users = {user.name: user for user in await admin.list_users()}
        assert intruder not in users and users[alice].active_keys == 1
        await asyncio.sleep(1.5)  # past KEY_CACHE_S: a revocation would show now
        assert await _code(as_alice.taste_profile()) == grpc.StatusCode.NOT_FOUND  # accepted
