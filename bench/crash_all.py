"""Crash every service in turn during an import: each of ingest, enrich, features, model and
gateway is SIGKILLed at a random (seeded) moment and started again; the final state must equal
a clean run's of the same history, with no duplicate plays, nothing pending in any consumer group
and no dead letters.

python -m bench crash_all [--plays 140000] [--seed 8] [--window 20]

Runs its own local stack (embedded PostgreSQL and Redis, or TEST_DATABASE_URL / TEST_REDIS_URL
like the other benches) on the generated demo history (fullcircle/demo); tests/e2e runs the same
drill on the real sanabil history. Prints when each service was killed, how long the crashed and
the clean run took to settle, and both end states.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import psycopg

from bench.pipeline import BusState, PipelineState, bus_state, pipeline_state, wait_settled
from bench.servers import scratch_database, stack_env
from fullcircle.client import FullCircleClient
from services.gateway.adapters.accounts import create_user
from tools.stack.local import SERVICES, LocalStack, StackState

BENCH_REDIS_DB = 11
# Every service is killed at a moment drawn from the first `window_s` seconds after the upload
# (a clean run of the 140,000-play history settles after 13-18 s on this machine, so 20 s spreads
# the kills over enriching, recomputing and retraining), except ingest: its moment is drawn from
# the first INGEST_WINDOW_S, while the import itself runs (about 1.1 s from upload to the last
# plays.ingested for 140,000 plays since ingest stores while it parses), so it dies mid-import.
KILL_WINDOW_S = 20.0
INGEST_WINDOW_S = 1.0


@dataclass(frozen=True)
class CrashDrill:
    kills: list[tuple[str, float]]  # (service, seconds after the upload started)
    crashed: PipelineState
    crashed_s: float
    clean: PipelineState
    clean_s: float
    bus: BusState
    new_dead_letters: int


async def _listener(state: StackState, name: str) -> tuple[UUID, str]:
    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        user_id, key = await create_user(conn, name)
        return user_id, key.token


async def _upload(state: StackState, key: str, export: Path) -> None:
    async with FullCircleClient(state.gateway_address, key) as client:
        await client.import_history(export)


async def crash_drill(
    stack: LocalStack,
    export: Path,
    seed: int,
    report: Callable[[str], None] = print,
    timeout_s: float = 600.0,
    window_s: float = KILL_WINDOW_S,
) -> CrashDrill:
    """Import `export` while killing each service once at seeded random moments, let it
    settle; then import it again for a second listener without faults and let that settle."""
    rng = random.Random(seed)
    state = stack.running()
    assert state is not None, "the stack is not running"
    dead_before = sum((await bus_state(state.redis_url)).dead_letters.values())
    user_id, key = await _listener(state, f"crash-{uuid.uuid4().hex[:6]}")
    started = time.monotonic()
    await _upload(state, key, export)
    moments = {
        service: rng.uniform(0.0, INGEST_WINDOW_S)
        if service == "ingest"
        else rng.uniform(0.5, window_s)
        for service in SERVICES
    }
    pids, database_url = dict(state.pids), state.database_url
    kills: list[tuple[str, float]] = []
    one_restart_at_a_time = asyncio.Lock()  # restart() rewrites stack.json

    async def crash(service: str) -> None:
        await asyncio.sleep(moments[service])
        os.kill(pids[service], signal.SIGKILL)
        at = time.monotonic() - started
        kills.append((service, at))
        stored = (await pipeline_state(database_url, user_id)).plays
        async with one_restart_at_a_time:
            await asyncio.to_thread(stack.restart, service)  # start again, wait until healthy
        report(
            f"killed {service:<8} at {at:4.1f}s ({stored:,} plays stored then), "
            f"healthy again at {time.monotonic() - started:.1f}s"
        )

    await asyncio.gather(*(crash(service) for service in SERVICES))
    state = stack.running()
    assert state is not None, "a service did not come back"
    crashed = await wait_settled(state.database_url, state.redis_url, user_id, timeout_s=timeout_s)
    crashed_s = time.monotonic() - started
    report(f"crashed run settled after {crashed_s:.1f}s")
    clean_id, clean_key = await _listener(state, f"clean-{uuid.uuid4().hex[:6]}")
    started = time.monotonic()
    await _upload(state, clean_key, export)
    clean = await wait_settled(state.database_url, state.redis_url, clean_id, timeout_s=timeout_s)
    clean_s = time.monotonic() - started
    report(f"clean run settled after {clean_s:.1f}s")
    bus = await bus_state(state.redis_url)
    new_dead = sum(bus.dead_letters.values()) - dead_before
    return CrashDrill(kills, crashed, crashed_s, clean, clean_s, bus, new_dead)


def _demo_export(plays: int, folder: Path) -> Path:
    from tools.demo.catalog import write_demo_catalog
    from tools.demo.history import generate_demo_history, write_export_zip

    catalog = write_demo_catalog(folder / "demo_catalog.json")
    rows = generate_demo_history(catalog, n_plays=plays)
    path = folder / "my_spotify_data.zip"
    write_export_zip(rows, path)
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crash_all")
    parser.add_argument("--plays", type=int, default=140_000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--window", type=float, default=KILL_WINDOW_S, help="kills within (s)")
    args = parser.parse_args(argv)
    with scratch_database() as database_url, tempfile.TemporaryDirectory() as folder:
        env = stack_env(database_url, BENCH_REDIS_DB, BUS_CLAIM_IDLE_MS="2000")
        started = time.monotonic()
        export = _demo_export(args.plays, Path(folder))
        print(f"generated a {args.plays:,}-play demo history in {time.monotonic() - started:.1f}s")
        env["FULLCIRCLE_LASTFM_CATALOG"] = str(Path(folder) / "demo_catalog.json")
        stack = LocalStack(Path(folder) / "stack", env)
        stack.up(report=lambda line: None)
        try:
            drill = asyncio.run(crash_drill(stack, export, args.seed, window_s=args.window))
        finally:
            stack.down(report=lambda line: None)
    same = drill.crashed.comparable == drill.clean.comparable
    print(f"{'':<22} {'crashed':>12} {'clean':>12}")
    for name in ("plays", "distinct_plays", "artists", "untagged_artists", "profile_listens"):
        print(f"{name:<22} {getattr(drill.crashed, name):>12,} {getattr(drill.clean, name):>12,}")
    print(
        f"{'set size':<22} {len(drill.crashed.set_artists):>12} {len(drill.clean.set_artists):>12}"
    )
    print(f"{'settled after (s)':<22} {drill.crashed_s:>12.1f} {drill.clean_s:>12.1f}")
    print(
        f"pending after: {sum(drill.bus.pending.values())}; new dead letters: "
        f"{drill.new_dead_letters}; ratio crashed/clean time: "
        f"{drill.crashed_s / drill.clean_s:.2f}"
    )
    ok = same and drill.bus.idle and drill.new_dead_letters == 0
    print("verdict:", "the crashed run ends as the clean one" if ok else "MISMATCH")
    return 0 if ok else 1
