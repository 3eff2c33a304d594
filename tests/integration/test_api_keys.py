"""A listener's own API keys and Spotify link through the gateway's FullCircle API, over gRPC on
loopback with real PostgreSQL and Redis (the gateway's auth interceptor, its owner cache on, and
ingest's real SpotifyLinks server): keys are listed without their secrets, a new key's secret is
shown once, a listener cannot revoke another listener's key (NOT_FOUND, and the key goes on
working), a revoked key is refused at once although its owner was cached, and the Spotify link
reads as ingest keeps it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from fullcircle.bus import Bus
from fullcircle.client import FullCircleClient
from fullcircle.grpc_server import GrpcServer
from fullcircle.ratelimit import async_shared_rate_limit
from fullcircle.v1 import gateway_pb2, gateway_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from services.gateway.adapters import accounts
from services.gateway.auth import AuthInterceptor
from services.gateway.domain.keys import ApiKey
from services.gateway.servicer import FullCircleServicer
from services.gateway.settings import GatewaySettings
from services.ingest.adapters import spotify_accounts
from services.ingest.links import SpotifyLinksServicer

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(pool: Any, redis_url: str, migrated_database: str) -> AsyncIterator[str]:
    """The gateway's FullCircle servicer behind its auth interceptor (owners cached for a
    minute, as a busy gateway has them), with ingest's SpotifyLinks; yields its address."""
    settings = GatewaySettings(database_url=migrated_database, redis_url=redis_url)
    bus = Bus(settings, "gateway")
    await bus.start()
    ingest = GrpcServer("127.0.0.1", 0)
    ingest.add(
        ingest_pb2_grpc.add_SpotifyLinksServicer_to_server,
        SpotifyLinksServicer(pool, None, 3600.0),
        ingest_pb2.DESCRIPTOR.services_by_name["SpotifyLinks"].full_name,
    )
    await ingest.start()
    links_channel = grpc.aio.insecure_channel(ingest.address)
    servicer = FullCircleServicer(
        settings, pool, bus, None, None, None,  # type: ignore[arg-type]
        ingest_pb2_grpc.SpotifyLinksStub(links_channel), None,  # type: ignore[arg-type]
    )  # fmt: skip
    server = GrpcServer("127.0.0.1", 0)
    limit = async_shared_rate_limit(redis_url, "gateway:key", 1000)
    server.interceptors.append(AuthInterceptor(pool, bus, limit, key_cache_s=60.0))
    server.add(
        gateway_pb2_grpc.add_FullCircleServicer_to_server,
        servicer,
        gateway_pb2.DESCRIPTOR.services_by_name["FullCircle"].full_name,
    )
    await server.start()
    yield server.address
    await server.stop(0)
    await links_channel.close()
    await ingest.stop(0)
    await bus.stop()


async def _listener(pool: Any) -> tuple[uuid.UUID, ApiKey]:
    async with pool.connection() as conn:
        return await accounts.create_user(conn, f"keys-{uuid.uuid4().hex[:10]}")


async def _code(client: FullCircleClient) -> grpc.StatusCode:
    try:
        await client.api_keys()
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_a_listener_lists_makes_and_revokes_only_their_own_keys(
    pool: Any, gateway: str
) -> None:
    _, first = await _listener(pool)
    _, other = await _listener(pool)
    async with (
        FullCircleClient(gateway, first.token) as alice,
        FullCircleClient(gateway, other.token) as bob,
    ):
        (only,) = await alice.api_keys()
        assert only.current and only.key_id == first.key_id
        assert first.token.startswith(only.prefix) and only.created_at.endswith("+00:00")

        made = await alice.create_api_key("  laptop  ")
        assert made.api_key.startswith(made.key.prefix) and made.key.name == "laptop"
        assert not made.key.current  # made with the first key
        listed = await alice.api_keys()
        assert [k.key_id for k in listed] == [only.key_id, made.key.key_id]
        secret = made.api_key.split("_", 2)[2]
        assert secret.encode() not in gateway_pb2.ApiKeys(keys=listed).SerializeToString()

        async with FullCircleClient(gateway, made.api_key) as laptop:
            assert [k.current for k in await laptop.api_keys()] == [False, True]  # cached now
            # another listener's key is not theirs to revoke: NOT_FOUND, and it works on
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await bob.revoke_api_key(made.key.key_id)
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND
            assert "ListApiKeys" in (refused.value.details() or "")
            assert await _code(laptop) == grpc.StatusCode.OK

            revoked = await alice.revoke_api_key(f"fc_{made.key.key_id}")
            assert revoked.key_id == made.key.key_id and revoked.revoked_at
            # at once, although this gateway had the key's owner cached for a minute
            assert await _code(laptop) == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await alice.revoke_api_key(made.key.key_id)  # already revoked
        assert again.value.code() == grpc.StatusCode.NOT_FOUND
        assert [k.key_id for k in await alice.api_keys()] == [only.key_id]
        assert len(await bob.api_keys()) == 1

        for bad, call in (
            ("key_id", alice.revoke_api_key("")),
            ("name", alice.create_api_key("x" * 65)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as invalid:
                await call
            assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
            assert bad in (invalid.value.details() or "")

        # the key of the call itself: answered, then refused
        assert (await alice.revoke_api_key(only.key_id)).current
        assert await _code(alice) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(bob) == grpc.StatusCode.OK


async def test_the_spotify_link_reads_as_ingest_keeps_it(pool: Any, gateway: str) -> None:
    user_id, key = await _listener(pool)
    async with FullCircleClient(gateway, key.token) as client:
        assert not (await client.spotify_link()).linked
        next_sync = datetime.now(UTC) + timedelta(hours=3)
        async with pool.connection() as conn:
            await spotify_accounts.link_account(
                conn, user_id, "keys", b"sealed", "Europe/Paris", "0 9 * * *", next_sync
            )
        link = await client.spotify_link()
        assert (link.linked, link.status, link.time_zone, link.cron) == (
            True, "linked", "Europe/Paris", "0 9 * * *",
        )  # fmt: skip
        assert datetime.fromisoformat(link.linked_at) <= datetime.now(UTC)
        assert datetime.fromisoformat(link.next_sync_at) == next_sync
        assert link.last_sync_at == "" and link.last_error == ""
