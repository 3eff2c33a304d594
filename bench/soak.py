"""Soak: continuous live plays with concurrent gRPC readers; does anything grow without bound?

python -m bench soak [--minutes 5] [--listeners 12] [--sync-s 86.4] [--readers 4]

The rate: a heavy listener plays about 100 tracks a day; each synthetic listener here plays at
10x that (1,000 plays a day), and its plays arrive in live-sync batches every `--sync-s`
seconds (default 86.4 s: one play a batch; production syncs 3 times a day, so batches here come
~330x as often, which is the load: every batch is an import, a recompute and a retrain). With
12 listeners that is 12,000 plays a day, ~8 batches a minute, through the real ingest path: the
gateway's
ImportHistory (the batch as a Spotify JSON file), ingest, enrich, features, model. Meanwhile
`--readers` clients call GetRecommendations and GetTasteProfile for random listeners without
pause. Every ~10 s it samples each service's RSS, XPENDING per consumer group and XLEN per
stream, and prints the series; then a verdict: the slope of memory and of pending over the
second half of the run (after warm-up), and the longest stream against the configured maxlen
(BUS_STREAM_MAXLEN is set to its lowest, 100, so the cap is reached and seen to hold).

Runs its own stack (embedded PostgreSQL and Redis, or TEST_DATABASE_URL / TEST_REDIS_URL) with
the demo catalog as Last.fm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import psutil
from redis.asyncio import Redis

from bench.crash_all import _listener
from bench.pipeline import bus_state
from bench.servers import scratch_database, stack_env
from fullcircle.client import FullCircleClient
from fullcircle.events import CONSUMER_GROUPS
from tools.stack.local import SERVICES, LocalStack, StackState

BENCH_REDIS_DB = 10
HEAVY_LISTENER_PLAYS_PER_DAY = 100
RATE_FACTOR = 10
SAMPLE_S = 10.0
STREAM_MAXLEN = 100  # the lowest the settings allow, so a 5-minute run reaches it
# XADD MAXLEN ~ trims whole radix-tree nodes (stream-node-max-entries, 100 by default), so a
# capped stream may hold up to one node more than its cap
TRIM_SLACK = 100
STREAMS = [*CONSUMER_GROUPS, *(f"{stream}.dlq" for stream in CONSUMER_GROUPS)]


@dataclass
class Series:
    at_s: list[float] = field(default_factory=list)
    rss_mb: dict[str, list[float]] = field(default_factory=dict)
    pending: list[int] = field(default_factory=list)
    xlen: dict[str, list[int]] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)


@dataclass
class Counters:
    batches: int = 0
    plays: int = 0
    reads: int = 0
    read_errors: dict[str, int] = field(default_factory=dict)


def _slope_per_min(at_s: list[float], values: list[float]) -> float:
    """Least-squares slope over the second half of the samples (after warm-up), per minute."""
    half = len(at_s) // 2
    xs, ys = at_s[half:], values[half:]
    if len(xs) < 2:
        return 0.0
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    return 60.0 * cov / var if var else 0.0


def _batch_file(template: list[dict[str, Any]], plays: int, rng: random.Random) -> bytes:
    """`plays` rows of the demo history, re-dated to the last minutes: a live-sync batch."""
    now = datetime.now(UTC)
    rows = []
    for offset in range(plays):
        row = dict(rng.choice(template))
        ended = now - timedelta(seconds=offset * 180 + rng.randint(0, 59))
        row["ts"] = ended.strftime("%Y-%m-%dT%H:%M:%SZ")
        row["offline_timestamp"] = int(ended.timestamp()) - row["ms_played"] // 1000
        rows.append(row)
    return json.dumps(rows).encode()


async def _listen(
    state: StackState,
    key: str,
    template: list[dict[str, Any]],
    sync_s: float,
    until: float,
    counters: Counters,
    rng: random.Random,
) -> None:
    """One listener: a sync batch every `sync_s` seconds at 10x a heavy listener's rate."""
    per_batch = max(1, round(HEAVY_LISTENER_PLAYS_PER_DAY * RATE_FACTOR * sync_s / 86_400))
    # spread the listeners over the period
    await asyncio.sleep(min(rng.uniform(0, sync_s), max(0.0, until - time.monotonic())))
    async with FullCircleClient(state.gateway_address, key) as client:
        while time.monotonic() < until:
            with tempfile.NamedTemporaryFile(
                prefix="Streaming_History_Audio_", suffix=".json"
            ) as batch:
                batch.write(_batch_file(template, per_batch, rng))
                batch.flush()
                await client.import_history(Path(batch.name), deadline_s=60)
            counters.batches += 1
            counters.plays += per_batch
            await asyncio.sleep(max(0.0, min(sync_s, until - time.monotonic())))


async def _read(
    state: StackState, keys: list[str], until: float, counters: Counters, rng: random.Random
) -> None:
    clients = [FullCircleClient(state.gateway_address, key) for key in keys]
    try:
        while time.monotonic() < until:
            client = rng.choice(clients)
            try:
                if rng.random() < 0.5:
                    await client.recommendations(20)
                else:
                    await client.taste_profile()
                counters.reads += 1
            except grpc.aio.AioRpcError as exc:  # NOT_FOUND before a listener's first set
                name = exc.code().name
                counters.read_errors[name] = counters.read_errors.get(name, 0) + 1
                await asyncio.sleep(0.05)
    finally:
        for client in clients:
            await client.close()


async def _sample(state: StackState, series: Series, counters: Counters, started: float) -> None:
    series.at_s.append(time.monotonic() - started)
    for service in SERVICES:
        rss = psutil.Process(state.pids[service]).memory_info().rss / 2**20
        series.rss_mb.setdefault(service, []).append(rss)
    series.pending.append(sum((await bus_state(state.redis_url)).pending.values()))
    client = Redis.from_url(state.redis_url)
    try:
        for stream in STREAMS:
            series.xlen.setdefault(stream, []).append(int(await client.xlen(stream)))
    finally:
        await client.aclose()
    series.batches.append(counters.batches)
    series.reads.append(counters.reads)


async def soak(
    state: StackState, template: list[dict[str, Any]], args: argparse.Namespace
) -> tuple[Series, Counters]:
    keys = [(await _listener(state, f"soak-{n}"))[1] for n in range(args.listeners)]
    counters = Counters()
    series = Series()
    started = time.monotonic()
    until = started + 60 * args.minutes
    work = [
        asyncio.create_task(
            _listen(state, key, template, args.sync_s, until, counters, random.Random(n))
        )
        for n, key in enumerate(keys)
    ]
    work += [
        asyncio.create_task(_read(state, keys, until, counters, random.Random(100 + n)))
        for n in range(args.readers)
    ]
    print(
        f"{'t (s)':>6} {'batches':>7} {'reads':>7} {'pending':>7} "
        + " ".join(f"{s[:8] + ' MB':>11}" for s in SERVICES)
        + f" {'max xlen':>8}"
    )
    while time.monotonic() < until:
        await asyncio.sleep(SAMPLE_S)
        await _sample(state, series, counters, started)
        print(
            f"{series.at_s[-1]:>6.0f} {series.batches[-1]:>7} {series.reads[-1]:>7} "
            f"{series.pending[-1]:>7} "
            + " ".join(f"{series.rss_mb[s][-1]:>11.1f}" for s in SERVICES)
            + f" {max(lengths[-1] for lengths in series.xlen.values()):>8}",
            flush=True,
        )
    await asyncio.gather(*work)
    return series, counters


def _verdict(series: Series, counters: Counters, minutes: float) -> bool:
    print(
        f"\n{counters.batches} live-sync batches ({counters.plays} plays, "
        f"{counters.plays / minutes:.1f} plays/min), {counters.reads} reads "
        f"({counters.reads / (60 * minutes):.0f}/s), read errors {counters.read_errors or 'none'}"
    )
    ok = True
    for service in SERVICES:
        rss = series.rss_mb[service]
        slope = _slope_per_min(series.at_s, rss)
        # growth that would add more than 10% of the process's size per hour counts as growing
        growing = slope * 60 > 0.10 * max(rss)
        ok &= not growing
        print(
            f"{service:<9} RSS {rss[0]:7.1f} -> {rss[-1]:7.1f} MB, max {max(rss):7.1f}; "
            f"slope over the second half {slope:+.2f} MB/min "
            f"({'GROWING' if growing else 'flat'})"
        )
    pending_slope = _slope_per_min(series.at_s, [float(p) for p in series.pending])
    pending_growing = pending_slope > 1.0 and series.pending[-1] > max([*series.pending[:2], 10])
    ok &= not pending_growing
    print(
        f"pending: {series.pending[0]} -> {series.pending[-1]}, max {max(series.pending)}; "
        f"slope over the second half {pending_slope:+.2f}/min "
        f"({'GROWING' if pending_growing else 'bounded'})"
    )
    longest = max(series.xlen, key=lambda stream: max(series.xlen[stream]))
    bound = STREAM_MAXLEN + TRIM_SLACK
    capped = max(series.xlen[longest]) <= bound
    ok &= capped
    print(
        f"longest stream {longest}: max XLEN {max(series.xlen[longest])} "
        f"(cap {STREAM_MAXLEN}, ~{bound} with MAXLEN ~ slack; "
        f"{'bounded' if capped else 'OVER THE CAP'}); ratio {max(series.xlen[longest]) / bound:.2f}"
    )
    print("verdict:", "steady" if ok else "NOT STEADY")
    return ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--listeners", type=int, default=12)
    parser.add_argument("--sync-s", type=float, default=86.4)
    parser.add_argument("--readers", type=int, default=4)
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.listeners < 1 or args.sync_s <= 0 or args.readers < 0:
        parser.error("minutes and sync-s are positive, listeners at least 1, readers 0 or more")
    from tools.demo.catalog import write_demo_catalog
    from tools.demo.history import generate_demo_history

    with scratch_database() as database_url, tempfile.TemporaryDirectory() as folder:
        catalog = write_demo_catalog(Path(folder) / "demo_catalog.json")
        template = generate_demo_history(catalog, n_plays=5_000)
        env = stack_env(
            database_url,
            BENCH_REDIS_DB,
            BUS_STREAM_MAXLEN=str(STREAM_MAXLEN),
            FULLCIRCLE_LASTFM_CATALOG=str(Path(folder) / "demo_catalog.json"),
            KEY_RATE_LIMIT="1000000",
        )
        stack = LocalStack(Path(folder) / "stack", env)
        state = stack.up(report=lambda line: None)
        try:
            series, counters = asyncio.run(soak(state, template, args))
        finally:
            stack.down(report=lambda line: None)
    return 0 if _verdict(series, counters, args.minutes) else 1
