"""Model speed: training one listener's model (time-ordered holdout, liked-artist forest with
cross-validated hyperparameters, learned part weights, final forest) for a generated listener
with 3,000 artists over 1,500 tags; scoring and explaining 500 candidates; what explaining
the liked-artist forest (liked.liked_causes) costs over only predicting (liked_probabilities);
the process's peak memory. Each figure is printed with its ratio to the target, and the
training and scoring times also against a ceiling measured in the same run: a plain numpy
product of an artists x tags matrix with its transpose (the work any tag-based model of this
listener must at least do).

python -m bench model_train [--artists 3000] [--tags 1500] [--candidates 500] [--seed 0]
    [--classifier-settings 3] [--weight-trials 400] [--refine-passes 10]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from services.model.domain.explanation import explain
from services.model.domain.learning import (
    Holdout,
    ListenerView,
    SearchSettings,
    holdout_cutoff,
    positives_after,
    serving_inputs,
    train_model,
)
from services.model.domain.liked import (
    PARAM_GRID,
    ArtistHistory,
    LabelRule,
    liked_causes,
    liked_examples,
    liked_probabilities,
)
from services.model.domain.scoring import HybridWeights, ScoringInputs, score_candidates

TRAIN_TARGET_S = 10.0
SCORE_TARGET_S = 0.050
MEMORY_TARGET_MB = 500.0
TAGS_PER_ARTIST = 12
SIMILAR_PER_ARTIST = 50
SEED_ARTISTS = 300  # the service loads the similar artists of its 300 strongest (settings)


def generated_listener(
    n_artists: int, n_tags: int, n_candidates: int, seed: int = 7
) -> tuple[ScoringInputs, list[ArtistHistory], dict[str, datetime], list[str]]:
    """A listener whose liking follows a few favourite tags, their artists' histories and
    first listens over three years, and a pool of unknown candidates."""
    rng = np.random.default_rng(seed)
    names = [f"artist {i:05d}" for i in range(n_artists + n_candidates)]
    tags = [f"tag {i:04d}" for i in range(n_tags)]
    tag_popularity = 1.0 / np.arange(1, n_tags + 1)
    tag_popularity /= tag_popularity.sum()
    favourite = set(rng.choice(n_tags, size=40, replace=False).tolist())
    artist_tags: dict[str, dict[str, float]] = {}
    affinity = np.zeros(len(names))
    for i, name in enumerate(names):
        chosen = rng.choice(n_tags, size=TAGS_PER_ARTIST, replace=False, p=tag_popularity)
        artist_tags[name] = {tags[t]: float(rng.integers(1, 101)) for t in chosen}
        affinity[i] = sum(1 for t in chosen if t in favourite)
    listeners = {name: float(rng.lognormal(9.0, 2.0)) for name in names}
    similar = {
        name: [
            (names[j], float(rng.uniform(0.05, 1.0)))
            for j in rng.choice(len(names), size=SIMILAR_PER_ARTIST, replace=False)
            if j != i
        ]
        for i, name in enumerate(names[:SEED_ARTISTS])
    }
    start = datetime(2023, 1, 1, tzinfo=UTC)
    histories: list[ArtistHistory] = []
    first_listens: dict[str, datetime] = {}
    for i, name in enumerate(names[:n_artists]):
        plays = int(rng.geometric(0.2 / (1.0 + affinity[i])))
        skips = int(rng.binomial(plays, 0.6 if affinity[i] == 0 else 0.15))
        histories.append(
            ArtistHistory(name, plays, plays - skips, skips, (plays - skips) * rng.uniform(0.2, 1))
        )
        first_listens[name] = start + timedelta(days=float(rng.uniform(0, 3 * 365)))
    known = {h.artist: h.decayed_weight for h in histories if h.decayed_weight > 0}
    scoring = ScoringInputs(
        known_artists=known,
        artist_tags=artist_tags,
        similar_artists=similar,
        listeners=listeners,
        popularity_reference=max(listeners.values()),
    )
    return scoring, histories, first_listens, names[n_artists:]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench model_train")
    parser.add_argument("--artists", type=int, default=3_000)
    parser.add_argument("--tags", type=int, default=1_500)
    parser.add_argument("--candidates", type=int, default=500)
    defaults = SearchSettings()
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--classifier-settings", type=int, default=defaults.classifier_settings)
    parser.add_argument("--weight-trials", type=int, default=defaults.weight_trials)
    parser.add_argument("--refine-passes", type=int, default=defaults.refine_passes)
    args = parser.parse_args(argv)
    if min(args.artists, args.tags, args.candidates) < 1:
        parser.error("--artists, --tags and --candidates must be positive")
    search = SearchSettings(
        args.seed, args.classifier_settings, args.weight_trials, args.refine_passes
    )

    scoring, histories, first_listens, pool = generated_listener(
        args.artists, args.tags, args.candidates
    )
    print(
        f"listener: {len(histories):,} artists, {args.tags:,} tags, "
        f"{len(pool):,} candidates; search {search}"
    )
    started = time.perf_counter()  # (no tracemalloc here: it slows every allocation)
    cutoff = holdout_cutoff(first_listens)
    assert not isinstance(cutoff, str), cutoff
    positives = positives_after(first_listens, cutoff)
    past_histories = [h for h in histories if h.artist not in positives]
    past = ListenerView(
        scoring=ScoringInputs(
            known_artists={h.artist: h.decayed_weight for h in past_histories},
            artist_tags=scoring.artist_tags,
            similar_artists=scoring.similar_artists,
            listeners=scoring.listeners,
            popularity_reference=scoring.popularity_reference,
        ),
        histories=past_histories,
        candidates=sorted([*pool, *positives]),
    )
    model = train_model(Holdout(cutoff, past, positives), LabelRule(), HybridWeights(), search)
    now = ListenerView(scoring, histories, pool)
    inputs = serving_inputs(now, model.params)
    train_s = time.perf_counter() - started

    timings = []
    for _ in range(5):
        begun = time.perf_counter()
        ranked = score_candidates(inputs, pool, model.params.weights)
        explained = [explain(item.parts) for item in ranked]
        timings.append(time.perf_counter() - begun)
    score_s = float(np.median(timings))
    assert len(explained) == len(pool)

    classifier = model.params.classifier or PARAM_GRID[0]
    examples = liked_examples(histories, model.params.label)
    forest_s = {}
    for name, run in (("predicting", liked_probabilities), ("explaining", liked_causes)):
        runs = []
        for _ in range(3):
            begun = time.perf_counter()
            run(examples, pool, scoring, classifier, model.params.seed)
            runs.append(time.perf_counter() - begun)
        forest_s[name] = float(np.median(runs))

    tag_matrix = np.random.default_rng(0).random((args.artists, args.tags))
    ceilings = []
    for _ in range(3):
        begun = time.perf_counter()
        _ = tag_matrix @ tag_matrix.T
        ceilings.append(time.perf_counter() - begun)
    ceiling_s = float(np.median(ceilings))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if sys.platform == "darwin":
        peak_mb /= 1024.0

    metrics = model.metrics
    print(
        f"model: validated={model.validated}, holdout NDCG@10 "
        f"{metrics.get('holdout_ndcg@10', 0):.4f} (fixed weights "
        f"{metrics.get('fixed_weights_ndcg@10', 0):.4f}), classifier CV AUC "
        f"{metrics.get('classifier_cv_auc') or 0:.3f} over "
        f"{metrics.get('classifier_settings_tried')} settings, "
        f"{metrics.get('weight_settings_tried')} weight settings"
    )
    print(
        "weights: "
        + ", ".join(
            f"{k} {v:.3f}"
            for k, v in zip(
                ("similar", "tags", "popularity", "liked", "co_listening"),
                model.params.weights.mixing(),
                strict=True,
            )
        )
    )
    print(
        f"ceiling: {args.artists:,} x {args.tags:,} matrix times its transpose  "
        f"{ceiling_s * 1000:8.1f} ms"
    )
    print(
        f"training (holdout, CV search, weights, final forest)  {train_s:8.2f} s  "
        f"target {TRAIN_TARGET_S:g} s (ratio {train_s / TRAIN_TARGET_S:.2f}), "
        f"{train_s / ceiling_s:.0f}x the ceiling"
    )
    print(
        f"scoring + explaining {len(pool)} candidates  {score_s * 1000:8.1f} ms  "
        f"target {SCORE_TARGET_S * 1000:g} ms (ratio {score_s / SCORE_TARGET_S:.2f}), "
        f"{score_s / ceiling_s:.2f}x the ceiling"
    )
    print(
        f"liked-artist forest, fit + {len(pool)} candidates: predicting "
        f"{forest_s['predicting'] * 1000:8.1f} ms, explaining (exact contributions) "
        f"{forest_s['explaining'] * 1000:8.1f} ms, ratio "
        f"{forest_s['explaining'] / forest_s['predicting']:.2f}"
    )
    print(
        f"peak memory of the process (ru_maxrss)  {peak_mb:8.0f} MB  target {MEMORY_TARGET_MB:g} MB"
        f" (ratio {peak_mb / MEMORY_TARGET_MB:.2f})"
    )
    return 0
