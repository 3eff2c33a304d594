"""Import speed end to end: a generated 140,000-play extended export uploaded over gRPC to the
running system (gateway -> claim check -> imports.requested -> ingest), timed from the first
upload byte to the last `plays.ingested` event of that import on the bus, next to a plain COPY
of the same rows into a table like ingest.plays measured in the same run (the ceiling).

python -m bench ingest_e2e [--plays 140000] [--repeat 3]

Each round imports the export for a new listener (a first import, as a listener's is) and
waits for the pipeline to settle before the next round; the COPY ceiling is measured as
many times after the stack is down; medians are reported.

Peak memory of the ingest process is its VmHWM (high-water RSS) read from /proc after the import.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis.asyncio as aioredis

from bench.ingest_import import copy_ceiling, write_export_zip
from bench.pipeline import wait_settled
from bench.servers import scratch_database, stack_env
from fullcircle.bus import decode_entry
from fullcircle.client import FullCircleClient
from fullcircle.events import PLAYS_INGESTED, PlaysIngested
from services.gateway.adapters.accounts import create_user
from services.ingest.domain.exports import read_export
from tools.stack.local import LocalStack, StackState

BENCH_REDIS_DB = 11


async def import_over_grpc(state: StackState, path: Path) -> dict[str, float]:
    """One timed import for a new listener; then, untimed, until the rest of the pipeline
    (enrich, features, model) has settled, so the next round has the machine to itself."""
    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        user_id, key = await create_user(conn, f"bench-{uuid.uuid4().hex[:6]}")
    bus = aioredis.Redis.from_url(state.redis_url)
    last_id = (
        (await bus.xinfo_stream(PLAYS_INGESTED))["last-generated-id"]
        if await bus.exists(PLAYS_INGESTED)
        else "0-0"
    )
    client = FullCircleClient(state.gateway_address, key.token)
    started = time.perf_counter()
    import_id = await client.import_history(path)
    uploaded = time.perf_counter()
    new_plays, events, finished = 0, 0, 0.0
    deadline = time.monotonic() + 600
    while not finished:
        reply = await bus.xread({PLAYS_INGESTED: last_id}, block=1_000, count=100)
        if not reply:
            if time.monotonic() > deadline:
                raise RuntimeError(f"import {import_id}: no last plays.ingested within 600 s")
            continue
        for entry_id, fields in reply[0][1]:
            last_id = entry_id
            event = decode_entry(fields, PlaysIngested)
            if str(event.import_id) != import_id:
                continue
            events += 1
            new_plays += event.new_plays
            if event.batch == event.batches:
                finished = time.perf_counter()
    await client.close()
    await bus.aclose()
    await wait_settled(state.database_url, state.redis_url, user_id, timeout_s=600)
    return {
        "upload_s": uploaded - started,
        "total_s": finished - started,
        "new": new_plays,
        "events": events,
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest_e2e")
    parser.add_argument("--plays", type=int, default=140_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)
    with tempfile.TemporaryDirectory() as folder, scratch_database() as database_url:
        path = Path(folder) / "my_spotify_data.zip"
        print(f"generating a {args.plays:,}-play extended export (in a child process) ...")
        child = multiprocessing.get_context("spawn").Process(
            target=write_export_zip, args=(str(path), args.plays)
        )
        child.start()
        child.join()
        env = stack_env(database_url, BENCH_REDIS_DB)
        stack = LocalStack(Path(folder) / "stack", env)
        state = stack.up(report=lambda line: None)
        try:
            rounds = [asyncio.run(import_over_grpc(state, path)) for _ in range(repeat)]
            ingest_peak = peak_rss_mb(state.pids["ingest"])
        finally:
            stack.down(report=lambda line: None)
        plays = read_export(path.name, path.read_bytes()).plays
        copies = [
            copy_ceiling(database_url, plays, f"bench_copy_ceiling_{n}") for n in range(repeat)
        ]
        figures = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        copy_s = statistics.median(copies)
        zipped_mb = path.stat().st_size / 2**20
    stored = figures["new"]
    print(f"export: {zipped_mb:.1f} MiB zipped, {stored:,.0f} new plays stored")
    print(f"upload over gRPC                       {figures['upload_s']:6.2f} s")
    print(
        f"upload -> last plays.ingested event    {figures['total_s']:6.2f} s   "
        f"{stored / figures['total_s']:,.0f} plays/s ({figures['events']:.0f} events)"
    )
    print(
        f"plain COPY of the same rows            {copy_s:6.2f} s   {stored / copy_s:,.0f} plays/s"
    )
    print(f"ratio end to end / COPY: {figures['total_s'] / copy_s:.2f}x (target within 3x)")
    print(
        "rounds (end to end s / COPY s): "
        + ", ".join(f"{r['total_s']:.2f}" for r in rounds)
        + " / "
        + ", ".join(f"{c:.2f}" for c in copies)
    )
    print(f"peak memory of the ingest process: {ingest_peak:,.0f} MB (target under 400 MB)")
    return 0
