"""Memory under big uploads: the real gateway and ingest processes (the local stack) receive 1,
4 and 8 concurrent 250 MiB exports (the demo listener's history as one Spotify JSON file, one
listener per upload: each key may run UPLOADS_PER_KEY at once) and a zip bomb inflating to
1.2 GiB. Both processes' RSS and a gateway health check are sampled every 0.1 s from a thread
of their own; each case waits until every import has ended (ingest read it, the gateway deleted
its bytes). Prints per case the peak RSS of each process against its target (gateway 300 MB,
ingest 600 MB) as a ratio, the health check's worst latency and whether it ever left SERVING,
how the imports ended and the parts left in the store afterwards.

python -m bench upload_memory [--mib 250] [--bomb-mib 1228] [--quick]

enrich and features are paused (SIGSTOP) while it runs, so the downstream work of 13 big
imports does not compete with the two measured processes for the machine; the model keeps
running (the gateway's health checks it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.servers import scratch_database, stack_env
from fullcircle.client import FullCircleClient
from services.gateway.adapters.accounts import create_user
from tools.demo.catalog import generate_demo_catalog
from tools.demo.history import generate_demo_history
from tools.stack.local import LocalStack, StackState

BENCH_REDIS_DB = 10
TARGET_MB = {"gateway": 300.0, "ingest": 600.0}
BYTES_PER_ROW = 677  # the demo history's rows, as JSON (measured)
SAMPLE_S = 0.1
PAUSED = ("enrich", "features")


def write_export(path: str, target_bytes: int) -> None:
    """The demo listener's history as one Spotify extended JSON file of about `target_bytes`."""
    rows = generate_demo_history(generate_demo_catalog(), n_plays=target_bytes // BYTES_PER_ROW)
    with open(path, "w", encoding="utf-8") as export:
        export.write("[\n  ")
        export.write(",\n  ".join(json.dumps(row, ensure_ascii=False) for row in rows))
        export.write("\n]")


def write_bomb(path: Path, inflated_bytes: int) -> None:
    """A zip whose one history file inflates to `inflated_bytes` (blanks inside a JSON list)."""
    block = b" " * 2**20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        name = "Spotify Extended Streaming History/Streaming_History_Audio_2024.json"
        with archive.open(name, "w", force_zip64=True) as member:
            member.write(b"[")
            for _ in range(inflated_bytes // len(block)):
                member.write(block)
            member.write(b"]")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Samples:
    """What the sampler thread saw during one case."""

    peak_mb: dict[str, float] = field(default_factory=dict)
    health_worst_s: float = 0.0
    not_serving: int = 0
    checks: int = 0


class Sampler:
    """Every 0.1 s: the RSS of the gateway and ingest, and one health check of the gateway."""

    def __init__(self, state: StackState) -> None:
        self.pids = {service: state.pids[service] for service in TARGET_MB}
        self.address = state.gateway_address
        self.samples = Samples()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Samples:
        self._thread.start()
        return self.samples

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with grpc.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while not self._stop.is_set():
                for service, pid in self.pids.items():
                    peak = self.samples.peak_mb.get(service, 0.0)
                    self.samples.peak_mb[service] = max(peak, rss_mb(pid))
                started = time.perf_counter()
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
                    serving = reply.status == health_pb2.HealthCheckResponse.SERVING
                except grpc.RpcError:
                    serving = False
                took = time.perf_counter() - started
                self.samples.checks += 1
                self.samples.health_worst_s = max(self.samples.health_worst_s, took)
                self.samples.not_serving += 0 if serving else 1
                self._stop.wait(max(0.0, SAMPLE_S - took))


def _wait_serving(state: StackState) -> None:
    """Until the gateway answers SERVING: it says NOT_SERVING for a few seconds after start,
    while the dependencies it checks every HEALTH_INTERVAL_S have not all answered yet."""
    with grpc.insecure_channel(state.gateway_address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(120):
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.5)
    raise RuntimeError("the gateway never answered SERVING")


async def _listeners(state: StackState, count: int) -> list[str]:
    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        return [
            (await create_user(conn, f"bench-upload-{uuid.uuid4().hex[:8]}"))[1].token
            for _ in range(count)
        ]


async def _upload(state: StackState, key: str, path: Path) -> str:
    async with FullCircleClient(state.gateway_address, key) as client:
        return await client.import_history(path, deadline_s=1800)


async def _all_ended(state: StackState, import_ids: list[str], timeout_s: float) -> str:
    """Wait until the gateway has noted the end of every import; how they ended and the parts
    left then."""
    ids = [UUID(import_id) for import_id in import_ids]
    deadline = time.monotonic() + timeout_s
    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        while True:
            cur = await conn.execute(
                "SELECT coalesce(outcome, 'running'), count(*), sum((SELECT count(*)"
                " FROM gateway.upload_parts p WHERE p.upload_id = u.upload_id))"
                " FROM gateway.uploads u WHERE import_id = ANY(%s) GROUP BY 1 ORDER BY 1",
                (ids,),
            )
            ended = {outcome: (count, parts) for outcome, count, parts in await cur.fetchall()}
            if "running" not in ended:
                return ", ".join(f"{count} {outcome}" for outcome, (count, _) in ended.items()) + (
                    f", parts left {sum(parts for _, parts in ended.values())}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ended['running'][0]} imports running after {timeout_s:.0f} s")
            await asyncio.sleep(0.5)


async def run_case(state: StackState, path: Path, uploads: int) -> tuple[Samples, str, float]:
    """`uploads` concurrent uploads of `path`, one listener each, to the end of their imports;
    (samples, how the imports ended and the parts left, seconds)."""
    keys = await _listeners(state, uploads)
    started = time.perf_counter()
    with Sampler(state) as samples:
        import_ids = await asyncio.gather(*(_upload(state, key, path) for key in keys))
        ended = await _all_ended(state, list(import_ids), timeout_s=3600)
    return samples, ended, time.perf_counter() - started


def _report(label: str, samples: Samples, ended: str, seconds: float) -> None:
    ratios = "  ".join(
        f"{service} {samples.peak_mb[service]:6,.0f} MB = "
        f"{samples.peak_mb[service] / TARGET_MB[service]:4.2f}x target"
        for service in TARGET_MB
    )
    print(
        f"{label:<28} {ratios}  health worst {samples.health_worst_s * 1000:5.0f} ms, "
        f"not SERVING {samples.not_serving}/{samples.checks}  {seconds:4.0f} s  ({ended})",
        flush=True,
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench upload_memory")
    parser.add_argument("--mib", type=int, default=250, help="size of each export")
    parser.add_argument("--bomb-mib", type=int, default=1229, help="what the bomb inflates to")
    parser.add_argument("--quick", action="store_true", help="8 MiB exports, a 64 MiB bomb")
    args = parser.parse_args(argv)
    mib, bomb_mib = (8, 64) if args.quick else (args.mib, args.bomb_mib)
    with tempfile.TemporaryDirectory() as folder, scratch_database() as database_url:
        export = Path(folder) / "Streaming_History_Audio_2019-2025.json"
        print(f"generating a {mib} MiB export (in a child process) and a {bomb_mib} MiB bomb ...")
        child = multiprocessing.get_context("spawn").Process(
            target=write_export, args=(str(export), mib * 2**20)
        )
        child.start()
        child.join()
        bomb = Path(folder) / "my_spotify_data.zip"
        write_bomb(bomb, bomb_mib * 2**20)
        print(
            f"export {export.stat().st_size / 2**20:,.1f} MiB; bomb "
            f"{bomb.stat().st_size / 2**20:,.1f} MiB zipped, {bomb_mib:,} MiB inflated",
            flush=True,
        )
        stack = LocalStack(Path(folder) / "stack", stack_env(database_url, BENCH_REDIS_DB))
        state = stack.up(report=lambda line: None)
        for service in PAUSED:
            os.kill(state.pids[service], signal.SIGSTOP)
        try:
            _wait_serving(state)
            idle = {service: rss_mb(state.pids[service]) for service in TARGET_MB}
            print(
                "idle RSS: " + ", ".join(f"{s} {mb:,.0f} MB" for s, mb in idle.items()),
                flush=True,
            )
            for uploads in (1, 4, 8):
                _report(
                    f"{uploads} x {mib} MiB at once", *asyncio.run(run_case(state, export, uploads))
                )
            _report(f"bomb ({bomb_mib:,} MiB inflated)", *asyncio.run(run_case(state, bomb, 1)))
        finally:
            for service in PAUSED:
                os.kill(state.pids[service], signal.SIGCONT)
            stack.down(report=lambda line: None)
    return 0
