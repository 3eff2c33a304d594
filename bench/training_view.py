"""Training view speed: features' Tastes.GetTrainingView over gRPC for a generated 140,000-play,
6-year history stored in ingest.plays (tags for every artist in enrich), at a cutoff 80% of
the way through and at the end: reading the plays, listener_as_of (with the listener's
fitted recency weights, features' default; `--fixed-recency`: the fixed half-life only), the
reply, end to end.

python -m bench training_view [--plays 140000] [--repeat 5] [--fixed-recency]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
import zipfile
from datetime import datetime
from io import BytesIO
from pathlib import Path

import grpc
from psycopg_pool import AsyncConnectionPool

from bench.servers import scratch_database
from fullcircle.db import apply_migrations, open_pool
from fullcircle.grpc_server import GrpcServer
from fullcircle.v1 import features_pb2, features_pb2_grpc
from services.features.adapters.worker import ListenerWorkers
from services.features.domain.listener import ListenRules
from services.features.servicer import TastesServicer
from services.ingest.adapters import store
from services.ingest.domain.announce import import_report
from services.ingest.domain.exports import read_export
from services.ingest.domain.plays import Play
from tools.demo.catalog import generate_demo_catalog
from tools.demo.history import generate_demo_history

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 10.0  # the model's features_deadline_s


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench training_view")
    parser.add_argument("--plays", type=int, default=140_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fixed-recency", action="store_true", help="do not fit recency")
    args = parser.parse_args(argv)
    rules = ListenRules(fit_recency=not args.fixed_recency)
    with scratch_database() as database_url:
        asyncio.run(measure(database_url, args.plays, args.repeat, rules))
    return 0


async def store_demo_listener(
    database_url: str, pool: AsyncConnectionPool, n_plays: int
) -> tuple[uuid.UUID, list[Play]]:
    """Migrate, then store a generated `n_plays` history through ingest's import path, with
    the demo catalog's tags for every artist in enrich; the listener's id and their plays."""
    for service in ("gateway", "ingest", "enrich", "features"):
        await apply_migrations(database_url, service, ROOT / "services" / service / "migrations")
    catalog = generate_demo_catalog()
    rows = generate_demo_history(catalog, n_plays=n_plays)
    payload = BytesIO()
    # deflated, in files of 200,000 rows as Spotify splits them: 1M rows are 646 MiB of JSON
    with zipfile.ZipFile(payload, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, first in enumerate(range(0, len(rows), 200_000)):
            part = json.dumps(rows[first : first + 200_000])
            archive.writestr(f"Streaming_History_Audio_{number}.json", part)
    del rows
    export = read_export("bench.zip", payload.getvalue())
    user_id, import_id = uuid.uuid4(), uuid.uuid4()
    await store.start_import(pool, import_id, user_id, "bench.zip")

    async def on_chunk(_: int) -> None:
        return None

    await store.store_export(
        pool,
        user_id,
        import_id,
        lambda _hand: export,
        chunk_rows=20_000,
        report_of=import_report,
        on_chunk=on_chunk,
    )
    async with pool.connection() as conn, conn.cursor() as cur:
        artists = {a["name"].lower(): a for a in catalog["artists"]}
        await cur.executemany(
            "INSERT INTO enrich.artists (artist_key, name, status) VALUES (%s, %s, 'ok')"
            " ON CONFLICT DO NOTHING",
            [(key, a["name"]) for key, a in artists.items()],
        )
        await cur.executemany(
            "INSERT INTO enrich.artist_tags (artist_key, tag, weight) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            [(key, tag, weight) for key, a in artists.items() for tag, weight in a["tags"]],
        )
    return user_id, export.plays


async def measure(
    database_url: str, n_plays: int, repeat: int, rules: ListenRules | None = None
) -> None:
    pool = await open_pool(database_url)
    user_id, plays = await store_demo_listener(database_url, pool, n_plays)
    server = GrpcServer("127.0.0.1", 0)
    server.add(
        features_pb2_grpc.add_TastesServicer_to_server,
        TastesServicer(pool, rules or ListenRules(), ListenerWorkers(database_url)),
        features_pb2.DESCRIPTOR.services_by_name["Tastes"].full_name,
    )
    await server.start()
    print(
        f"history: {len(plays):,} plays, {len({p.artist_name for p in plays}):,} artists; "
        f"recency {'fitted' if (rules or ListenRules()).fit_recency else 'fixed half-life'}"
    )
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = features_pb2_grpc.TastesStub(channel)
            for label, cutoff in (
                ("80% cutoff", plays[int(len(plays) * 0.8)].ended_at),
                ("end", plays[-1].ended_at),
            ):
                await _time(stub, user_id, cutoff, label, repeat)
    finally:
        await server.stop(0)
        await pool.close()


async def _time(
    stub: features_pb2_grpc.TastesStub, user_id: uuid.UUID, cutoff: datetime, label: str, n: int
) -> None:
    seconds = []
    for _ in range(n):
        started = time.perf_counter()
        view = await stub.GetTrainingView(
            features_pb2.TrainingViewRequest(user_id=str(user_id), cutoff=cutoff.isoformat()),
            timeout=DEADLINE_S,
        )
        seconds.append(time.perf_counter() - started)
    size = view.ByteSize()
    print(
        f"GetTrainingView at {label}: {view.artists:,} artists, {len(view.top_tags)} tags,"
        f" {size / 1024:.0f} KiB; median {statistics.median(seconds):.2f} s,"
        f" max {max(seconds):.2f} s over {n} (deadline {DEADLINE_S:.0f} s)"
    )
