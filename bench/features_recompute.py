"""Features speed: a full recompute of a generated 140,000-play, 6-year history (per-artist
stats with decay, tag profile, taste clusters, contexts, evolution) and one O(1) incremental
update of a decayed score for a new play, checked against a full recompute to 1e-9.

python -m bench features_recompute [--plays 140000]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from datetime import UTC, datetime

import numpy as np

from services.features.domain.details import taste_details
from services.features.domain.recency import DecayedScore, exp_decay_weights
from services.features.domain.taste import PlayColumns, artist_stats, tag_profile
from tools.demo.catalog import generate_demo_catalog
from tools.demo.history import generate_demo_history

HALF_LIFE_DAYS = 90.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench features_recompute")
    parser.add_argument("--plays", type=int, default=140_000)
    args = parser.parse_args(argv)
    catalog = generate_demo_catalog()
    rows = [
        row
        for row in generate_demo_history(catalog, n_plays=args.plays)
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

    def recompute() -> tuple[float, float, float]:
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = artist_stats(plays, as_of_s, HALF_LIFE_DAYS)
        tag_profile({s.artist: s.endorsement for s in stats}, artist_tags)
        stats_s = time.perf_counter() - started
        taste_details(plays, platforms, as_of, artist_tags)
        return stats_s, time.perf_counter() - started, time.process_time() - cpu_started

    # Timed rounds without tracemalloc (it slows every allocation), the median reported; the
    # memory peak from one more round under tracemalloc.
    rounds = [recompute() for _ in range(3)]
    stats_s = statistics.median(round_s[0] for round_s in rounds)
    full_s = statistics.median(round_s[1] for round_s in rounds)
    cpu_s = statistics.median(round_s[2] for round_s in rounds)
    tracemalloc.start()
    stats = artist_stats(plays, as_of_s, HALF_LIFE_DAYS)
    tags = tag_profile({s.artist: s.endorsement for s in stats}, artist_tags)
    details = taste_details(plays, platforms, as_of, artist_tags)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"stats + decay + tag profile   {stats_s * 1000:8.1f} ms  ({len(stats):,} artists, "
        f"{len(tags)} tags; median of 3 rounds)"
    )
    print(
        f"full recompute (with tastes)  {full_s * 1000:8.1f} ms  ({len(details['clusters'])} "
        f"clusters, {len(details['evolution'])} months)  target under 1,000 ms; rounds: "
        + ", ".join(f"{round_s[1] * 1000:.0f}" for round_s in rounds)
    )
    print(
        f"CPU time of the full recompute {cpu_s * 1000:8.1f} ms  (wall above it is time spent "
        "waiting for a core on a busy machine)"
    )
    print(f"peak traced memory of the recompute: {peak / 2**20:,.0f} MB")

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
    return 0
