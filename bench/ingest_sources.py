"""Import speed per source: real exports of each service from ../shared/data (Spotify's
extended history, the 60,950-row Last.fm CSV, the 10,407-entry Takeout watch history, Apple's
Track Play History), each parsed and stored as ingest does it (`read_upload` handing plays
to `store_export`, a new listener each round), in one run; rows per second of each next to
the Spotify import's, and the ratio of seconds per row (target: within 1.5x of Spotify).

In one process against PostgreSQL, not through the gateway: the upload's transfer is the
same bytes whatever the source, so what differs between sources is measured here.

python -m bench ingest_sources [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from bench.servers import scratch_database
from fullcircle.db import apply_migrations, open_pool
from services.ingest.adapters import store
from services.ingest.domain.announce import import_report
from services.ingest.domain.exports import read_upload

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SPOTIFY = "spotify-history-sanabil/my_spotify_data.zip"
EXPORTS = (
    SPOTIFY,
    "lastfm-csv-pingw33n/lastfm_scrobbles.csv",
    "youtube-takeout-ten5/watch-history.json",
    "apple-music-track-play-history-hjx2020/Apple Music - Track Play History.csv",
)
PART_BYTES = 4 * 2**20  # the gateway's upload parts


async def import_once(pool: AsyncConnectionPool, name: str, payload: bytes) -> tuple[int, int]:
    """Import `payload` as a new listener's; (rows read, plays stored)."""
    user_id, import_id = uuid.uuid4(), uuid.uuid4()
    await store.start_import(pool, import_id, user_id, name)

    async def on_chunk(_: int) -> None:
        return None

    parts = [payload[start : start + PART_BYTES] for start in range(0, len(payload), PART_BYTES)]
    export, deltas = await store.store_export(
        pool,
        user_id,
        import_id,
        lambda hand: read_upload(name, parts, hand=hand),
        chunk_rows=20_000,
        report_of=import_report,
        on_chunk=on_chunk,
    )
    return export.rows_read, sum(delta.new_plays for delta in deltas)


async def measure(database_url: str, repeat: int) -> dict[str, dict[str, float]]:
    """Median seconds of `repeat` rounds per export, the rounds interleaved across exports so
    each sees the same machine load."""
    for service in ("gateway", "ingest"):
        await apply_migrations(database_url, service, ROOT / "services" / service / "migrations")
    payloads = {name: (DATA / name).read_bytes() for name in EXPORTS}
    seconds: dict[str, list[float]] = {name: [] for name in EXPORTS}
    counts: dict[str, tuple[int, int]] = {}
    pool = await open_pool(database_url)
    try:
        for _ in range(repeat):
            for name, payload in payloads.items():
                started = time.perf_counter()
                counts[name] = await import_once(pool, Path(name).name, payload)
                seconds[name].append(time.perf_counter() - started)
    finally:
        await pool.close()
    return {
        name: {
            "rows": counts[name][0],
            "plays": counts[name][1],
            "seconds": statistics.median(seconds[name]),
        }
        for name in EXPORTS
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest_sources")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    args = parser.parse_args(argv)
    with scratch_database() as database_url:
        figures = asyncio.run(measure(database_url, max(1, args.repeat)))
    spotify = figures[SPOTIFY]
    spotify_per_row = spotify["seconds"] / spotify["rows"]
    print(f"{'export':<78} {'rows':>7} {'plays':>7} {'s':>6} {'rows/s':>8} {'plays/s':>8}  ratio")
    for name, figure in figures.items():
        per_row = figure["seconds"] / figure["rows"]
        print(
            f"{name:<78} {figure['rows']:>7,.0f} {figure['plays']:>7,.0f} "
            f"{figure['seconds']:>6.2f} {figure['rows'] / figure['seconds']:>8,.0f} "
            f"{figure['plays'] / figure['seconds']:>8,.0f}  {per_row / spotify_per_row:.2f}x"
        )
    return 0
