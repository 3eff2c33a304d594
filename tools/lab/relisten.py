"""Protocol A (relistening): which of my artists will I play next month? Scores the fixed
recency baselines and the per-listener Full-Circle model on one listening history.

Besides the mean NDCG@20 / Recall@20 table, the result keeps each method's NDCG@20 at every
cutoff, and the table reports the Full-Circle ranker against the best fixed baseline cutoff
by cutoff (mean difference +- its standard error, better/equal/worse counts): with 5-12
cutoffs and often under 20 relevant artists per cutoff, one hit more or less moves a mean by
about 0.01, so a mean margin smaller than its standard error is not evidence of a better
ranker. `--per-cutoff` prints the per-cutoff NDCG@20 of every method."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from fullcircle.ranking import ndcg_at_k, recall_at_k
from services.features.domain import recency
from services.features.domain.listener import ListenRules, listener_as_of
from services.features.domain.taste import PlayColumns
from services.features.settings import FeaturesSettings
from services.ingest.domain.exports import read_export_path
from services.ingest.domain.history_rows import UNKNOWN_ARTIST
from tools.lab.common import (
    PairedDifference,
    format_cutoff_table,
    format_metric_table,
    paired_difference,
    rank_by_score,
)
from tools.lab.tastes import scrobble_plays

PROTOCOL = "relisten"
TOP_K = 20
MAX_CUTOFFS = 12
WINDOW_SECONDS = 30 * 86_400
MIN_RELISTENS = 3
# Protocol A's listen is features' listen: the threshold has one home, features' setting.
LISTEN_MIN_MS = FeaturesSettings.model_fields["min_listen_ms"].default
METRICS = (f"ndcg@{TOP_K}", f"recall@{TOP_K}")
OWN_RANKER = "fullcircle"

ArtistScorer = Callable[[np.ndarray, np.ndarray, int, float], np.ndarray]

BASELINES: dict[str, ArtistScorer] = {
    "count_all": recency.listen_counts,
    "recent30": lambda ts, idx, n, at: recency.window_counts(ts, idx, n, at, 30.0),
    "exp90": lambda ts, idx, n, at: recency.decayed_counts(ts, idx, n, at, 90.0),
    "exp30": lambda ts, idx, n, at: recency.decayed_counts(ts, idx, n, at, 30.0),
    "exp14": lambda ts, idx, n, at: recency.decayed_counts(ts, idx, n, at, 14.0),
    "bll0.5": lambda ts, idx, n, at: recency.bll_activation(ts, idx, n, at, 0.5),
}


def served_weights(artist_names: Sequence[str]) -> ArtistScorer:
    """The Full-Circle ranker of protocol A: the recency weight features serves in the
    listener's profile, computed by the profile's own function (`listener_as_of`, the one the
    features worker runs) on the listens before the cutoff, with features' default rules.
    `artist_names[i]` is artist index i's name."""
    names = np.asarray(artist_names, dtype=object)
    rules = ListenRules(LISTEN_MIN_MS, FeaturesSettings.model_fields["half_life_days"].default)

    def score(ts: np.ndarray, artist_idx: np.ndarray, n_artists: int, at: float) -> np.ndarray:
        plays = PlayColumns(
            artist=list(names[artist_idx]),
            ended_at_s=ts.astype(np.float64),
            # every row here is already a listen (`_read_listens`)
            ms_played=np.full(ts.size, rules.min_listen_ms, dtype=np.int64),
            skipped=np.zeros(ts.size, dtype=bool),
        )
        listener = listener_as_of(plays, datetime.fromtimestamp(at, UTC), {}, rules)
        weight = {stats.artist: stats.decayed_weight for stats in listener.stats}
        return np.array([weight.get(str(name), 0.0) for name in names[:n_artists]])

    return score


@dataclass
class RelistenResult:
    """Per-method NDCG@20 and Recall@20 of protocol A on one history, with the cutoffs used.

    `per_cutoff` holds each method's NDCG@20 at each used cutoff, in `cutoffs` order.
    """

    dataset: str
    cutoffs: list[str]
    methods: dict[str, dict[str, float]]
    protocol: str = PROTOCOL
    per_cutoff: dict[str, list[float]] = field(default_factory=dict, compare=False)

    @property
    def best_baseline(self) -> str:
        """The fixed baseline with the highest NDCG@20 (first listed wins a tie)."""
        return max(BASELINES, key=lambda name: self.methods[name][METRICS[0]])

    def own_vs_best_baseline(self) -> PairedDifference:
        """NDCG@20 of the Full-Circle ranker minus the best fixed baseline's, cutoff by cutoff."""
        return paired_difference(
            self.per_cutoff.get(OWN_RANKER, []), self.per_cutoff.get(self.best_baseline, [])
        )

    def to_json(self) -> str:
        """One JSON object: protocol, dataset, methods {name: {metric: value}}, cutoffs."""
        return json.dumps(
            {
                "protocol": self.protocol,
                "dataset": self.dataset,
                "methods": self.methods,
                "cutoffs": self.cutoffs,
            }
        )


def _read_listens(path: Path) -> list[tuple[int, str]]:
    """Protocol A's listens through the ingest service's export parser (the one Spotify export
    reader): every format it recognises, one play per key with the longest row kept. A Last.fm
    scrobble CSV (`.csv`, tools.lab.tastes.scrobble_plays) is read as one listen per dated
    scrobble: Last.fm scrobbles a track only once half of it (or 4 minutes) has played."""
    if path.suffix.lower() == ".csv":
        scrobbles = scrobble_plays(path)
        return [
            (int(ended), artist)
            for ended, artist in zip(scrobbles.ended_at_s, scrobbles.artist, strict=True)
        ]
    listens: list[tuple[int, str]] = []
    for play in read_export_path(path).plays:
        # Ingest stores Spotify's "Unknown Artist" placeholder as None; protocol A compares
        # the export's artistName as written, so the placeholder counts as an artist here.
        artist = play.artist_name
        if artist is None and play.source == "account":
            artist = UNKNOWN_ARTIST
        if play.ms_played >= LISTEN_MIN_MS and artist is not None:
            listens.append((int(play.ended_at.timestamp()), artist))
    return listens


def load_listens(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Listens (plays of >= 30 s) of a history: end times in Unix seconds and artist names."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no listening history at {path}: pass an export zip or folder")
    listens = _read_listens(path)
    listens.sort()
    ts = np.array([ended for ended, _ in listens], dtype=np.int64)
    return ts, [artist for _, artist in listens]


def _month_start(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp())


def relisten_cutoffs(
    first_listen: int, last_listen: int, max_cutoffs: int = MAX_CUTOFFS
) -> list[int]:
    """Month starts T (UTC, oldest first) with T + 30 d <= last listen and T >= first + 30 d."""
    last = datetime.fromtimestamp(last_listen, tz=UTC)
    year, month = last.year, last.month
    cutoffs: list[int] = []
    while len(cutoffs) < max_cutoffs:
        cutoff = _month_start(year, month)
        if cutoff < first_listen + WINDOW_SECONDS:
            break
        if cutoff + WINDOW_SECONDS <= last_listen:
            cutoffs.append(cutoff)
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return cutoffs[::-1]


def _dataset_name(path: Path, development: bool) -> str:
    name = path.name if path.is_dir() else f"{path.parent.name}/{path.name}"
    return f"{name} (development: before the first official cutoff)" if development else name


def development_listens(ts: np.ndarray) -> np.ndarray:
    """Which listens a development run keeps: those before protocol A's first official
    cutoff, so the run's own cutoffs (the month rule applied to these listens alone) and
    their answer windows lie in rows every official cutoff trains on; no held-out row is seen."""
    official = relisten_cutoffs(int(ts[0]), int(ts[-1]))
    return ts < official[0] if official else np.zeros(ts.size, dtype=bool)


def run_relisten(path: str | Path, development: bool = False) -> RelistenResult:
    """Run protocol A on the history at `path` for every baseline and the Full-Circle model;
    with `development`, on the part of it before the first official cutoff only (for
    choosing how the model is built without looking at the held-out months)."""
    path = Path(path)
    ts, artist_names = load_listens(path)
    if ts.size == 0:
        raise ValueError(f"{path} holds no music listens of 30 s or more")
    if development:
        kept = development_listens(ts)
        ts, artist_names = ts[kept], [name for name, k in zip(artist_names, kept, strict=True) if k]
        if ts.size == 0:
            raise ValueError(f"{path} has no listens before its first official cutoff")
    names = sorted(set(artist_names))
    name_rank = {name: i for i, name in enumerate(names)}
    # Artist ids follow code-point name order, so ties by id are ties by name.
    artist_idx = np.array([name_rank[name] for name in artist_names], dtype=np.int64)
    n_artists = len(names)
    methods = {**BASELINES, OWN_RANKER: served_weights(names)}
    sums = {name: np.zeros(len(METRICS)) for name in methods}
    per_cutoff: dict[str, list[float]] = {name: [] for name in methods}
    used: list[str] = []
    for cutoff in relisten_cutoffs(int(ts[0]), int(ts[-1])):
        known = recency.listen_counts(ts, artist_idx, n_artists, cutoff) > 0
        upcoming = (ts >= cutoff) & (ts < cutoff + WINDOW_SECONDS)
        next_month = np.bincount(artist_idx[upcoming], minlength=n_artists)
        relevant = known & (next_month >= MIN_RELISTENS)
        n_relevant = int(relevant.sum())
        if n_relevant == 0:
            continue
        used.append(datetime.fromtimestamp(cutoff, tz=UTC).date().isoformat())
        candidates = np.flatnonzero(known)
        for name, scorer in methods.items():
            scores = scorer(ts, artist_idx, n_artists, float(cutoff))[candidates]
            hits = relevant[candidates[rank_by_score(scores, candidates)]]
            ndcg = ndcg_at_k(hits, n_relevant, TOP_K)
            per_cutoff[name].append(ndcg)
            sums[name] += (ndcg, recall_at_k(hits, n_relevant, TOP_K))
    if development and not used:
        raise ValueError(
            f"{path}: no month before the first official cutoff qualifies for a development run"
        )
    n_used = max(len(used), 1)
    means = {
        name: {metric: float(total[i] / n_used) for i, metric in enumerate(METRICS)}
        for name, total in sums.items()
    }
    return RelistenResult(
        _dataset_name(path, development),
        used,
        means,
        per_cutoff=per_cutoff,
    )


def format_table(result: RelistenResult, per_cutoff: bool = False) -> str:
    """Plain-text table of protocol A, methods as rows, the best fixed baseline marked, then
    the paired comparison of the Full-Circle ranker with it (and per-cutoff NDCG@20 if asked)."""
    title = (
        f"Protocol A (relistening) on {result.dataset}: "
        f"{len(result.cutoffs)} cutoffs {result.cutoffs[0] if result.cutoffs else '-'}"
        f" .. {result.cutoffs[-1] if result.cutoffs else '-'}"
    )
    table = format_metric_table(
        result.methods, METRICS, marks={result.best_baseline: "<- best fixed baseline"}
    )
    lines = [title, table]
    if result.per_cutoff.get(OWN_RANKER):
        lines.append(
            f"{OWN_RANKER} - {result.best_baseline}, {METRICS[0]} per cutoff: "
            f"{result.own_vs_best_baseline().describe()}"
        )
    if per_cutoff and result.per_cutoff:
        lines.append(format_cutoff_table(result.cutoffs, result.per_cutoff, METRICS[0]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m tools.lab.relisten PATH [--json]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("history", type=Path, help="export zip, folder or JSON file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--per-cutoff", action="store_true", help="also print NDCG@20 of every method per cutoff"
    )
    parser.add_argument(
        "--development",
        action="store_true",
        help="run on the listens before the first official cutoff only (for tuning)",
    )
    args = parser.parse_args(argv)
    try:
        result = run_relisten(args.history, development=args.development)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(result.to_json() if args.json else format_table(result, per_cutoff=args.per_cutoff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
