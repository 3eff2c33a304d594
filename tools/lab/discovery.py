"""Protocol B of EVALUATION.md: discovery of new artists on HetRec 2011 Last.fm 2K.

Splits every listener's artists, scores the whole catalog with the baselines and the hybrid.
Beside NDCG@10 and Recall@10, every method reports what accuracy hides: catalog coverage (the
share of the catalog's artists that appear in anyone's top 10) and the median popularity
percentile of the artists it recommends (each recommended artist's percentile among the
catalog by training listeners, 0 the least listened, 1 the most; the median over every top-10
slot of every listener). MostPop sits near 1.0 with a tiny coverage; a method that finds
discoveries reads lower on popularity and higher on coverage.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import rankdata

from fullcircle.ranking import ndcg_at_k, recall_at_k
from services.model.domain.scoring import (
    ArtistSpace,
    HybridWeights,
    batch_scores,
)

PROTOCOL = "B"
DATASET = "hetrec2011-lastfm-2k"
SEEDS = (42, 43, 44)
CUTOFF = 10
MIN_ARTISTS = 5
HELDOUT_SHARE = 0.2
EASE_LAMBDA = 300.0
EASE_MIN_LISTENERS = 2
IALS_FACTORS = 64
SCORE_CHUNK = 256

# Decided on validation splits carved from the training rows only (see scoring.py).
SIMILAR_NEIGHBOURS = 1000
SIMILAR_ASYMMETRY = 0.8
DEFAULT_HYBRID_WEIGHTS = HybridWeights()


@dataclass(frozen=True)
class HetrecDataset:
    """The catalog, the kept listeners' artist rows in file order and artist tag counts."""

    artist_ids: np.ndarray  # catalog: every artist id in user_artists.dat, ascending
    listener_ids: np.ndarray  # listeners with at least MIN_ARTISTS artists, ascending
    row_listener: np.ndarray  # per kept row: listener index (rows grouped, file order)
    row_artist: np.ndarray  # per kept row: catalog index
    row_plays: np.ndarray  # per kept row: play count
    artist_tag_counts: sp.csr_matrix  # catalog x tags: assignments of each tag (all users)
    tag_names: tuple[str, ...]
    artist_names: tuple[str, ...]  # per catalog index; "artist <id>" when artists.dat lacks it


@dataclass(frozen=True)
class DiscoverySplit:
    """Training plays (listeners x catalog) and each listener's held-out catalog indices."""

    training_plays: sp.csr_matrix
    heldout: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class MethodMetrics:
    """Averages over evaluated listeners for one method."""

    ndcg_at_10: float
    recall_at_10: float
    seconds: float
    coverage: float = 0.0  # share of the catalog in anyone's top 10
    median_popularity: float = 0.0  # median popularity percentile of the recommended artists


@dataclass(frozen=True)
class DiscoveryResult:
    """One protocol-B run: per-method metrics for one seed."""

    seed: int
    listeners_evaluated: int
    methods: dict[str, MethodMetrics] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        """The JSON object `--json` prints for this seed."""
        return {
            "protocol": PROTOCOL,
            "dataset": DATASET,
            "seed": self.seed,
            "cutoff": CUTOFF,
            "listeners_evaluated": self.listeners_evaluated,
            "seconds": round(self.seconds, 2),
            "methods": {
                name: {
                    "ndcg@10": metrics.ndcg_at_10,
                    "recall@10": metrics.recall_at_10,
                    "coverage@10": metrics.coverage,
                    "median_popularity_percentile@10": metrics.median_popularity,
                    "seconds": round(metrics.seconds, 2),
                }
                for name, metrics in self.methods.items()
            },
        }


ListenerScorer = Callable[[range, sp.csr_matrix], np.ndarray]
"""Maps a block of listeners (their indices, their training play rows) to catalog scores."""


def load_hetrec(hetrec_dir: Path) -> HetrecDataset:
    """Read user_artists.dat, user_taggedartists.dat, tags.dat and artists.dat."""
    listens = pd.read_csv(hetrec_dir / "user_artists.dat", sep="\t")
    tagged = pd.read_csv(hetrec_dir / "user_taggedartists.dat", sep="\t")
    tags = pd.read_csv(hetrec_dir / "tags.dat", sep="\t", encoding="latin-1")
    artists = pd.read_csv(hetrec_dir / "artists.dat", sep="\t", usecols=["id", "name"], quoting=3)

    artist_ids = np.unique(listens["artistID"].to_numpy())
    artist_counts = listens.groupby("userID", sort=True).size()
    kept = artist_counts[artist_counts >= MIN_ARTISTS].index.to_numpy()
    # A stable sort by listener keeps each listener's rows in file order.
    rows = listens[listens["userID"].isin(kept)]
    rows = rows.iloc[np.argsort(rows["userID"].to_numpy(), kind="stable")]

    tagged = tagged[tagged["artistID"].isin(artist_ids)]
    tag_ids = np.unique(tagged["tagID"].to_numpy())
    tag_counts = sp.csr_matrix(
        (
            np.ones(len(tagged)),
            (
                np.searchsorted(artist_ids, tagged["artistID"].to_numpy()),
                np.searchsorted(tag_ids, tagged["tagID"].to_numpy()),
            ),
        ),
        shape=(len(artist_ids), len(tag_ids)),
    )
    tag_value = dict(zip(tags["tagID"], tags["tagValue"].astype(str), strict=True))
    artist_name = dict(zip(artists["id"], artists["name"].astype(str), strict=True))
    return HetrecDataset(
        artist_ids=artist_ids,
        listener_ids=kept,
        row_listener=np.searchsorted(kept, rows["userID"].to_numpy()),
        row_artist=np.searchsorted(artist_ids, rows["artistID"].to_numpy()),
        row_plays=rows["weight"].to_numpy().astype(np.float64),
        artist_tag_counts=tag_counts,
        tag_names=tuple(tag_value.get(t, f"tag {t}") for t in tag_ids),
        artist_names=tuple(artist_name.get(a, f"artist {a}") for a in artist_ids),
    )


def split_listeners(dataset: HetrecDataset, seed: int) -> DiscoverySplit:
    """Hold out perm[:k] of each listener's rows, k = max(1, round(0.2 n)), one generator."""
    rng = np.random.default_rng(seed)
    starts = np.flatnonzero(np.r_[True, np.diff(dataset.row_listener) != 0])
    ends = np.r_[starts[1:], len(dataset.row_listener)]
    in_training = np.ones(len(dataset.row_listener), dtype=bool)
    heldout: list[np.ndarray] = []
    for start, end in zip(starts, ends, strict=True):
        n = int(end - start)
        k = max(1, round(HELDOUT_SHARE * n))
        held = start + rng.permutation(n)[:k]
        in_training[held] = False
        heldout.append(np.sort(dataset.row_artist[held]))
    training_plays = sp.csr_matrix(
        (
            dataset.row_plays[in_training],
            (dataset.row_listener[in_training], dataset.row_artist[in_training]),
        ),
        shape=(len(dataset.listener_ids), len(dataset.artist_ids)),
    )
    return DiscoverySplit(training_plays=training_plays, heldout=tuple(heldout))


def listener_weights(training_plays: sp.csr_matrix) -> sp.csr_matrix:
    """x_ui = log(1 + w_ui) on the training rows."""
    weights = training_plays.copy()
    weights.data = np.log1p(weights.data)
    return weights


def top_artists(scores: np.ndarray, excluded: np.ndarray, cutoff: int = CUTOFF) -> np.ndarray:
    """Catalog indices of the best `cutoff` scores, excluded removed, ties by lower artist id."""
    scores = scores.astype(np.float64, copy=True)
    scores[excluded] = -np.inf
    threshold = np.partition(scores, -cutoff)[-cutoff]
    contenders = np.flatnonzero(scores >= threshold)
    order = np.argsort(-scores[contenders], kind="stable")
    return contenders[order[:cutoff]]


def ndcg_recall(
    ranked: np.ndarray, heldout: np.ndarray, cutoff: int = CUTOFF
) -> tuple[float, float]:
    """Binary NDCG@cutoff (ideal over min(cutoff, held-out) hits) and Recall@cutoff."""
    hits = np.isin(ranked[:cutoff], heldout)
    return (
        ndcg_at_k(hits, len(heldout), cutoff),
        recall_at_k(hits, len(heldout), cutoff),
    )


def popularity_percentiles(training_plays: sp.csr_matrix) -> np.ndarray:
    """Per catalog artist: its percentile by training listeners, 0 (fewest) to 1 (most), ties
    at their mean rank."""
    listeners = np.asarray((training_plays > 0).sum(axis=0), dtype=np.float64).ravel()
    if listeners.size < 2:
        return np.full(listeners.size, 0.5)
    return (rankdata(listeners, method="average") - 1.0) / (listeners.size - 1)


def evaluate_scorer(scorer: ListenerScorer, split: DiscoverySplit) -> MethodMetrics:
    """Rank the catalog for every listener in blocks and average NDCG@10 / Recall@10; the
    catalog coverage and median popularity percentile of everyone's top 10."""
    started = time.perf_counter()
    ndcgs: list[float] = []
    recalls: list[float] = []
    recommended: list[np.ndarray] = []
    plays = split.training_plays
    for block_start in range(0, plays.shape[0], SCORE_CHUNK):
        block = plays[block_start : block_start + SCORE_CHUNK]
        listeners = range(block_start, block_start + block.shape[0])
        block_scores = np.asarray(scorer(listeners, block))
        for offset in range(block.shape[0]):
            listener = block_start + offset
            known = block.indices[block.indptr[offset] : block.indptr[offset + 1]]
            ranked = top_artists(block_scores[offset], known)
            ndcg, recall = ndcg_recall(ranked, split.heldout[listener])
            ndcgs.append(ndcg)
            recalls.append(recall)
            recommended.append(ranked)
    slots = np.concatenate(recommended)
    return MethodMetrics(
        ndcg_at_10=math.fsum(ndcgs) / len(ndcgs),
        recall_at_10=math.fsum(recalls) / len(recalls),
        seconds=time.perf_counter() - started,
        coverage=np.unique(slots).size / plays.shape[1],
        median_popularity=float(np.median(popularity_percentiles(plays)[slots])),
    )


def most_popular(training_plays: sp.csr_matrix) -> ListenerScorer:
    """MostPop: the number of training listeners per artist, the same for everyone."""
    listeners = np.asarray((training_plays > 0).sum(axis=0), dtype=np.float64).ravel()
    return lambda _, block: np.broadcast_to(listeners, (block.shape[0], listeners.size))


def item_knn(training_plays: sp.csr_matrix) -> ListenerScorer:
    """ItemKNN: score_j = sum_i x_ui cos(i, j), cosine over binary training rows, cos(j,j)=0."""
    binary = (training_plays > 0).astype(np.float64).tocsc()
    norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    co_listens = (binary.T @ binary).tocsr()
    cosine = sp.diags(inverse) @ co_listens @ sp.diags(inverse)
    cosine = sp.csr_matrix(cosine)
    cosine.setdiag(0.0)
    cosine.eliminate_zeros()
    return lambda _, block: (listener_weights(block) @ cosine).toarray()


def tag_cosine(artist_tag_counts: sp.csr_matrix) -> ListenerScorer:
    """TagCosine: unit-length artist tag vectors, profile p_u = sum_i x_ui t_i, score t_j.p_u."""
    norms = np.sqrt(np.asarray(artist_tag_counts.multiply(artist_tag_counts).sum(axis=1)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit_tags = sp.csr_matrix(sp.diags(inverse) @ artist_tag_counts)

    def score(_: range, block: sp.csr_matrix) -> np.ndarray:
        profiles = (listener_weights(block) @ unit_tags).toarray()
        return np.asarray(unit_tags @ profiles.T).T

    return score


def ease(training_plays: sp.csr_matrix, regularisation: float = EASE_LAMBDA) -> ListenerScorer:
    """EASE (Steck 2019), closed form on artists with >= 2 training listeners (float64)."""
    binary = (training_plays > 0).astype(np.float64).tocsc()
    listeners = np.asarray(binary.sum(axis=0)).ravel()
    active = np.flatnonzero(listeners >= EASE_MIN_LISTENERS)
    active_binary = binary[:, active]
    gram = (active_binary.T @ active_binary).toarray()
    gram[np.diag_indices_from(gram)] += regularisation
    precision = np.linalg.inv(gram)
    item_weights = precision / (-np.diag(precision))
    item_weights[np.diag_indices_from(item_weights)] = 0.0
    n_artists = training_plays.shape[1]

    def score(_: range, block: sp.csr_matrix) -> np.ndarray:
        binary_block = (block > 0).astype(np.float64)[:, active]
        scores = np.zeros((block.shape[0], n_artists))
        scores[:, active] = binary_block @ item_weights
        return scores

    return score


def implicit_als(training_plays: sp.csr_matrix, seed: int) -> ListenerScorer | None:
    """iALS(64 factors) from `implicit`, a benchmark-only dependency; None when not installed."""
    try:
        from implicit.cpu.als import AlternatingLeastSquares
    except ImportError:
        return None
    confidence = listener_weights(training_plays).astype(np.float32)
    model = AlternatingLeastSquares(
        factors=IALS_FACTORS, regularization=0.05, alpha=2.0, iterations=15, random_state=seed
    )
    model.fit(confidence, show_progress=False)
    listener_factors = np.asarray(model.user_factors)
    artist_factors = np.asarray(model.item_factors)
    return lambda listeners, _: (
        listener_factors[listeners.start : listeners.stop] @ artist_factors.T
    )


def hybrid(
    dataset: HetrecDataset,
    training_plays: sp.csr_matrix,
    hybrid_weights: HybridWeights = DEFAULT_HYBRID_WEIGHTS,
) -> ListenerScorer:
    """The project's hybrid scorer fed with dataset tags and a training-only similar graph."""
    space = hybrid_space(dataset, training_plays)
    return lambda _, block: batch_scores(space, block, hybrid_weights)


def hybrid_space(dataset: HetrecDataset, training_plays: sp.csr_matrix) -> ArtistSpace:
    """The hybrid's inputs: dataset tag counts, training listeners, training-only graph."""
    listeners = np.asarray((training_plays > 0).sum(axis=0), dtype=np.float64).ravel()
    return ArtistSpace.from_matrices(
        similar_artists=similar_artists_from_listeners(training_plays),
        artist_tags=dataset.artist_tag_counts,
        listeners=listeners,
        popularity_reference=float(listeners.max()),
    )


def similar_artists_from_listeners(
    training_plays: sp.csr_matrix,
    neighbours: int = SIMILAR_NEIGHBOURS,
    asymmetry: float = SIMILAR_ASYMMETRY,
) -> sp.csr_matrix:
    """A Last.fm-like similar-artists list from co-listening: per artist i, the top
    `neighbours` artists j by c_ij / (n_i^a n_j^(1-a)), matches scaled so the best is 1."""
    binary = (training_plays > 0).astype(np.float64).tocsc()
    listeners = np.maximum(np.asarray(binary.sum(axis=0)).ravel(), 1.0)
    co_listens = sp.csr_matrix(binary.T @ binary)
    co_listens.setdiag(0.0)
    co_listens.eliminate_zeros()
    similarity = sp.csr_matrix(
        sp.diags(listeners**-asymmetry) @ co_listens @ sp.diags(listeners ** (asymmetry - 1.0))
    )
    rows: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    matches: list[np.ndarray] = []
    for artist in range(similarity.shape[0]):
        start, end = similarity.indptr[artist], similarity.indptr[artist + 1]
        if end == start:
            continue
        values = similarity.data[start:end]
        similar = similarity.indices[start:end]
        if end - start > neighbours:
            best = np.argpartition(-values, neighbours - 1)[:neighbours]
            values, similar = values[best], similar[best]
        rows.append(np.full(similar.size, artist))
        columns.append(similar)
        matches.append(values / values.max())
    return sp.csr_matrix(
        (np.concatenate(matches), (np.concatenate(rows), np.concatenate(columns))),
        shape=similarity.shape,
    )


def run_discovery(
    hetrec_dir: Path, seed: int, dataset: HetrecDataset | None = None
) -> DiscoveryResult:
    """Run protocol B for one seed: every baseline and the hybrid on the same split."""
    started = time.perf_counter()
    dataset = dataset if dataset is not None else load_hetrec(hetrec_dir)
    split = split_listeners(dataset, seed)
    builders: list[tuple[str, Callable[[], ListenerScorer | None]]] = [
        ("MostPop", lambda: most_popular(split.training_plays)),
        ("TagCosine", lambda: tag_cosine(dataset.artist_tag_counts)),
        ("ItemKNN", lambda: item_knn(split.training_plays)),
        ("EASE", lambda: ease(split.training_plays)),
        ("iALS", lambda: implicit_als(split.training_plays, seed)),
        ("Hybrid", lambda: hybrid(dataset, split.training_plays)),
    ]
    methods: dict[str, MethodMetrics] = {}
    for name, build in builders:
        build_started = time.perf_counter()
        scorer = build()
        if scorer is None:
            continue
        build_seconds = time.perf_counter() - build_started
        metrics = evaluate_scorer(scorer, split)
        methods[name] = replace(metrics, seconds=metrics.seconds + build_seconds)
    return DiscoveryResult(
        seed=seed,
        listeners_evaluated=len(split.heldout),
        methods=methods,
        seconds=time.perf_counter() - started,
    )


def format_table(results: Sequence[DiscoveryResult]) -> str:
    """A plain-text table: one row per method, NDCG@10 / Recall@10 per seed, then the mean
    NDCG@10 and, over the seeds, the mean catalog coverage and median popularity percentile
    of the top 10."""
    methods = list(dict.fromkeys(name for result in results for name in result.methods))
    header = ["method"] + [f"seed {r.seed} ndcg@10  recall@10" for r in results]
    header += ["mean ndcg@10", "coverage@10", "popularity@10"]
    lines = ["  ".join(header)]
    for name in methods:
        cells = [f"{name:<9}"]
        for result in results:
            metrics = result.methods.get(name)
            cells.append(
                f"{'':>5}{metrics.ndcg_at_10:.4f}     {metrics.recall_at_10:.4f}   "
                if metrics
                else f"{'':>5}{'-':>6}     {'-':>6}   "
            )
        seen = [r.methods[name] for r in results if name in r.methods]
        cells.append(f"{statistics.fmean(m.ndcg_at_10 for m in seen):>12.4f}")
        cells.append(f"{statistics.fmean(m.coverage for m in seen):>11.4f}")
        cells.append(f"{statistics.fmean(m.median_popularity for m in seen):>13.4f}")
        lines.append("  ".join(cells))
    lines.append(
        "listeners evaluated: "
        + ", ".join(f"{r.listeners_evaluated} (seed {r.seed}, {r.seconds:.1f} s)" for r in results)
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tools.lab.discovery --hetrec DIR [--seed N] [--json]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hetrec", type=Path, required=True, help="hetrec2011-lastfm-2k folder")
    parser.add_argument("--seed", type=int, action="append", help="seed (default: 42 43 44)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per seed")
    args = parser.parse_args(argv)
    if not (args.hetrec / "user_artists.dat").is_file():
        parser.error(f"{args.hetrec} has no user_artists.dat: pass the hetrec2011-lastfm-2k folder")
    dataset = load_hetrec(args.hetrec)
    results = [run_discovery(args.hetrec, seed, dataset) for seed in (args.seed or SEEDS)]
    if args.json:
        for result in results:
            print(json.dumps(result.to_json()))
    else:
        print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
