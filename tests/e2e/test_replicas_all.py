"""Two replicas of every service (ingest, enrich, features, model, gateway) on one stack: real
exports imported and Spotify accounts synced while the second replicas of enrich, features and
model are SIGKILLed mid-run. Both replicas of each group do work, each artist is fetched from
Last.fm once, each due Spotify account refreshed once, each profile version trained once, and
the listener ends exactly as on one replica of each."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
import requests

from bench.pipeline import bus_state, wait_settled
from fullcircle.bus import POLL_MS
from fullcircle.client import FullCircleClient
from services.gateway.adapters.accounts import create_user
from tests.support.spotify_local.server import (
    DEFAULT_CLIENT_ID,
    LocalSpotifyServer,
    start_spotify_server,
)
from tools.stack.local import SERVICES, LocalStack, StackState

from .test_spotify_sync import _link, plays

pytestmark = pytest.mark.e2e

EXPORT = "spotify-history-efrrowini/Streaming_History_Audio_2024.json"  # 3,154 plays
SMALL_EXPORT = "spotify-history-efrrowini/Streaming_History_Audio_2022.json"
SPOTIFY_LISTENERS = 3


@pytest.fixture(scope="module")
def spotify() -> Iterator[LocalSpotifyServer]:
    """Access tokens that live 30 s (under the 60 s a sync keeps in hand): every sync refreshes,
    so a refresh counted twice is an account synced twice."""
    with start_spotify_server(access_token_ttl_s=30) as server:
        yield server


@pytest.fixture(scope="module")
def replicated(shared_data: Path, spotify: LocalSpotifyServer) -> Iterator[LocalStack]:
    """A stack of its own (embedded PostgreSQL and Redis: this test kills a process and reads
    the whole bus) with a second replica of every service."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LASTFM_", "DATABASE_URL", "REDIS_URL", "FULLCIRCLE_", "SPOTIFY_"))
    }
    env |= {
        "FULLCIRCLE_LASTFM_CATALOG": f"hetrec:{shared_data / 'hetrec2011-lastfm-2k'}",
        "BUS_CLAIM_IDLE_MS": "2000",
        "HEALTH_INTERVAL_S": "1",
        "BUS_SLOW_HANDLER_S": "20",
        "TRAINING_JOB_TIMEOUT_S": "60",
        "TRAIN_BUDGET_SECONDS": "1",
        "ARTISTS_PER_EVENT": "25",  # many plays.ingested batches, for both replicas to share
        "FETCH_CLAIM_MS": "3000",  # a killed replica's artist claims expire within the test
        "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
        "SPOTIFY_ACCOUNTS_URL": spotify.url,
        "SPOTIFY_API_URL": spotify.url,
        "SPOTIFY_TOKEN_SECRET": f"e2e-replicas-secret-{uuid.uuid4().hex}",
        "SPOTIFY_POLL_S": "1",
        "KEY_CACHE_S": "1",
    }
    folder = Path(tempfile.mkdtemp(prefix="fullcircle-replicas-"))
    stack = LocalStack(folder, env)
    stack.up(report=print)
    try:
        for service in SERVICES:
            stack.add_replica(service)
        yield stack
    finally:
        stack.down(report=print)
        if not os.environ.get("FULLCIRCLE_KEEP_PRIVATE_STACK"):
            shutil.rmtree(folder, ignore_errors=True)


def _metric(state: StackState, name: str, sample: str) -> float:
    """The sum of a process's `sample` values (every label set) on its /metrics page."""
    body = requests.get(f"http://127.0.0.1:{state.ports[f'{name}_metrics']}/metrics", timeout=5)
    total = 0.0
    for line in body.text.splitlines():
        if line.startswith(sample + "{") or line.startswith(sample + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _received(state: StackState, name: str) -> float:
    return _metric(state, name, "faststream_received_messages_total")


def _synced_spotify(stack: LocalStack, name: str) -> bool:
    """Whether an ingest replica synced a Spotify account (scheduled syncs are claimed from
    Postgres, not read from the bus: a replica may do its share there)."""
    log = stack.logs / f"{name}.log"
    return log.exists() and "Spotify sync of" in log.read_text(errors="replace")


def _rows(database_url: str, sql: str, *args: object) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, args).fetchall()


async def _listener(state: StackState, name: str) -> tuple[UUID, str]:
    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        user_id, key = await create_user(conn, name)
        return user_id, key.token


@contextlib.asynccontextmanager
async def _paused(state: StackState, name: str) -> AsyncIterator[None]:
    """`name` stopped (SIGSTOP) for the block, from the moment its blocking read of the bus has
    run out (Redis hands a new message to a reader blocked in XREADGROUP even while its process
    is stopped)."""
    os.kill(state.pids[name], signal.SIGSTOP)
    try:
        await asyncio.sleep(5 * POLL_MS / 1000)
        yield
    finally:
        os.kill(state.pids[name], signal.SIGCONT)


async def _imported(client: FullCircleClient, export: Path) -> None:
    import_id = await client.import_history(export)
    updates = [update async for update in client.watch_import(import_id, deadline_s=180)]
    assert updates and updates[-1].stage == "done", updates[-1:]


async def _until(check, what: str, timeout_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.25)


async def test_two_replicas_of_every_service_do_each_thing_once_and_end_as_one(
    replicated: LocalStack, spotify: LocalSpotifyServer, shared_data: Path
) -> None:
    state = replicated.running()
    assert state is not None
    second_gateway = f"127.0.0.1:{state.ports['gateway-2']}"

    # Spotify listeners link through the second gateway; their accounts fall due together and
    # both ingest replicas race for them.
    linked: list[UUID] = []
    for n in range(SPOTIFY_LISTENERS):
        listener = f"replica-spotify-{n}-{uuid.uuid4().hex[:4]}"
        user_id, key = await _listener(state, listener)
        spotify.add_plays(listener, plays(listener, 12, datetime.now(UTC) - timedelta(days=1)))
        async with FullCircleClient(second_gateway, key) as client:
            assert await _link(client, spotify, listener)
        linked.append(user_id)
    spotify.reset()

    # Two imports, one for each ingest replica (the other one paused meanwhile: which consumer
    # of a group reads a message is Redis's choice, and a fast replica took both once); the
    # big one feeds every other group.
    user_id, key = await _listener(state, f"replica-big-{uuid.uuid4().hex[:4]}")
    small_id, small_key = await _listener(state, f"replica-small-{uuid.uuid4().hex[:4]}")
    async with FullCircleClient(state.gateway_address, key) as client, _paused(state, "ingest-2"):
        await _imported(client, shared_data / EXPORT)
    async with FullCircleClient(second_gateway, small_key) as small, _paused(state, "ingest"):
        await _imported(small, shared_data / SMALL_EXPORT)
    _rows(
        state.database_url,
        "UPDATE ingest.spotify_accounts SET next_sync_at = now() WHERE user_id = ANY(%s)"
        " RETURNING user_id",
        linked,
    )

    # enrich-2 is SIGKILLed once it has taken work: its unacknowledged messages must be
    # claimed by enrich-1 and its artist claims expire; it is not started again.
    # So are features-2 and model-2 (a recompute, a retrain: long work), each once it has taken
    # work: what they held is claimed by the survivor, the model's training lock goes with its
    # connection. None is started again.
    killed: list[str] = []
    for name in ("enrich-2", "features-2", "model-2"):
        await _until(lambda name=name: _received(state, name) > 0, f"{name} got no work")
        os.kill(state.pids[name], signal.SIGKILL)
        await asyncio.to_thread(replicated.remove_replica, name)
        killed.append(name)

    settled = await wait_settled(state.database_url, state.redis_url, user_id, timeout_s=150)
    await wait_settled(state.database_url, state.redis_url, small_id, timeout_s=60)
    await _until(
        lambda: (
            len(
                _rows(
                    state.database_url,
                    "SELECT 1 FROM ingest.spotify_accounts"
                    " WHERE user_id = ANY(%s) AND last_sync_at IS NOT NULL",
                    linked,
                )
            )
            == SPOTIFY_LISTENERS
        ),
        "the due Spotify accounts were not all synced",
    )
    state = replicated.running()
    assert state is not None, "a replica died"

    # Both replicas of every consuming group did work (the killed ones were seen working
    # above), and both gateways served calls.
    for service in ("ingest", "enrich", "features", "model"):
        for name in (service, f"{service}-2"):
            if name not in killed:
                assert _received(state, name) > 0 or _synced_spotify(replicated, name), (
                    f"{name} did nothing"
                )
    for name in ("gateway", "gateway-2"):
        assert _metric(state, name, "fullcircle_grpc_requests_total") > 0, f"{name} idle"

    # One Spotify refresh and one sync per due account, none lost to a rotated token.
    assert spotify.stats()["calls"].get("POST /api/token") == SPOTIFY_LISTENERS
    accounts = _rows(
        state.database_url,
        "SELECT status, last_sync_plays FROM ingest.spotify_accounts WHERE user_id = ANY(%s)",
        linked,
    )
    assert accounts == [("linked", 12)] * SPOTIFY_LISTENERS

    # One stored Last.fm answer per artist and method, the kill included.
    repeated = _rows(
        state.database_url,
        "SELECT method, artist_key, count(*) FROM enrich.fetch_log"
        " GROUP BY method, artist_key HAVING count(*) > 1",
    )
    assert repeated == [], f"fetched twice: {repeated[:10]}"

    # One trained model per listener and profile version (the model's per-listener training
    # lock is a Postgres advisory lock shared by the replicas).
    trained_twice = _rows(
        state.database_url,
        "SELECT user_id, profile_version, count(*) FROM model.trained_models"
        " GROUP BY user_id, profile_version HAVING count(*) > 1",
    )
    assert trained_twice == [], f"trained twice: {trained_twice}"

    bus = await bus_state(state.redis_url)
    assert bus.idle and sum(bus.dead_letters.values()) == 0, bus

    # The same end state as one replica of each: the same export again, for a new listener,
    # on the stack with every second replica gone.
    for service in SERVICES:
        if f"{service}-2" not in killed:
            await asyncio.to_thread(replicated.remove_replica, f"{service}-2")
    state = replicated.running()
    assert state is not None and set(state.pids) >= set(SERVICES)
    single_id, single_key = await _listener(state, f"replica-single-{uuid.uuid4().hex[:4]}")
    async with FullCircleClient(state.gateway_address, single_key) as client:
        await client.import_history(shared_data / EXPORT)
    single = await wait_settled(state.database_url, state.redis_url, single_id, timeout_s=120)
    assert settled.plays == settled.distinct_plays > 0
    assert settled.comparable == single.comparable
