"""Protocol B on the real HetRec Last.fm 2K files, checked against a separate plain reading."""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tools.lab import discovery

HETREC = Path(__file__).resolve().parents[3] / "shared" / "data" / "hetrec2011-lastfm-2k"
SEED = 42

pytestmark = pytest.mark.skipif(
    not (HETREC / "user_artists.dat").is_file(), reason="../shared/data/hetrec2011-lastfm-2k absent"
)


@pytest.fixture(scope="module")
def dataset() -> discovery.HetrecDataset:
    return discovery.load_hetrec(HETREC)


@pytest.fixture(scope="module")
def split(dataset: discovery.HetrecDataset) -> discovery.DiscoverySplit:
    return discovery.split_listeners(dataset, SEED)


def _read_rows(name: str) -> list[dict[str, str]]:
    with open(HETREC / name, newline="", encoding="latin-1") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="module")
def plain_protocol() -> dict[str, float]:
    """Protocol B written out with dicts and loops, sharing no code with the harness."""
    plays_by_listener: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for row in _read_rows("user_artists.dat"):
        plays_by_listener[int(row["userID"])].append((int(row["artistID"]), float(row["weight"])))
    catalog = sorted({artist for rows in plays_by_listener.values() for artist, _ in rows})
    position = {artist: i for i, artist in enumerate(catalog)}

    rng = np.random.default_rng(SEED)
    training: dict[int, dict[int, float]] = {}
    heldout: dict[int, set[int]] = {}
    for listener in sorted(plays_by_listener):
        rows = plays_by_listener[listener]
        if len(rows) < 5:
            continue
        k = max(1, round(0.2 * len(rows)))
        held = set(rng.permutation(len(rows))[:k].tolist())
        heldout[listener] = {rows[i][0] for i in held}
        training[listener] = {a: w for i, (a, w) in enumerate(rows) if i not in held}

    listeners = sorted(training)
    binary = np.zeros((len(listeners), len(catalog)))
    log_plays = np.zeros((len(listeners), len(catalog)))
    for index, listener in enumerate(listeners):
        for artist, plays in training[listener].items():
            binary[index, position[artist]] = 1.0
            log_plays[index, position[artist]] = math.log(1.0 + plays)

    popularity = Counter(a for listener in listeners for a in training[listener])
    most_popular = np.array([popularity[a] for a in catalog], dtype=float)

    # Dense cosine, factored so the catalog x catalog matrix is never materialised;
    # cos(j, j) only touches the listener's own artists, which are excluded from ranking.
    norms = np.sqrt(binary.sum(axis=0))
    inverse = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
    through_listeners = (log_plays * inverse) @ binary.T
    item_knn = (through_listeners @ binary) * inverse

    tag_vectors: dict[int, Counter[str]] = defaultdict(Counter)
    for row in _read_rows("user_taggedartists.dat"):
        artist = int(row["artistID"])
        if artist in position:
            tag_vectors[artist][row["tagID"]] += 1
    tag_names = sorted({tag for tags in tag_vectors.values() for tag in tags})
    tag_position = {tag: i for i, tag in enumerate(tag_names)}
    unit_rows: list[int] = []
    unit_columns: list[int] = []
    unit_values: list[float] = []
    for artist, tags in tag_vectors.items():
        length = math.sqrt(sum(count * count for count in tags.values()))
        for tag, count in tags.items():
            unit_rows.append(position[artist])
            unit_columns.append(tag_position[tag])
            unit_values.append(count / length)
    unit_tags = sp.csr_matrix(
        (unit_values, (unit_rows, unit_columns)), shape=(len(catalog), len(tag_names))
    )

    unit_tag_vectors = {
        artist: {
            tag: count / math.sqrt(sum(c * c for c in tags.values())) for tag, count in tags.items()
        }
        for artist, tags in tag_vectors.items()
    }
    catalog_ids = np.array(catalog)
    totals: dict[str, list[float]] = defaultdict(list)
    for index, listener in enumerate(listeners):
        known = np.array([position[a] for a in training[listener]])
        profile = np.zeros(len(tag_names))
        for artist, plays in training[listener].items():
            for tag, share in unit_tag_vectors.get(artist, {}).items():
                profile[tag_position[tag]] += math.log(1.0 + plays) * share
        for method, scores in (
            ("MostPop", most_popular.copy()),
            ("ItemKNN", item_knn[index].copy()),
            ("TagCosine", unit_tags @ profile),
        ):
            scores[known] = -np.inf
            top = catalog_ids[np.lexsort((catalog_ids, -scores))[:10]]
            held = heldout[listener]
            dcg = sum(1.0 / math.log2(rank + 2) for rank, a in enumerate(top) if a in held)
            ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(10, len(held))))
            totals[f"{method} ndcg"].append(dcg / ideal)
            totals[f"{method} recall"].append(sum(a in held for a in top) / len(held))
    results = {name: sum(values) / len(values) for name, values in totals.items()}
    results["listeners"] = float(len(listeners))
    return results


def test_split_drops_short_listeners_and_holds_out_a_fifth(
    dataset: discovery.HetrecDataset, split: discovery.DiscoverySplit
) -> None:
    assert len(dataset.artist_ids) == 17632
    assert len(dataset.listener_ids) == 1877
    per_listener = np.bincount(dataset.row_listener)
    held = np.array([len(h) for h in split.heldout])
    assert np.array_equal(held, np.maximum(1, np.round(0.2 * per_listener).astype(int)))
    assert split.training_plays.nnz + held.sum() == len(dataset.row_listener)


@pytest.mark.parametrize(
    ("method", "build"),
    [
        ("MostPop", lambda ds, s: discovery.most_popular(s.training_plays)),
        ("ItemKNN", lambda ds, s: discovery.item_knn(s.training_plays)),
        ("TagCosine", lambda ds, s: discovery.tag_cosine(ds.artist_tag_counts)),
    ],
)
def test_baselines_match_a_plain_implementation(
    dataset: discovery.HetrecDataset,
    split: discovery.DiscoverySplit,
    plain_protocol: dict[str, float],
    method: str,
    build: object,
) -> None:
    scorer = build(dataset, split)  # type: ignore[operator]
    metrics = discovery.evaluate_scorer(scorer, split)
    assert len(split.heldout) == plain_protocol["listeners"]
    assert metrics.ndcg_at_10 == pytest.approx(plain_protocol[f"{method} ndcg"], abs=1e-9)
    assert metrics.recall_at_10 == pytest.approx(plain_protocol[f"{method} recall"], abs=1e-9)


def test_reference_points_of_evaluation_md(plain_protocol: dict[str, float]) -> None:
    assert plain_protocol["MostPop ndcg"] == pytest.approx(0.080, abs=0.0005)
    assert plain_protocol["TagCosine ndcg"] == pytest.approx(0.118, abs=0.001)
    assert plain_protocol["ItemKNN ndcg"] == pytest.approx(0.220, abs=0.001)


def test_hybrid_beats_every_baseline_on_seed_42(
    dataset: discovery.HetrecDataset, split: discovery.DiscoverySplit
) -> None:
    """The shipped defaults (chosen on training-only validation splits) on the real split."""
    hybrid = discovery.evaluate_scorer(discovery.hybrid(dataset, split.training_plays), split)
    baselines = {
        "MostPop": discovery.most_popular(split.training_plays),
        "TagCosine": discovery.tag_cosine(dataset.artist_tag_counts),
        "ItemKNN": discovery.item_knn(split.training_plays),
        "EASE": discovery.ease(split.training_plays),
        "iALS": discovery.implicit_als(split.training_plays, SEED),
    }
    for name, scorer in baselines.items():
        if scorer is None:  # `implicit` is a benchmark-only extra
            continue
        metrics = discovery.evaluate_scorer(scorer, split)
        assert hybrid.ndcg_at_10 > metrics.ndcg_at_10, name
        assert hybrid.recall_at_10 > metrics.recall_at_10, name


def test_top_artists_breaks_ties_by_lower_artist_id() -> None:
    scores = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
    ranked = discovery.top_artists(scores, excluded=np.array([2]), cutoff=3)
    assert ranked.tolist() == [1, 4, 3]


def test_json_and_table_name_every_method() -> None:
    result = discovery.DiscoveryResult(
        seed=42,
        listeners_evaluated=3,
        methods={"MostPop": discovery.MethodMetrics(0.1, 0.2, 0.5)},
    )
    payload = result.to_json()
    assert payload["protocol"] == "B"
    assert payload["seed"] == 42
    assert payload["methods"] == {
        "MostPop": {
            "ndcg@10": 0.1,
            "recall@10": 0.2,
            "coverage@10": 0.0,
            "median_popularity_percentile@10": 0.0,
            "seconds": 0.5,
        }
    }
    assert "MostPop" in discovery.format_table([result])


def test_coverage_and_popularity_tell_most_pop_from_a_method_that_discovers(
    dataset: discovery.HetrecDataset, split: discovery.DiscoverySplit
) -> None:
    """MostPop gives everyone the same head of the catalog: a few artists, all near the top
    percentile; ItemKNN reaches further into the catalog and recommends less popular artists."""
    most_pop = discovery.evaluate_scorer(discovery.most_popular(split.training_plays), split)
    knn = discovery.evaluate_scorer(discovery.item_knn(split.training_plays), split)
    catalog = split.training_plays.shape[1]
    assert most_pop.coverage * catalog <= 10 + 20  # the top 10, and the next for who played them
    assert most_pop.median_popularity > 0.99
    assert knn.coverage > 5 * most_pop.coverage
    assert knn.median_popularity < most_pop.median_popularity
    percentiles = discovery.popularity_percentiles(split.training_plays)
    listeners = np.asarray((split.training_plays > 0).sum(axis=0)).ravel()
    by_listeners = np.argsort(listeners, kind="stable")
    assert percentiles.min() >= 0.0 and percentiles.max() == 1.0
    assert np.all(np.diff(percentiles[by_listeners]) >= 0), "more listeners, lower percentile"
