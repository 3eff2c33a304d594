"""Two replicas in one test: two instances of a service's part over one real PostgreSQL and
Redis, racing, do once what must happen once: a due Spotify account synced (and its rotating
refresh token refreshed) by one of them, an artist fetched from Last.fm by one of them, and
one rate limit (Last.fm's, the gateway's per key) for both together, and one count of the
requests both send to Last.fm."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from redis.asyncio import Redis as AsyncRedis

from fullcircle.bus import Bus
from fullcircle.errors import ResourceExhausted, Unauthenticated
from fullcircle.events import PlaysIngested
from fullcircle.ratelimit import async_shared_rate_limit, shared_rate_limit
from fullcircle.settings import FullCircleSettings
from services.enrich.adapters.request_count import requests_in_last
from services.enrich.app import Enricher
from services.enrich.lastfm_local import Catalog, CatalogArtist, start_lastfm_server
from services.enrich.lastfm_local.server import FaultPlan, LocalLastfmServer
from services.enrich.settings import EnrichSettings
from services.gateway.adapters import revocations
from services.gateway.adapters.accounts import create_user, revoke_api_key
from services.gateway.auth import AuthInterceptor
from services.ingest.adapters.spotify import SpotifyAuth, SpotifyEndpoints
from services.ingest.domain.token_box import TokenBox, TokenSet
from services.ingest.settings import IngestSettings
from services.ingest.spotify_sync import SpotifySync, save_link
from tests.support.spotify_local.server import (
    LocalSpotifyServer,
    ScriptedPlay,
    start_spotify_server,
)

pytestmark = pytest.mark.integration

SECRET = "replica-test-token-secret-0123456789"
REDIRECT_URI = "http://127.0.0.1:8888/callback"


# --- Spotify: one sync, one refresh per due account -------------------------------------------


@pytest.fixture
def spotify() -> Iterator[LocalSpotifyServer]:
    with start_spotify_server() as server:
        yield server


def _linked_tokens(auth: SpotifyAuth, spotify: LocalSpotifyServer, listener: str) -> TokenSet:
    """Link as the listener would, and age the access token: the next sync must refresh."""
    spotify.login_as(listener)
    url, verifier = auth.authorize_url("state")
    location = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    tokens = auth.exchange(dict(parse_qsl(urlsplit(location).query))["code"], verifier)
    return TokenSet(
        tokens.access_token,
        tokens.refresh_token,
        datetime.now(UTC) - timedelta(minutes=1),
        tokens.scope,
    )


async def test_two_replicas_sync_and_refresh_each_due_account_exactly_once(
    settings: FullCircleSettings, pool: Any, spotify: LocalSpotifyServer
) -> None:
    ingest_settings = IngestSettings(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        spotify_client_id=spotify.client_id,
        spotify_accounts_url=spotify.url,
        spotify_api_url=spotify.url,
        spotify_token_secret=SECRET,
    )
    auth = SpotifyAuth(
        spotify.client_id, REDIRECT_URI, endpoints=SpotifyEndpoints.local(spotify.url)
    )
    box = TokenBox(SECRET)
    listeners = {uuid.uuid4(): f"due-{n}-{uuid.uuid4().hex[:6]}" for n in range(12)}
    start = datetime.now(UTC) - timedelta(days=1)
    async with pool.connection() as conn:
        for user_id, listener in listeners.items():
            spotify.add_plays(
                listener,
                [
                    ScriptedPlay.of(
                        f"Song {i}", "Artist", "Album", start + timedelta(minutes=5 * i)
                    )
                    for i in range(3)
                ],
            )
            tokens = _linked_tokens(auth, spotify, listener)
            await save_link(conn, box, user_id, listener, tokens, "UTC", "0 8 * * *")
        await conn.execute(
            "UPDATE ingest.spotify_accounts SET next_sync_at = now() - interval '1 minute'"
            " WHERE user_id = ANY(%s)",
            (list(listeners),),
        )
    spotify.reset()
    buses = [Bus(settings, "ingest"), Bus(settings, "ingest")]
    for bus in buses:
        await bus.start()
    try:
        replicas = [SpotifySync(pool, bus, ingest_settings, auth, box) for bus in buses]
        for name, replica in zip(("ingest-a", "ingest-b"), replicas, strict=True):
            replica.holder = name
        synced = await asyncio.gather(*(replica.sync_due() for replica in replicas))
    finally:
        for bus in buses:
            await bus.stop()

    assert sum(synced) == len(listeners), "every due account synced once, by one replica"
    calls = spotify.stats()["calls"]
    assert calls["POST /api/token"] == len(listeners), "one refresh per account"
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, last_sync_plays, lease_until FROM ingest.spotify_accounts"
            " WHERE user_id = ANY(%s)",
            (list(listeners),),
        )
        rows = await cur.fetchall()
        cur = await conn.execute(
            "SELECT count(*) FROM ingest.plays WHERE user_id = ANY(%s)", (list(listeners),)
        )
        plays = await cur.fetchone()
    assert {row[0] for row in rows} == {"linked"}, "no replica lost a race to a rotated token"
    assert {row[1] for row in rows} == {3} and {row[2] for row in rows} == {None}
    assert plays == (3 * len(listeners),)


async def test_a_crashed_replicas_lease_runs_out_and_another_replica_syncs(
    settings: FullCircleSettings, pool: Any, spotify: LocalSpotifyServer
) -> None:
    ingest_settings = IngestSettings(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        spotify_client_id=spotify.client_id,
        spotify_accounts_url=spotify.url,
        spotify_api_url=spotify.url,
        spotify_token_secret=SECRET,
    )
    auth = SpotifyAuth(
        spotify.client_id, REDIRECT_URI, endpoints=SpotifyEndpoints.local(spotify.url)
    )
    box = TokenBox(SECRET)
    user_id, listener = uuid.uuid4(), f"crashed-{uuid.uuid4().hex[:6]}"
    async with pool.connection() as conn:
        await save_link(
            conn,
            box,
            user_id,
            listener,
            _linked_tokens(auth, spotify, listener),
            "UTC",
            "0 8 * * *",
        )
        # a replica claimed it and died: its lease is still running...
        await conn.execute(
            "UPDATE ingest.spotify_accounts SET next_sync_at = now() - interval '1 minute',"
            " lease_until = now() + interval '1 hour', leased_by = 'ingest-dead'"
            " WHERE user_id = %s",
            (user_id,),
        )
    bus = Bus(settings, "ingest")
    await bus.start()
    try:
        survivor = SpotifySync(pool, bus, ingest_settings, auth, box)
        assert await survivor.sync_due() == 0
        assert await survivor.sync(user_id) is None, "a sync on request waits for the lease too"
        async with pool.connection() as conn:  # ...until it runs out
            await conn.execute(
                "UPDATE ingest.spotify_accounts SET lease_until = now() - interval '1 second'"
                " WHERE user_id = %s",
                (user_id,),
            )
        assert await survivor.sync_due() == 1
    finally:
        await bus.stop()


# --- one rate limit for every replica -----------------------------------------------------------


def test_two_limiters_over_one_redis_never_grant_more_than_the_rate_together(
    redis_url: str,
) -> None:
    key = f"replica-test-{uuid.uuid4().hex[:6]}"
    replicas = [shared_rate_limit(redis_url, key, 10) for _ in range(2)]
    # The window is kept in the times the limiter stamps inside `hit`; a thread that records
    # the time after `acquire` returns can be scheduled late and squeeze two windows' grants
    # into less than a second. So each grant is known as the span [asked, answered] that holds
    # its stamp, and a window is over the rate only if more than 10 whole spans fit in it.
    grants: list[tuple[float, float]] = []
    lock = threading.Lock()

    def timed(hit: Any) -> Any:
        def hit_and_record(*args: Any) -> bool:
            asked = time.time()
            granted = bool(hit(*args))
            if granted:
                with lock:
                    grants.append((asked, time.time()))
            return granted

        return hit_and_record

    for limit in replicas:
        limit.limiter.hit = timed(limit.limiter.hit)  # type: ignore[method-assign]

    def call_as(limit: Any) -> None:
        for _ in range(15):
            limit.acquire()

    threads = [threading.Thread(target=call_as, args=(limit,)) for limit in replicas for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(grants) == 60
    assert _most_grants_surely_in_one_window(grants, 1.0) <= 10
    first_asked = min(asked for asked, _ in grants)
    last_answered = max(answered for _, answered in grants)
    assert last_answered - first_asked >= 5.0  # 60 calls at 10 a second: at least 5 s of windows


def _most_grants_surely_in_one_window(spans: list[tuple[float, float]], window_s: float) -> int:
    """The most grants whose whole [asked, answered] span fits one `window_s` window."""
    return max(
        sum(1 for asked, answered in spans if asked >= start and answered < start + window_s)
        for start, _ in spans
    )


async def test_the_gateways_per_key_limit_holds_across_two_interceptors(
    redis_url: str, pool: Any
) -> None:
    async with pool.connection() as conn:
        _, key = await create_user(conn, f"limited-{uuid.uuid4().hex[:6]}")
    prefix = f"gateway-test-{uuid.uuid4().hex[:6]}"
    redis = AsyncRedis.from_url(redis_url)
    bus: Any = SimpleNamespace(redis=redis)
    replicas = [
        AuthInterceptor(pool, bus, async_shared_rate_limit(redis_url, prefix, 20)) for _ in range(2)
    ]
    context = SimpleNamespace(
        invocation_metadata=lambda: (("authorization", f"Bearer {key.token}"),)
    )
    # Alternating replicas, as a load balancer would: one budget of 20 a second for both.
    for turn in range(20):
        await replicas[turn % 2]._authenticate(context)  # type: ignore[arg-type]
    for replica in replicas:
        with pytest.raises(ResourceExhausted, match="over 20 calls a second"):
            await replica._authenticate(context)  # type: ignore[arg-type]
    await redis.aclose()


async def test_a_revoked_key_is_refused_at_once_by_two_interceptors_that_cached_it(
    redis_url: str, pool: Any
) -> None:
    async with pool.connection() as conn:
        user_id, key = await create_user(conn, f"revoked-{uuid.uuid4().hex[:6]}")
    redis = AsyncRedis.from_url(redis_url)
    bus: Any = SimpleNamespace(redis=redis)
    prefix = f"gateway-test-{uuid.uuid4().hex[:6]}"
    # the default 30 s key cache: the revocation must not wait for it
    replicas = [
        AuthInterceptor(pool, bus, async_shared_rate_limit(redis_url, prefix, 100))
        for _ in range(2)
    ]
    context = SimpleNamespace(
        invocation_metadata=lambda: (("authorization", f"Bearer {key.token}"),)
    )
    try:
        for replica in replicas:
            assert await replica._authenticate(context) == user_id  # type: ignore[arg-type]
        async with pool.connection() as conn:
            assert await revoke_api_key(conn, key.key_id)
        await revocations.announce(redis)
        for replica in replicas:
            with pytest.raises(Unauthenticated, match="unknown or revoked API key"):
                await replica._authenticate(context)  # type: ignore[arg-type]
    finally:
        await redis.aclose()


# --- Last.fm: one fetch per artist across enrich replicas -----------------------------------------

REPLICA_ARTISTS = [f"Replica Artist {n}" for n in range(16)]


@pytest.fixture(scope="module")
def lastfm() -> Iterator[LocalLastfmServer]:
    artists = [
        CatalogArtist(name, "", 10, 100, (("Hip-Hop", 100),), ((REPLICA_ARTISTS[0], 0.5),))
        for name in REPLICA_ARTISTS
    ]
    with start_lastfm_server(Catalog(tuple(artists))) as server:
        yield server


async def _enrich_replicas(
    settings: FullCircleSettings, pool: Any, lastfm: LocalLastfmServer, **tuning: Any
) -> tuple[list[Enricher], list[Bus]]:
    """Two enrich replicas on their own buses, over one PostgreSQL, Redis and Last.fm."""
    buses = [Bus(settings, "enrich"), Bus(settings, "enrich")]
    enrich_settings = EnrichSettings(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        lastfm_api_key="test-key",
        lastfm_api_root=lastfm.url,
        lastfm_rate_limit=200.0,
        lastfm_concurrency=4,
        **tuning,
    )
    for bus in buses:
        await bus.start()
    return [Enricher(SimpleNamespace(pool=pool, bus=bus), enrich_settings) for bus in buses], buses


async def test_two_enrich_replicas_fetch_each_artist_once(
    settings: FullCircleSettings, pool: Any, lastfm: LocalLastfmServer
) -> None:
    replicas, buses = await _enrich_replicas(settings, pool, lastfm)
    try:
        lastfm.reset()
        lastfm.set_faults(FaultPlan(delay_s=0.05))  # long enough for the batches to overlap
        # overlapping batches, as two replicas get them from one listener's plays, and the
        # first replica's batch delivered to it again while it still works on it
        listener = uuid.uuid4()
        batches = (REPLICA_ARTISTS[:12], REPLICA_ARTISTS[4:], REPLICA_ARTISTS[:12])
        await asyncio.gather(
            *(
                replica.on_plays_ingested(
                    PlaysIngested(
                        user_id=listener, source="extended", new_plays=len(names), artists=names
                    )
                )
                for replica, names in zip((*replicas, replicas[0]), batches, strict=True)
            )
        )
    finally:
        for replica in replicas:
            await replica.claims.close()
        for bus in buses:
            await bus.stop()
    calls = lastfm.stats()["calls_per_method"]
    assert calls == {
        "artist.gettoptags": len(REPLICA_ARTISTS),
        "artist.getsimilar": len(REPLICA_ARTISTS),
        "artist.getinfo": len(REPLICA_ARTISTS),
    }


COUNTED_ARTISTS = [f"Counted Artist {n}" for n in range(16)]


async def test_every_http_request_of_two_enrich_replicas_is_counted_once(
    settings: FullCircleSettings, pool: Any
) -> None:
    """`fullcircle status` reads these counters: they must equal what Last.fm received, every
    method of every artist and every retry, from both replicas (the fetch log it read before
    has one line per answer stored: 16 for these 48 calls and 8 retries)."""
    catalog = Catalog(
        tuple(
            CatalogArtist(name, "", 10, 100, (("Hip-Hop", 100),), ((COUNTED_ARTISTS[0], 0.5),))
            for name in COUNTED_ARTISTS
        )
    )
    lastfm = start_lastfm_server(catalog)
    # six faults may meet one call: it still gets through
    replicas, buses = await _enrich_replicas(settings, pool, lastfm, lastfm_retries=10)
    redis_client = AsyncRedis.from_url(settings.redis_url)
    try:
        lastfm.reset()
        lastfm.set_faults(FaultPlan(fail_next=6, fail_with=8))  # Last.fm's "try again"
        listener = uuid.uuid4()
        await asyncio.gather(
            *(
                replica.on_plays_ingested(
                    PlaysIngested(
                        user_id=listener, source="extended", new_plays=len(names), artists=names
                    )
                )
                for replica, names in zip(
                    replicas, (COUNTED_ARTISTS[:8], COUNTED_ARTISTS[8:]), strict=True
                )
            )
        )
        lastfm.set_faults(FaultPlan(fail_next=2, fail_with=8))
        top = await asyncio.to_thread(replicas[1].client.tag_top_artists, "hip-hop")
        assert top.found
        received = lastfm.stats()
        counted = await requests_in_last(redis_client)
    finally:
        await redis_client.aclose()
        for replica in replicas:
            await replica.claims.close()
            replica.requests.close()
        for bus in buses:
            await bus.stop()
        lastfm.stop()
    assert received["faults_served"] == {"8": 8}
    assert counted == received["total_calls"] == sum(r.client.calls for r in replicas)
    assert len(COUNTED_ARTISTS) * 3 + 1 + 8 == counted
