"""Import speed: a generated 140,000-play, 6-year extended export, parsed and stored the way the
ingest service does it (each file COPYed while the next is parsed, announce batches), next
to a plain COPY of the same rows into a table like ingest.plays, keys and indexes included
(the ceiling), in one run.

python -m bench ingest_import [--plays 140000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import statistics
import tempfile
import time
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from bench.servers import scratch_database
from fullcircle.db import apply_migrations, open_pool
from services.ingest.adapters import store
from services.ingest.domain.announce import import_report, plays_ingested_batches
from services.ingest.domain.exports import read_export
from services.ingest.domain.plays import COPY_COLUMNS, COPY_TYPES, Play
from tools.demo.catalog import generate_demo_catalog
from tools.demo.history import generate_demo_history


def write_export_zip(path: str, plays: int) -> None:
    """The demo listener's history as Spotify delivers it (zip of JSON files)."""
    rows = generate_demo_history(generate_demo_catalog(), n_plays=plays)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for start in range(0, len(rows), 16_000):
            name = f"Spotify Extended Streaming History/Streaming_History_Audio_{start}.json"
            archive.writestr(name, json.dumps(rows[start : start + 16_000]))


ROOT = Path(__file__).resolve().parents[1]


async def measure(database_url: str, payload: bytes, repeat: int) -> list[dict[str, float]]:
    """`repeat` rounds of (import as a new listener, then the plain COPY ceiling), interleaved
    so both see the same machine load."""
    for service in ("gateway", "ingest"):
        await apply_migrations(database_url, service, ROOT / "services" / service / "migrations")
    pool = await open_pool(database_url)
    rounds = []
    try:
        for round_no in range(repeat):
            rounds.append(await _one_round(pool, database_url, payload, round_no))
    finally:
        await pool.close()
    return rounds


async def _one_round(
    pool: AsyncConnectionPool, database_url: str, payload: bytes, round_no: int
) -> dict[str, float]:
    user_id, import_id = uuid.uuid4(), uuid.uuid4()
    await store.start_import(pool, import_id, user_id, "bench.zip")

    async def on_chunk(_: int) -> None:
        return None

    cpu_started, started = time.process_time(), time.perf_counter()
    export, deltas = await store.store_export(
        pool,
        user_id,
        import_id,
        lambda hand: read_export("bench.zip", payload, hand=hand),
        chunk_rows=20_000,
        report_of=import_report,
        on_chunk=on_chunk,
    )
    events = plays_ingested_batches(user_id, import_id, "extended", deltas, 500)
    stored = time.perf_counter()
    cpu_s = time.process_time() - cpu_started

    # The parse alone, for reference (not in the total), after the import: 140,000 plays kept
    # alive during it would make the collector's passes over them part of its time. The
    # streamed import keeps no plays (it handed them over): the ceiling COPYs these.
    parse_started = time.perf_counter()
    parsed = read_export("bench.zip", payload)
    parse_s = time.perf_counter() - parse_started
    copy_s = copy_ceiling(database_url, parsed.plays, f"copy_ceiling_{round_no}")
    return {
        "plays": export.music_plays,
        "new": sum(delta.new_plays for delta in deltas),
        "events": len(events),
        "parse_s": parse_s,
        "total_s": stored - started,
        "cpu_s": cpu_s,
        "copy_s": copy_s,
        "ratio": (stored - started) / copy_s,
    }


def copy_ceiling(database_url: str, plays: Sequence[Play], table: str) -> float:
    """Seconds to COPY the same rows into a new table shaped like ingest.plays (its keys and
    indexes included) and nothing else: no parsing, no conflict handling, no bookkeeping."""
    owner, import_id = uuid.uuid4(), uuid.uuid4()
    rows = [(owner, import_id, *play.copy_row()) for play in plays]
    columns = f"user_id, import_id, {', '.join(COPY_COLUMNS)}"
    with psycopg.connect(database_url) as conn:
        conn.execute(f"CREATE TABLE {table} (LIKE ingest.plays INCLUDING ALL)")
        started = time.perf_counter()
        with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "uuid", *COPY_TYPES])
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest_import")
    parser.add_argument("--plays", type=int, default=140_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    args = parser.parse_args(argv)
    print(f"generating a {args.plays:,}-play extended export (in a child process) ...")
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/my_spotify_data.zip"
        child = multiprocessing.get_context("spawn").Process(
            target=write_export_zip, args=(path, args.plays)
        )
        child.start()
        child.join()
        with open(path, "rb") as export:
            payload = export.read()
    with scratch_database() as database_url:
        rounds = asyncio.run(measure(database_url, payload, max(1, args.repeat)))
    figures = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"export: {len(payload) / 2**20:.1f} MiB zipped, {figures['plays']:,.0f} music plays")
    print(f"parse alone      {figures['parse_s']:6.2f} s   (for reference)")
    print(
        f"import total     {figures['total_s']:6.2f} s   "
        f"{figures['plays'] / figures['total_s']:,.0f} plays/s (parse and store at once, as "
        f"the service does: {figures['new']:,.0f} new, {figures['events']:.0f} plays.ingested "
        "events)"
    )
    print(
        f"plain COPY       {figures['copy_s']:6.2f} s   "
        f"{figures['plays'] / figures['copy_s']:,.0f} plays/s (ceiling)"
    )
    print(
        f"importer CPU     {figures['cpu_s']:6.2f} s   (the Python process; the rest is the server)"
    )
    print(f"ratio import / COPY: {figures['ratio']:.2f}x (target within 3x; median of rounds)")
    print(
        "rounds (total s / COPY s): "
        + ", ".join(f"{r['total_s']:.2f}/{r['copy_s']:.2f}" for r in rounds)
    )
    print(f"peak memory of the importing process: {peak_mb:,.0f} MB (target under 400 MB)")
    return 0
