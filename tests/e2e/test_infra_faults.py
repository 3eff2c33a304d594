"""Infrastructure faults mid-pipeline: Redis restarted with its data, Redis restarted without it
(then `fullcircle replay` re-publishes from Postgres what was lost), PostgreSQL restarted. Each
time the services reconnect, recreate their consumer groups, and the pipeline ends exactly where
a clean run of the same history ends.

These drills restart servers, so they run on a stack of their own (`private_stack`: embedded
PostgreSQL and Redis in a temporary folder), never on the servers the other tests share.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from uuid import UUID

import pytest
from psycopg import AsyncConnection

from bench.pipeline import PipelineState, bus_state, pipeline_state, wait_settled
from fullcircle.client import FullCircleClient
from fullcircle.grpc_server import check_health
from services.gateway.adapters.accounts import create_user
from tools.stack.local import SERVICES, LocalStack, StackState

pytestmark = pytest.mark.e2e

EXPORT = "spotify-history-efrrowini/Streaming_History_Audio_2026.json"


async def _listener(state: StackState, name: str) -> tuple[UUID, str]:
    async with await AsyncConnection.connect(state.database_url) as conn:
        user_id, key = await create_user(conn, name)
        return user_id, key.token


async def _start_import(state: StackState, key: str, export: Path) -> str:
    async with FullCircleClient(state.gateway_address, key) as client:
        return await client.import_history(export)


async def _wait_until(check, timeout_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.2)


async def _all_serving(state: StackState) -> bool:
    answers = [await check_health(f"127.0.0.1:{state.ports[name]}", 1.0) for name in SERVICES]
    return all(answers)


_CLEAN: dict[str, PipelineState] = {}


async def _clean_run(stack: LocalStack, export: Path) -> PipelineState:
    """The state a run of `export` without faults ends in; made once, after the first drill
    (which so meets a cold Last.fm cache, and enrich is mid-way when Redis loses its data)."""
    if str(export) not in _CLEAN:
        state = stack.running()
        assert state is not None
        user_id, key = await _listener(state, f"clean-{uuid.uuid4().hex[:6]}")
        await _start_import(state, key, export)
        _CLEAN[str(export)] = await wait_settled(
            state.database_url, state.redis_url, user_id, timeout_s=240
        )
    return _CLEAN[str(export)]


async def _assert_nothing_left(state: StackState) -> None:
    bus = await bus_state(state.redis_url)
    assert bus.idle, bus
    assert not any(bus.dead_letters.values()), bus.dead_letters


async def test_redis_lost_its_data_mid_pipeline_and_replay_rebuilds_it(
    private_stack: LocalStack, shared_data: Path
) -> None:
    state = private_stack.running()
    assert state is not None
    name = f"lost-{uuid.uuid4().hex[:6]}"
    user_id, key = await _listener(state, name)
    await _start_import(state, key, shared_data / EXPORT)

    async def enrich_is_mid_way() -> bool:
        now = await pipeline_state(state.database_url, user_id)
        return now.plays > 0 and 0 < now.untagged_artists < now.artists

    await _wait_until(enrich_is_mid_way)
    await asyncio.to_thread(private_stack.restart_redis, keep_data=False, down_s=1.0)
    await _wait_until(lambda: _all_serving(state), 60)
    replayed = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "tools.cli.app",
            "replay",
            "--user",
            name,
            "--data-dir",
            str(private_stack.data_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    # the import was done before Redis lost its data, so its upload's bytes are gone: it is
    # replayed from its plays in PostgreSQL, not re-requested
    assert "re-published 0 imports from their uploads, 1 play batches" in replayed.stdout
    faulted = await wait_settled(state.database_url, state.redis_url, user_id, timeout_s=240)
    clean = await _clean_run(private_stack, shared_data / EXPORT)
    assert faulted.comparable == clean.comparable
    await _assert_nothing_left(state)


@pytest.mark.parametrize("fault", ["redis restarted with its data", "postgres restarted"])
async def test_the_pipeline_completes_through_a_server_restart(
    private_stack: LocalStack, shared_data: Path, fault: str
) -> None:
    """Redis goes away (2 s) during the import, keeping its data; or PostgreSQL goes away (2 s)
    once plays are stored and the profile work has begun."""
    state = private_stack.running()
    assert state is not None
    user_id, key = await _listener(state, f"fault-{uuid.uuid4().hex[:6]}")
    await _start_import(state, key, shared_data / EXPORT)
    if fault.startswith("redis"):
        await asyncio.to_thread(private_stack.restart_redis, keep_data=True, down_s=2.0)
    else:

        async def profile_started() -> bool:
            return (await pipeline_state(state.database_url, user_id)).plays > 0

        await _wait_until(profile_started)
        await asyncio.to_thread(private_stack.restart_postgres, down_s=2.0)
    faulted = await wait_settled(state.database_url, state.redis_url, user_id, timeout_s=240)
    clean = await _clean_run(private_stack, shared_data / EXPORT)
    assert faulted.comparable == clean.comparable
    await _assert_nothing_left(state)
