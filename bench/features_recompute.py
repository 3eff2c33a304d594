"""Features speed: a full recompute of a generated 140,000-play, 6-year history (per-artist
stats with the listener's fitted recency weights, tag profile, taste clusters, contexts,
evolution, listening clock, years; the last two also timed alone), the same with the fixed
half-life alone (the fallback, and the seed's cost), and one O(1) incremental update of a
fixed-half-life decayed score for a new play, checked against a full recompute to 1e-9 (the
fitted weights are refitted at each recompute). Then the
service's own recompute (`ProfileBuilder.refresh`: read from PostgreSQL, compute in the worker
process, store, announce) of a stored 1M-play history, with the latency of the health checks
the service answered over loopback meanwhile.

python -m bench features_recompute [--plays 140000] [--health-plays 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
import tracemalloc
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.servers import scratch_database, scratch_redis
from bench.training_view import store_demo_listener
from fullcircle.bus import Bus
from fullcircle.db import open_pool
from fullcircle.grpc_server import GrpcServer
from services.features.adapters.worker import ListenerWorkers
from services.features.app import ProfileBuilder
from services.features.domain.clusters import cluster_tastes
from services.features.domain.contexts import listening_clock, yearly_tops
from services.features.domain.details import taste_details
from services.features.domain.recency import DecayedScore, exp_decay_weights
from services.features.domain.taste import (
    PlayColumns,
    artist_stats,
    tag_profile,
    weighed_artists,
)
from services.features.settings import FeaturesSettings
from tools.demo.catalog import generate_demo_catalog
from tools.demo.history import generate_demo_history

HALF_LIFE_DAYS = 90.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench features_recompute")
    parser.add_argument("--plays", type=int, default=140_000)
    parser.add_argument(
        "--health-plays", type=int, default=1_000_000, help="0: skip the health drill"
    )
    args = parser.parse_args(argv)
    in_memory(args.plays)
    if args.health_plays:
        with scratch_database() as database_url, scratch_redis() as redis_url:
            drill = asyncio.run(health_during_recompute(database_url, redis_url, args.health_plays))
        print(drill.summary())
    return 0


def in_memory(n_plays: int) -> None:
    """The domain functions alone, on columns in memory."""
    catalog = generate_demo_catalog()
    rows = [
        row
        for row in generate_demo_history(catalog, n_plays=n_plays)
        if row["spotify_track_uri"] and row["master_metadata_album_artist_name"]
    ]
    plays = PlayColumns(
        artist=[row["master_metadata_album_artist_name"] for row in rows],
        ended_at_s=np.array(
            [datetime.fromisoformat(row["ts"]).timestamp() for row in rows], dtype=np.float64
        ),
        ms_played=np.array([row["ms_played"] for row in rows], dtype=np.int64),
        skipped=np.array([bool(row["skipped"]) for row in rows]),
    )
    platforms = [row["platform"] for row in rows]
    artist_tags = {
        artist["name"]: {tag: float(weight) for tag, weight in artist["tags"]}
        for artist in catalog["artists"]
    }
    as_of_s = float(plays.ended_at_s.max())
    as_of = datetime.fromtimestamp(as_of_s, UTC)
    print(f"history: {len(rows):,} music plays, {len(set(plays.artist)):,} artists")

    def recompute(fit_recency: bool) -> tuple[float, float, float]:
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = artist_stats(plays, as_of_s, HALF_LIFE_DAYS, fit_recency=fit_recency)
        tag_profile({s.artist: s.endorsement for s in stats}, artist_tags)
        stats_s = time.perf_counter() - started
        taste_details(plays, platforms, as_of, artist_tags)
        return stats_s, time.perf_counter() - started, time.process_time() - cpu_started

    for fit_recency, weights in ((True, "fitted recency"), (False, "fixed half-life")):
        # Timed rounds without tracemalloc (it slows every allocation), the median reported;
        # the memory peak from one more round under tracemalloc.
        rounds = [recompute(fit_recency) for _ in range(3)]
        stats_s = statistics.median(round_s[0] for round_s in rounds)
        full_s = statistics.median(round_s[1] for round_s in rounds)
        cpu_s = statistics.median(round_s[2] for round_s in rounds)
        tracemalloc.start()
        stats, fit = weighed_artists(plays, as_of_s, HALF_LIFE_DAYS, fit_recency=fit_recency)
        tags = tag_profile({s.artist: s.endorsement for s in stats}, artist_tags)
        details = taste_details(plays, platforms, as_of, artist_tags)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"-- artist weights: {weights} ({fit.describe()})")
        print(
            f"stats + weights + tag profile {stats_s * 1000:8.1f} ms  ({len(stats):,} artists, "
            f"{len(tags)} tags; median of 3 rounds)"
        )
        print(
            f"full recompute (with tastes)  {full_s * 1000:8.1f} ms  ({len(details['clusters'])} "
            f"clusters, {len(details['evolution'])} months)  target under 1,000 ms; rounds: "
            + ", ".join(f"{round_s[1] * 1000:.0f}" for round_s in rounds)
        )
        print(
            f"CPU time of the full recompute {cpu_s * 1000:8.1f} ms  (wall above it is time "
            "spent waiting for a core on a busy machine)"
        )
        print(f"peak traced memory of the recompute: {peak / 2**20:,.0f} MB")

    # The recompute's newest parts alone: the listening clock and each year's tops.
    clusters = cluster_tastes(plays, as_of, artist_tags)
    for name, part in (
        ("listening clock (168 hours)", lambda: listening_clock(plays, clusters)),
        ("years' top artists and tags", lambda: yearly_tops(plays, artist_tags)),
    ):
        times = []
        for _ in range(3):
            begun = time.perf_counter()
            part()
            times.append(time.perf_counter() - begun)
        print(f"{name:29} {statistics.median(times) * 1000:8.1f} ms  (median of 3, in the above)")

    # Incremental: one new listen of the top artist, O(1), against a full recompute.
    artist = stats[0].artist
    mine = np.array([a == artist for a in plays.artist]) & (plays.ms_played >= 30_000)
    score = DecayedScore(HALF_LIFE_DAYS)
    for ts in np.sort(plays.ended_at_s[mine]):
        score.add(float(ts))
    new_ts = as_of_s + 3_600.0
    updates = []
    for _ in range(1_000):
        copy = DecayedScore(HALF_LIFE_DAYS, score.value, score.last_update_ts)
        begun = time.perf_counter()
        copy.add(new_ts)
        updates.append(time.perf_counter() - begun)
    incremental = copy.value_at(new_ts)
    ages = new_ts - np.append(plays.ended_at_s[mine], new_ts)
    full = float(exp_decay_weights(ages, HALF_LIFE_DAYS).sum())
    print(
        f"incremental update of one decayed score: median "
        f"{np.median(updates) * 1e6:.1f} µs, max {max(updates) * 1e6:.1f} µs  target under 5 ms"
    )
    print(
        f"incremental vs full recompute: {incremental:.12f} vs {full:.12f} "
        f"(|diff| {abs(incremental - full):.2e}, must be under 1e-9)"
    )


@dataclass
class HealthDuringRecompute:
    """The health checks a features service answered while it recomputed one listener."""

    user_id: uuid.UUID
    plays: int
    recompute_s: float
    latencies_s: list[float] = field(default_factory=list)  # of the checks answered
    statuses: set[str] = field(default_factory=set)  # SERVING, NOT_SERVING, or an error code

    def summary(self) -> str:
        ordered = sorted(self.latencies_s) or [float("nan")]
        return (
            f"health during the recompute of {self.plays:,} stored plays "
            f"({self.recompute_s:.1f} s, read + worker + store): {len(self.latencies_s)} checks "
            f"answered {', '.join(sorted(self.statuses))}; latency median "
            f"{ordered[len(ordered) // 2] * 1000:.1f} ms, p99 "
            f"{ordered[int(len(ordered) * 0.99)] * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms"
        )


async def health_during_recompute(
    database_url: str, redis_url: str, n_plays: int, deadline_s: float = 5.0
) -> HealthDuringRecompute:
    """Store a generated `n_plays` history, then recompute it as the service does while a
    thread of this process checks the service's health over loopback, one check at a time,
    each with `deadline_s`; the checks answered and their latencies."""
    pool = await open_pool(database_url)
    settings = FeaturesSettings(database_url=database_url, redis_url=redis_url)
    bus = Bus(settings, "features")
    server = GrpcServer("127.0.0.1", 0)
    workers = ListenerWorkers(database_url)
    try:
        user_id, _ = await store_demo_listener(database_url, pool, n_plays)
        await bus.start()
        await server.start()
        await server.set_serving(True)
        builder = ProfileBuilder(
            SimpleNamespace(pool=pool, bus=bus),  # type: ignore[arg-type]
            settings,
            workers=workers,
        )
        probe = _HealthProbe(server.address, deadline_s)
        probe.start()
        started = time.perf_counter()
        try:
            await builder.refresh(user_id, datetime.now(UTC), "plays")
        finally:
            recompute_s = time.perf_counter() - started
            probe.stop()
        return HealthDuringRecompute(
            user_id, n_plays, recompute_s, probe.latencies_s, probe.statuses
        )
    finally:
        workers.close()
        await server.stop(0)
        await bus.stop()
        await pool.close()


class _HealthProbe(threading.Thread):
    """Health checks in a thread of its own (the blocking gRPC client waits outside the GIL),
    one after the other, until stopped."""

    def __init__(self, address: str, deadline_s: float) -> None:
        super().__init__(daemon=True)
        self.address, self.deadline_s = address, deadline_s
        self.latencies_s: list[float] = []
        self.statuses: set[str] = set()
        self._stopping = threading.Event()

    def run(self) -> None:
        with grpc.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while not self._stopping.is_set():
                asked = time.perf_counter()
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(), timeout=self.deadline_s)
                except grpc.RpcError as exc:
                    self.statuses.add(exc.code().name)  # type: ignore[attr-defined]
                else:
                    self.latencies_s.append(time.perf_counter() - asked)
                    self.statuses.add(
                        health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                    )
                self._stopping.wait(0.02)

    def stop(self) -> None:
        self._stopping.set()
        self.join()
