"""gRPC serving speed of the gateway: GetRecommendations answered from the cache at 1, 16 and 64
concurrent clients next to grpc.health.v1.Health/Check on the same server (the ceiling of a
Python gRPC server on this machine), measured in the same run from this separate process; then
the fan-out of one new set to many SubscribeRecommendations streams.

python -m bench grpc_load [--seconds 5] [--subscribers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.servers import scratch_database, stack_env
from fullcircle.bus import Bus
from fullcircle.events import RecommendationsUpdated
from fullcircle.settings import FullCircleSettings
from fullcircle.v1 import gateway_pb2, gateway_pb2_grpc
from services.gateway.adapters.accounts import create_user
from services.model.adapters.store import save_set
from services.model.domain.explanation import explain
from services.model.domain.scoring import ScoredArtist
from tools.stack.local import LocalStack, StackState

BENCH_REDIS_DB = 12


async def seed_listener(state: StackState) -> tuple[uuid.UUID, str, uuid.UUID]:
    """A listener with a stored 20-artist recommendation set (generated names)."""
    from fullcircle.db import open_pool

    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        user_id, key = await create_user(conn, f"load-{uuid.uuid4().hex[:6]}")
    pool = await open_pool(state.database_url)
    items = []
    for rank in range(20):
        scored = ScoredArtist(
            f"Generated Artist {rank}",
            1.0 / (rank + 1),
            {"similar to Seed A": 0.6 / (rank + 1), "tag: grime": 0.4 / (rank + 1)},
            ("Seed A",),
            ("grime",),
        )
        items.append((scored, *explain(scored.parts), ""))
    set_id = await save_set(pool, user_id, 1, f"bench:{user_id.hex[:8]}", "bench", {}, items)
    await pool.close()
    return user_id, key.token, set_id


async def drive(call: Callable[[], Awaitable[object]], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


async def load(state: StackState, seconds: float, subscribers: int) -> None:
    user_id, token, set_id = await seed_listener(state)
    metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(state.gateway_address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        gateway = gateway_pb2_grpc.FullCircleStub(channel)
        request = gateway_pb2.GetRecommendationsRequest(limit=20)
        await gateway.GetRecommendations(request, metadata=metadata, timeout=10)  # warm the cache

        async def check() -> object:
            return await health.Check(health_pb2.HealthCheckRequest(), timeout=10)

        async def recommendations() -> object:
            return await gateway.GetRecommendations(request, metadata=metadata, timeout=10)

        print(f"{'clients':>7} {'method':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for clients in (1, 16, 64):
            ceiling = await drive(check, clients, seconds)
            served = await drive(recommendations, clients, seconds)
            for name, figures in (("Health/Check", ceiling), ("GetRecommendations", served)):
                print(
                    f"{clients:>7} {name:<22} {figures['rps']:>8.0f} {figures['p50_ms']:>8.2f}"
                    f" {figures['p99_ms']:>8.2f}"
                )
            print(
                f"{'':>7} ratio: {served['rps'] / ceiling['rps']:.2f} of Health/Check req/s, "
                f"p99 {served['p99_ms'] / ceiling['p99_ms']:.2f}x"
            )
        await fan_out(state, gateway, metadata, user_id, set_id, subscribers)


async def fan_out(state, gateway, metadata, user_id, set_id, subscribers: int) -> None:  # type: ignore[no-untyped-def]
    """Open `subscribers` subscriptions, publish one event, time until every stream has it."""
    received: list[float] = []
    ready = 0
    all_ready = asyncio.Event()

    async def subscriber() -> None:
        nonlocal ready
        call = gateway.SubscribeRecommendations(
            gateway_pb2.SubscribeRecommendationsRequest(), metadata=metadata, timeout=120
        )
        first = True
        async for _event in call:
            if first:  # the current set, sent on subscribing
                first = False
                ready += 1
                if ready == subscribers:
                    all_ready.set()
                continue
            received.append(time.perf_counter())
            call.cancel()
            return

    tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
    await asyncio.wait_for(all_ready.wait(), 120)
    bus = Bus(
        FullCircleSettings(database_url=state.database_url, redis_url=state.redis_url), "model"
    )
    await bus.start()
    sent = time.perf_counter()
    await bus.publish(
        RecommendationsUpdated(user_id=user_id, set_id=set_id, model_version="bench", items=20)
    )
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    await bus.stop()
    delays = sorted(at - sent for at in received)
    print(
        f"fan-out: {len(received)}/{subscribers} subscribers got the new set; "
        f"last after {1000 * delays[-1]:.0f} ms, median {1000 * statistics.median(delays):.0f} ms"
        " (target: all within 1,000 ms)"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench grpc_load")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--subscribers", type=int, default=1000)
    args = parser.parse_args(argv)
    with scratch_database() as database_url, tempfile.TemporaryDirectory() as folder:
        env = stack_env(database_url, BENCH_REDIS_DB, KEY_RATE_LIMIT="1000000")
        stack = LocalStack(Path(folder), env)
        state = stack.up(report=lambda line: None)
        try:
            asyncio.run(load(state, args.seconds, args.subscribers))
        finally:
            stack.down(report=lambda line: None)
    return 0
