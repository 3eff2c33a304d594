"""What the listener reads, through the running stack: how much of each explanation names
something they know (EVALUATION.md C), on the shared real histories with the HetRec catalog.

Each history is uploaded to a LocalStack (every service its own process, the local Last.fm
server on the HetRec catalog, PostgreSQL and Redis) as its own listener of one instance;
when the pipeline has settled (every artist enriched, the latest set made for the latest
profile), the listener's 20 recommendations are read over the public gRPC API and, per item:
- the named share of the full breakdown: the shares of the parts whose label is not a
  catch-all (explanation.CATCH_ALLS), from `Recommendation.parts` as served;
- the named share of the because line, read back from the text the listener reads
  (explanation.line_named_share: what it leaves out counts as unnamed);
- the largest catch-all share, and which kinds of causes the items name (seed artists, tags,
  recency, contexts, listeners like you).
Beside them it prints what the served taste profile says of the same listener: tastes, how
many carry 90% of the listens, duplicate names, mood coverage, the time zone and whether the
recency weights were fitted; and what steering does to the settled set ("less" of its
biggest taste, the familiarity dial from deep cuts to popular).
Targets (issue #14): median >= 85% and minimum >= 70%, both; no catch-all above 20%.

    python -m bench explanations [--only sanabil,efrrowini] [--timeout 900]

Besides the three Spotify histories, the two Last.fm scrobble exports go through the stack
too: pingw33n is a hard listener (12,512 artists, most unknown to the catalog, many tastes).
The merged "all five" and generated hard listeners are measured in-process by
`python -m tools.lab.explanations`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.pipeline import wait_settled
from bench.servers import scratch_database, stack_env
from fullcircle.client import FullCircleClient
from fullcircle.v1 import common_pb2
from services.gateway.adapters.accounts import create_user
from services.model.domain.explanation import CATCH_ALLS, line_named_share
from tools.stack.local import LocalStack, StackState

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
HETREC = SHARED_DATA / "hetrec2011-lastfm-2k"
HISTORIES = {
    "sanabil": SHARED_DATA / "spotify-history-sanabil" / "my_spotify_data.zip",
    "efrrowini": SHARED_DATA / "spotify-history-efrrowini",
    "ryanpj2": SHARED_DATA / "spotify-account-ryanpj2",
    # the hard listeners: Last.fm scrobble exports, most of their artists unknown to HetRec
    "pingw33n": SHARED_DATA / "lastfm-csv-pingw33n" / "lastfm_scrobbles.csv",
    "sachawheeler": SHARED_DATA / "lastfm-ghan-csv-sachawheeler" / "scrobbles.csv",
}
TOP = 20
BENCH_REDIS_DB = 13


@dataclass(frozen=True)
class StackExplanations:
    history: str
    items: int
    parts_median: float
    parts_min: float
    because_median: float
    because_min: float
    largest_catch_all: float
    kinds: dict[str, int]  # cause kind -> items naming one
    settled_s: float
    example: str
    profile: ServedProfile
    steering: Steered


@dataclass(frozen=True)
class Steered:
    """Steering on the settled set: "less" of the taste most of the top 20 serve (its share
    of the top 20 before and after; target: at least halved, as far as the set holds other
    tastes' artists) and the median popularity percentile of the top 20 at each DIALS
    setting (target: monotone)."""

    taste: str
    before: float
    after: float
    others: int  # artists of the set's 100 serving another taste
    medians: list[float]


DIALS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class ServedProfile:
    """What `GetTasteProfile` serves about the same listener: tastes (the "other" bucket,
    id 0, counts as one taste), how many carry 90% of the listens, names shared by two
    tastes, mood coverage before and after propagation, the zone contexts were computed in."""

    tastes: int
    tastes_for_90_percent: int
    duplicate_names: int
    mood_before: float
    mood_after: float
    time_zone: str
    recency_fitted: bool


def as_upload(path: Path, folder: Path) -> Path:
    """The export as one file to upload: a file as it is, a folder of its JSON files zipped."""
    if path.is_file():
        return path
    upload = folder / f"{path.name}.zip"
    with zipfile.ZipFile(upload, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(path.glob("*.json")):
            archive.write(member, f"my_spotify_data/{member.name}")
    return upload


async def measure(
    state: StackState, name: str, export: Path, timeout_s: float
) -> StackExplanations:
    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        user_id, key = await create_user(conn, f"{name}-{uuid.uuid4().hex[:6]}")
    started = time.perf_counter()
    async with FullCircleClient(state.gateway_address, key.token) as client:
        await client.import_history(export)
        await wait_settled(
            state.database_url, state.redis_url, user_id, timeout_s=timeout_s, quiet_s=10.0
        )
        settled_s = time.perf_counter() - started
        served = await client.recommendations(limit=TOP)
        profile = served_profile(await client.taste_profile())
        steered = await steer(client)
    in_parts, in_line, catch_alls = [], [], []
    kinds: Counter[str] = Counter()
    for item in served.items:
        in_parts.append(sum(part.share for part in item.parts if part.label not in CATCH_ALLS))
        in_line.append(line_named_share(item.because))
        catch_alls += [part.share for part in item.parts if part.label in CATCH_ALLS]
        kinds.update({part.kind for part in item.parts})
    first = served.items[0] if served.items else None
    return StackExplanations(
        history=name,
        items=len(served.items),
        parts_median=statistics.median(in_parts) if in_parts else 0.0,
        parts_min=min(in_parts, default=0.0),
        because_median=statistics.median(in_line) if in_line else 0.0,
        because_min=min(in_line, default=0.0),
        largest_catch_all=max(catch_alls, default=0.0),
        kinds=dict(sorted(kinds.items())),
        settled_s=settled_s,
        example=f"{first.artist}: {first.because}" if first else "",
        profile=profile,
        steering=steered,
    )


async def steer(client: FullCircleClient) -> Steered:
    whole = list((await client.recommendations(100)).items)
    tastes = [item.taste for item in whole[:TOP] if item.taste]
    biggest = max(set(tastes), key=lambda t: (tastes.count(t), t), default="")
    before = sum(1 for item in whole[:TOP] if item.taste == biggest) / TOP
    after = before
    if biggest:
        await client.steer({biggest: "less"})
        steered = (await client.recommendations(TOP)).items
        after = sum(1 for item in steered if item.taste == biggest) / max(1, len(steered))
        await client.steer({biggest: ""})
    medians = []
    for dial in DIALS:
        await client.steer(familiarity=dial)
        served = await client.recommendations(TOP)
        known = [
            i.popularity_percentile for i in served.items if i.HasField("popularity_percentile")
        ]
        medians.append(statistics.median(known) if known else float("nan"))
    await client.steer(familiarity=-1)
    others = sum(1 for item in whole if item.taste != biggest)
    return Steered(biggest, before, after, others, medians)


def served_profile(profile: common_pb2.TasteProfile) -> ServedProfile:
    shares = sorted((cluster.all_time_share for cluster in profile.clusters), reverse=True)
    covered, for_90 = 0.0, 0
    for share in shares:
        if covered >= 0.9:
            break
        covered += share
        for_90 += 1
    names = Counter(cluster.name for cluster in profile.clusters if cluster.cluster_id != 0)
    return ServedProfile(
        tastes=len(profile.clusters),
        tastes_for_90_percent=for_90,
        duplicate_names=sum(count - 1 for count in names.values()),
        mood_before=profile.mood_coverage.before,
        mood_after=profile.mood_coverage.after,
        time_zone=f"{profile.time_zone.time_zone} ({profile.time_zone.source})",
        recency_fitted=profile.recency_fitted,
    )


def report(results: list[StackExplanations]) -> None:
    print(f"named share of the top {TOP} through the stack (median >= 85%, min >= 70%, both)")
    print(
        f"{'history':<12} {'items':>5} {'parts med':>9} {'min':>5} {'because med':>11}"
        f" {'min':>5} {'max catch-all':>13} {'settled':>8}  items naming each kind"
    )
    for r in results:
        print(
            f"{r.history:<12} {r.items:>5} {r.parts_median:>9.0%} {r.parts_min:>5.0%}"
            f" {r.because_median:>11.0%} {r.because_min:>5.0%} {r.largest_catch_all:>13.0%}"
            f" {r.settled_s:>7.0f}s  {', '.join(f'{k} {n}' for k, n in r.kinds.items())}"
        )
    print()
    print("the served taste profile (tastes for 90% of listens: at most 12; duplicate names: 0)")
    print(
        f"{'history':<12} {'tastes':>6} {'for 90%':>7} {'dup names':>9} {'mood before':>11}"
        f" {'after':>6} {'recency':>8}  time zone"
    )
    for r in results:
        p = r.profile
        print(
            f"{r.history:<12} {p.tastes:>6} {p.tastes_for_90_percent:>7} {p.duplicate_names:>9}"
            f" {p.mood_before:>11.0%} {p.mood_after:>6.0%}"
            f" {'fitted' if p.recency_fitted else 'fixed':>8}  {p.time_zone}"
        )
    print()
    print('steering: "less" of the biggest taste of the top 20, and the familiarity dial')
    print(f"{'history':<12} {'taste':<28} {'before':>6} {'after':>6}  median popularity at {DIALS}")
    for r in results:
        st = r.steering
        print(
            f"{r.history:<12} {st.taste[:28]:<28} {st.before:>6.0%} {st.after:>6.0%}"
            f"  {' '.join(f'{m:.2f}' for m in st.medians)}"
        )
    for r in results:
        print(f"{r.history}: {r.example}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench explanations", description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(HISTORIES))
    parser.add_argument("--timeout", type=float, default=900.0, help="per history, seconds")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(HISTORIES)
    unknown = sorted(set(chosen) - set(HISTORIES))
    if unknown:
        parser.error(f"unknown histories {unknown}: choose from {', '.join(HISTORIES)}")
    if not HETREC.is_dir():
        parser.error(f"{HETREC} is missing: the shared data folder belongs beside the project")
    with tempfile.TemporaryDirectory() as folder, scratch_database() as database_url:
        data = Path(folder)
        env = stack_env(database_url, BENCH_REDIS_DB, FULLCIRCLE_LASTFM_CATALOG=f"hetrec:{HETREC}")
        stack = LocalStack(data / "stack", env)
        state = stack.up(report=lambda line: None)
        try:
            results = [
                asyncio.run(measure(state, name, as_upload(HISTORIES[name], data), args.timeout))
                for name in chosen
            ]
        finally:
            stack.down(report=lambda line: None)
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
