"""Serving while a model trains: GetRecommendations p50/p99 against the model service's
Recommender (a real `python -m services.model` process, next to the features service it
reads) at rest and while it retrains a
generated 3,000-artist listener (rounds of rest then a retrain), and the ratio of the two p99s
(target: within 2x). Training
runs in the service's training processes, so its CPU work does not hold the serving process's
GIL; the SQL of a retrain still runs on the serving event loop and is in the figure.

python -m bench model_serve_training [--artists 3000] [--clients 4] [--rest-seconds 5]
    [--trainings 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from bench.model_train import generated_listener
from bench.servers import scratch_database, stack_env
from fullcircle.bus import Bus
from fullcircle.db import apply_migrations, open_pool
from fullcircle.events import RECOMMENDATIONS_UPDATED, ProfilesUpdated
from fullcircle.settings import FullCircleSettings
from fullcircle.v1 import model_pb2, model_pb2_grpc
from services.features.adapters import store as features_store
from services.features.domain.taste import PlayColumns, artist_stats, tag_profile

BENCH_REDIS_DB = 9
RATIO_TARGET = 2.0
SERVICES_WITH_TABLES = ("ingest", "enrich", "features", "model")
ROOT = Path(__file__).resolve().parents[1]


async def seed_listener(database_url: str, user_id: uuid.UUID, n_artists: int) -> int:
    """The model bench's generated listener as plays, Last.fm knowledge and a features
    profile in the tables the model reads; returns the profile version."""
    scoring, histories, first_listens, pool_names = generated_listener(n_artists, 1_500, 500)
    plays: list[tuple[uuid.UUID, str, datetime, int, str, str, bool, str]] = []
    for history in histories:
        first = first_listens[history.artist]
        for k in range(history.plays):
            skipped = k < history.skips
            plays.append(
                (
                    user_id,
                    f"{history.artist}-{k}",
                    first + timedelta(hours=7 * k),
                    12_000 if skipped else 200_000,
                    f"Song {k}",
                    history.artist,
                    skipped,
                    "extended",
                )
            )
    pool = await open_pool(database_url)
    try:
        async with pool.connection() as conn, conn.transaction():
            cur = conn.cursor()
            async with cur.copy(
                "COPY ingest.plays (user_id, play_key, ended_at, ms_played, track_name,"
                " artist_name, skipped, source) FROM STDIN"
            ) as copy:
                for row in plays:
                    await copy.write_row(row)
            async with cur.copy(
                "COPY enrich.artists (artist_key, name, status, listeners) FROM STDIN"
            ) as copy:
                for name, listeners in scoring.listeners.items():
                    await copy.write_row((name.lower(), name, "ok", int(listeners)))
            async with cur.copy(
                "COPY enrich.artist_tags (artist_key, tag, weight) FROM STDIN"
            ) as copy:
                for name, tags in scoring.artist_tags.items():
                    for tag, weight in tags.items():
                        await copy.write_row((name.lower(), tag, round(weight)))
            async with cur.copy(
                "COPY enrich.similar_artists (artist_key, similar_key, similar_name, match)"
                " FROM STDIN"
            ) as copy:
                for name, similar in scoring.similar_artists.items():
                    for other, match in similar:
                        await copy.write_row((name.lower(), other.lower(), other, match))
        columns = PlayColumns(
            artist=[row[5] for row in plays],
            ended_at_s=np.array([row[2].timestamp() for row in plays]),
            ms_played=np.array([row[3] for row in plays], dtype=np.int64),
            skipped=np.array([row[6] for row in plays]),
        )
        as_of = max(row[2] for row in plays)
        stats = artist_stats(columns, as_of.timestamp())
        version = await features_store.save_profile(
            pool,
            user_id,
            computed_at=as_of,
            as_of=as_of,
            half_life_days=90.0,
            stats=stats,
            tags=tag_profile({s.artist: s.endorsement for s in stats}, scoring.artist_tags),
        )
    finally:
        await pool.close()
    print(
        f"listener: {len(histories):,} artists, {len(plays):,} plays, "
        f"{len(pool_names):,} artists never played"
    )
    return version


async def next_profile_version(database_url: str, user_id: uuid.UUID) -> int:
    """Features recomputing the listener: the next profile version (new plays)."""
    pool = await open_pool(database_url, max_size=1)
    try:
        async with pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE features.profiles SET version = version + 1, computed_at = %s"
                " WHERE user_id = %s RETURNING version",
                (datetime.now(UTC), user_id),
            )
            row = await cur.fetchone()
    finally:
        await pool.close()
    assert row is not None
    return int(row[0])


async def sets_announced(redis: Redis, user_id: uuid.UUID) -> int:
    entries = await redis.xrange(RECOMMENDATIONS_UPDATED)
    return sum(1 for _, fields in entries if str(user_id).encode() in fields[b"__data__"])


async def serve_until(
    stub: model_pb2_grpc.RecommenderStub,
    request: model_pb2.ModelRecommendationsRequest,
    clients: int,
    done: asyncio.Event,
) -> list[float]:
    """GetRecommendations from `clients` concurrent clients until `done`; the latencies, s."""
    latencies: list[float] = []

    async def client() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await stub.GetRecommendations(request, timeout=10)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


async def until_announced(
    redis: Redis, user_id: uuid.UUID, count: int, done: asyncio.Event
) -> None:
    deadline = time.monotonic() + 300
    while await sets_announced(redis, user_id) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no set #{count} within 300 s: see the model service's log")
        await asyncio.sleep(0.05)
    done.set()


async def after(seconds: float, done: asyncio.Event) -> None:
    await asyncio.sleep(seconds)
    done.set()


def figures(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return (
        1000 * statistics.median(ordered),
        1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    )


async def run(
    database_url: str, redis_url: str, address: str, args: argparse.Namespace
) -> tuple[list[float], list[float], list[float]]:
    user_id = uuid.uuid4()
    version = await seed_listener(database_url, user_id, args.artists)
    bus = Bus(FullCircleSettings(database_url=database_url, redis_url=redis_url), "features")
    await bus.start()
    redis = Redis.from_url(redis_url)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            await wait_serving(channel)
            stub = model_pb2_grpc.RecommenderStub(channel)
            request = model_pb2.ModelRecommendationsRequest(user_id=str(user_id), limit=20)
            during: list[float] = []

            async def retrain(version: int, announced: int, serve: bool) -> float:
                """A profile change with new plays; serve until its set is announced."""
                started = time.perf_counter()
                await bus.publish(
                    ProfilesUpdated(
                        user_id=user_id,
                        profile_version=version,
                        listens=1,
                        artists=args.artists,
                        changed=["plays"],
                    )
                )
                done = asyncio.Event()
                watcher = asyncio.create_task(until_announced(redis, user_id, announced, done))
                if serve:
                    during.extend(await serve_until(stub, request, args.clients, done))
                await watcher
                return time.perf_counter() - started

            # the first set to serve (and the training process spawned)
            first = await retrain(version, 1, serve=False)
            print(f"first set: {first:.1f} s after the profile change")
            # rest and training alternate, so a change in the machine's other load falls on both
            rest: list[float] = []
            trainings = []
            for n in range(args.trainings):
                done = asyncio.Event()
                rest_task = asyncio.create_task(after(args.rest_seconds, done))
                rest.extend(await serve_until(stub, request, args.clients, done))
                await rest_task
                version = await next_profile_version(database_url, user_id)
                trainings.append(await retrain(version, n + 2, serve=True))
            return rest, during, trainings
    finally:
        await redis.aclose()
        await bus.stop()


async def wait_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the model service did not serve within 60 s")
        await asyncio.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench model_serve_training")
    parser.add_argument("--artists", type=int, default=3_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rest-seconds", type=float, default=5.0, help="at rest, per round")
    parser.add_argument("--trainings", type=int, default=3, help="rounds")
    args = parser.parse_args(argv)
    if min(args.artists, args.clients, args.trainings) < 1 or args.rest_seconds <= 0:
        parser.error("--artists, --clients, --trainings and --rest-seconds must be positive")
    if not os.environ.get("TEST_REDIS_URL"):
        parser.error("set TEST_REDIS_URL to a Redis server (db 9 is flushed)")
    with scratch_database() as database_url:
        for service in SERVICES_WITH_TABLES:
            asyncio.run(
                apply_migrations(database_url, service, ROOT / "services" / service / "migrations")
            )
        port = free_port()
        env = stack_env(
            database_url,
            BENCH_REDIS_DB,
            GRPC_PORT=str(port),
            RETRAIN_DEBOUNCE_SECONDS="0",
            # features answers the model's training views where it serves them (Tastes)
            FEATURES_ADDRESS=f"127.0.0.1:{free_port()}",
        )
        features_env = {**env, "GRPC_PORT": env["FEATURES_ADDRESS"].rsplit(":", 1)[1]}
        services = [
            subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                env=service_env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, service_env in (("features", features_env), ("model", env))
        ]
        try:
            rest, during, trainings = asyncio.run(
                run(database_url, env["REDIS_URL"], f"127.0.0.1:{port}", args)
            )
        finally:
            for service in services:
                service.terminate()
                service.wait(30)
    rest_p50, rest_p99 = figures(rest)
    train_p50, train_p99 = figures(during)
    print(
        f"retrains: {len(trainings)}, {statistics.median(trainings):.1f} s each (median, "
        f"profile change to announced set); {args.clients} concurrent clients"
    )
    rest_rps = len(rest) / (args.rest_seconds * args.trainings)
    train_rps = len(during) / sum(trainings)
    print(f"{'GetRecommendations':<28} {'calls':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'at rest':<28} {len(rest):>7} {rest_rps:>7.0f} {rest_p50:>8.2f} {rest_p99:>8.2f}")
    print(
        f"{'while a model trains':<28} {len(during):>7} {train_rps:>7.0f} {train_p50:>8.2f}"
        f" {train_p99:>8.2f}"
    )
    ratio = train_p99 / rest_p99
    print(
        f"p99 while training / at rest: {ratio:.2f}x (target within {RATIO_TARGET:g}x, "
        f"ratio to target {ratio / RATIO_TARGET:.2f}); p50 {train_p50 / rest_p50:.2f}x"
    )
    return 0
