"""The whole system at Last.fm's real rate: an export uploaded to the running stack whose
enrich talks to the local catalog server at 5 calls a second (the server itself answering
error 29 above that, as Last.fm does), timed from the upload to the first recommendation set
and to the set after enrichment has finished, next to the floor of (Last.fm calls) / rate.

    python -m bench real_rate --history sanabil          # 906 artists, HetRec catalog
    python -m bench real_rate --history wide --artists 3000   # a generated 3,000-artist history

Prints what must stay zero at that rate: duplicate Last.fm fetches (the same method and names
answered twice), redeliveries of live work (a pending message delivered a second time while
its handler still ran: no handler fails in this run, so every redelivery is one), dead
letters, and error-29 answers (the shared rate limit kept under the server's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from redis.asyncio import Redis

from bench.pipeline import bus_state, wait_settled
from bench.servers import scratch_database, stack_env
from fullcircle.bus import decode_entry
from fullcircle.client import FullCircleClient
from fullcircle.events import CONSUMER_GROUPS, RECOMMENDATIONS_UPDATED, RecommendationsUpdated
from services.gateway.adapters.accounts import create_user
from tools.demo.catalog import write_demo_catalog
from tools.demo.history import generate_demo_history, write_export_zip
from tools.stack.local import LocalStack, StackState

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
HETREC = SHARED_DATA / "hetrec2011-lastfm-2k"
SANABIL_EXPORT = SHARED_DATA / "spotify-history-sanabil" / "my_spotify_data.zip"
BENCH_REDIS_DB = 12


def wide_history(catalog: dict[str, Any], n_artists: int, seed: int = 5) -> list[dict[str, Any]]:
    """The demo listener's history plus a long tail: every one of the first `n_artists`
    catalog artists played at least once (Zipf-like counts), spread over the same years, so
    the export names `n_artists` distinct artists as a many-genre listener's does."""
    rows = generate_demo_history(catalog, n_plays=40_000)
    rng = random.Random(seed)
    first_ts, last_ts = rows[0]["ts"], rows[-1]["ts"]
    start = time.mktime(time.strptime(first_ts, "%Y-%m-%dT%H:%M:%SZ"))
    end = time.mktime(time.strptime(last_ts, "%Y-%m-%dT%H:%M:%SZ"))
    template = rows[0]
    for rank, artist in enumerate(catalog["artists"][:n_artists], start=1):
        tracks = artist["tracks"] or [{"name": f"{artist['name']} track"}]
        for _ in range(max(1, int(400 / rank**0.8))):
            number = rng.randrange(len(tracks))
            track = tracks[number]
            played = rng.uniform(start, end)
            rows.append(
                {
                    **template,
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(played)),
                    "ms_played": rng.choice((45_000, 120_000, 200_000, 8_000)),
                    "master_metadata_track_name": track["name"],
                    "master_metadata_album_artist_name": artist["name"],
                    "spotify_track_uri": f"spotify:track:wide{rank:05d}x{number:03d}",
                }
            )
    rows.sort(key=lambda row: row["ts"])
    return rows


@dataclass
class Watch:
    """What the run saw on the bus while it ran."""

    first_set_s: float | None = None
    last_set_s: float | None = None
    sets: int = 0  # sets with at least one recommendation
    redelivered: set[tuple[str, str, str]] = field(default_factory=set)
    max_deliveries: int = 1


async def _watch(state: StackState, user_id: uuid.UUID, started: float, watch: Watch) -> None:
    redis = Redis.from_url(state.redis_url)
    last_id = "$"
    try:
        while True:
            reply = await redis.xread({RECOMMENDATIONS_UPDATED: last_id}, block=1_000, count=50)
            for entry_id, fields in reply[0][1] if reply else ():
                last_id = entry_id
                event = decode_entry(fields, RecommendationsUpdated)
                if event.user_id != user_id or event.items == 0:
                    continue
                now = time.perf_counter() - started
                watch.first_set_s = watch.first_set_s or now
                watch.last_set_s = now
                watch.sets += 1
            for stream, groups in CONSUMER_GROUPS.items():
                for group in groups:
                    if not await redis.exists(stream):
                        continue
                    pending = await redis.xpending_range(stream, group, "-", "+", 1000)
                    for entry in pending:
                        times = int(entry["times_delivered"])
                        watch.max_deliveries = max(watch.max_deliveries, times)
                        if times >= 2:
                            watch.redelivered.add((stream, group, str(entry["message_id"])))
    finally:
        await redis.aclose()


def _lastfm(state: StackState, path: str, payload: dict[str, Any] | None = None) -> Any:
    url = state.lastfm_api_root.replace("/2.0/", path)
    data = json.dumps(payload).encode() if payload is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as reply:
        return json.loads(reply.read())


async def run(state: StackState, export: Path, rate: float, timeout_s: float) -> int:
    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        user_id, key = await create_user(conn, f"rate-{uuid.uuid4().hex[:6]}")
    _lastfm(state, "/_reset", {})
    _lastfm(state, "/_faults", {"max_rate": rate})
    client = FullCircleClient(state.gateway_address, key.token)
    watch = Watch()
    started = time.perf_counter()
    watcher = asyncio.create_task(_watch(state, user_id, started, watch))
    try:
        await client.import_history(export)
        settled = await wait_settled(
            state.database_url, state.redis_url, user_id, timeout_s=timeout_s, quiet_s=20.0
        )
        settled_s = time.perf_counter() - started
    finally:
        watcher.cancel()
        await client.close()
    stats = _lastfm(state, "/_stats")
    bus = await bus_state(state.redis_url)
    calls = int(stats["total_calls"])
    answered = calls - sum(stats["faults_served"].values())
    floor = answered / rate
    print(f"artists:                     {settled.artists} ({settled.untagged_artists} untagged)")
    print(f"Last.fm calls:               {calls} ({stats['calls_per_method']})")
    print(f"error 29 answers:            {stats['faults_served'].get('29', 0)}")
    print(f"duplicate Last.fm fetches:   {stats['repeated_calls']} (target 0)")
    for example in stats["repeated_examples"][:5]:
        print(f"    e.g. {example}")
    print(
        f"redeliveries of live work:   {len(watch.redelivered)} (target 0;"
        f" most deliveries of one message {watch.max_deliveries})"
    )
    print(f"dead letters:                {sum(bus.dead_letters.values())} (target 0)")
    print(f"recommendation sets:         {watch.sets} (not counting empty ones)")
    first = watch.first_set_s
    print(
        f"first set after upload:      {first:.1f} s (target < 60 s)"
        if first is not None
        else "first set after upload:      none"
    )
    last = watch.last_set_s or settled_s
    print(
        f"final set after upload:      {last:.1f} s vs floor {floor:.1f} s"
        f" (answered calls / {rate:g}/s; ratio {last / floor if floor else 0:.2f})"
    )
    print(f"pipeline settled after:      {settled_s:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench real_rate", description=__doc__)
    parser.add_argument("--history", choices=("sanabil", "wide"), default="sanabil")
    parser.add_argument("--artists", type=int, default=3000, help="wide: distinct artists")
    parser.add_argument("--rate", type=float, default=5.0, help="Last.fm calls per second")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, scratch_database() as database_url:
        data = Path(folder)
        if args.history == "sanabil":
            export, catalog = SANABIL_EXPORT, f"hetrec:{HETREC}"
        else:
            catalog_path = data / "catalog.json"
            document = write_demo_catalog(catalog_path, n_artists=max(3000, args.artists + 500))
            export = data / "wide.zip"
            write_export_zip(wide_history(document, args.artists), export)
            catalog = str(catalog_path)
        env = stack_env(
            database_url,
            BENCH_REDIS_DB,
            LASTFM_RATE_LIMIT=str(args.rate),
            FULLCIRCLE_LASTFM_CATALOG=catalog,
        )
        stack = LocalStack(data / "stack", env)
        state = stack.up(report=lambda line: None)
        try:
            return asyncio.run(run(state, export, args.rate, args.timeout))
        finally:
            stack.down(report=lambda line: None)


if __name__ == "__main__":
    raise SystemExit(main())
