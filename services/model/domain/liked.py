"""The liked-artist classifier: a per-listener scikit-learn Random Forest that learns, from the
listener's own artists, which kinds of artist they like, and gives every candidate a probability.

Decisions:
- Label (setting `liked_label`). "skips" (default): liked = among the top `liked_share` (25%)
  of the listener's artists by decayed weight AND skipped on at most `max_skip_rate` (50%) of
  plays. Skips, as features counts them, are plays flagged skipped or ended before 30 s, so
  they carry the completion signal too (exports hold no track durations): a much-skipped
  artist is not liked however often it played. "top_weight" is the seed design's rule (top 25%
  by decayed weight). Feedback overrides both: a liked artist is a positive, a disliked or
  blocked one a negative, played or not.
- Inputs are what a *candidate* has too: its unit tag vector over the tags of the listener's
  artists, log popularity, and how many of the listener's artists list it as similar (and the
  sum of those matches). Listens, skip rate, completion and recency are not inputs: they
  define the label (so they would leak it) and are zero for every candidate (so the forest
  would learn nothing it could apply to one).
- Model: RandomForestClassifier, class_weight balanced_subsample (liked artists are a quarter
  or fewer), half-size bootstrap samples, one job (the service shares two cores).
  Hyperparameters: the first `classifier_settings` of a small grid, tried in order with
  stratified k-fold cross-validation (ROC AUC); a count, not a time budget, so one history
  trains to one model on a quiet and on a loaded machine.
- Explaining a probability (`liked_causes`): the forest's per-feature contributions by the
  Saabas decomposition (the method of `treeinterpreter`): in every tree, each split on the
  candidate's path adds the change in the liked share from the node to its child to the
  feature the node splits on, so P(liked) = bias + the sum of the contributions, exactly (to
  float rounding, tested). Why this and how:
  - SHAP's TreeExplainer (Shapley values, also exact and additive, fairer between features that
    split near the root and deep) is out of reach: SHAP 0.52 and later need Python 3.12 (this
    project runs 3.11), and it would bring numba and llvmlite for one walk down each tree.
  - `treeinterpreter` 0.2.3 works with the pinned scikit-learn 1.9.1 but is a Python loop over
    every leaf and path of every tree with a dense candidates x features x classes result: on
    500 candidates x 1,503 features (a 60-tree forest on 3,000 artists) it took 1.04 s of CPU
    against 0.25 s here. `forest_contributions` computes the same values
    as sparse products (the forest's decision paths times each node's step), and the tests
    hold it to treeinterpreter's values within 1e-12 (treeinterpreter is a dev dependency only).
  - Cost in the service: one sparse product after the final fit, in the training process.
    bench/model_train.py (3,000 artists, 1,500 tags, 500 candidates): fitting the forest and
    predicting 1,052 ms, fitting and explaining 1,047 ms (ratio 0.99: the decomposition is
    lost in the fit's noise); peak memory of the bench process 294 MB.
  The contributions of the inputs the candidate has are merged into the causes the score
  already names: a tag feature into that tag, the similar links and match sum into the seed
  artists that list the candidate (links equally, the match sum in proportion to each seed's
  match), log listeners into popularity. The bias (0.5 for every candidate: balanced class
  weights make every root half liked) and the contributions of inputs the candidate lacks (a
  tag it does not carry, no similar link) name nothing it has: they are the unattributed rest,
  which scoring.py spreads over the named causes (see `_explain` there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from services.model.domain.scoring import (
    POPULARITY,
    ScoringInputs,
    seed_label,
    tag_label,
    unit_tag_vectors,
)

LABEL_RULES = ("skips", "top_weight")
ENGINEERED_FEATURES = ("log listeners", "similar links", "similar match sum")
MAX_FOLDS = 3
# Tried in this order. 60 trees, each on a half-size bootstrap sample: on the 3,000-artist
# bench listener (bench/model_train.py, a loaded 2-core machine) a 100-tree forest took 1.5 s
# to fit, 60 trees 1.2 s, 60 half-sample trees 0.7 s; cross-validated AUC moved by about 0.01
# (0.779 / 0.773 / 0.769). The later settings trade depth and leaf size.
PARAM_GRID: tuple[dict[str, Any], ...] = (
    {"n_estimators": 60, "max_depth": None, "min_samples_leaf": 3, "max_samples": 0.5},
    {"n_estimators": 60, "max_depth": 12, "min_samples_leaf": 1, "max_samples": 0.5},
    {"n_estimators": 60, "max_depth": None, "min_samples_leaf": 1, "max_samples": 0.5},
    {"n_estimators": 60, "max_depth": 8, "min_samples_leaf": 5, "max_samples": 0.5},
    {"n_estimators": 120, "max_depth": None, "min_samples_leaf": 3, "max_samples": 0.5},
)


@dataclass(frozen=True)
class ArtistHistory:
    """One of the listener's artists as their plays tell it (artist keyed lower-case)."""

    artist: str
    plays: int
    listens: int
    skips: int
    decayed_weight: float

    @property
    def skip_rate(self) -> float:
        return self.skips / self.plays if self.plays > 0 else 0.0


@dataclass(frozen=True)
class LabelRule:
    rule: str = "skips"
    liked_share: float = 0.25
    max_skip_rate: float = 0.5

    def __post_init__(self) -> None:
        if self.rule not in LABEL_RULES:
            raise ValueError(f"liked label rule must be one of {LABEL_RULES}, got {self.rule!r}")
        if not 0 < self.liked_share <= 1 or not 0 <= self.max_skip_rate <= 1:
            raise ValueError("liked_share must be in (0, 1] and max_skip_rate in [0, 1]")


@dataclass(frozen=True)
class Examples:
    """Training examples: artist keys and their liked labels."""

    artists: list[str]
    labels: np.ndarray  # bool


@dataclass(frozen=True)
class ClassifierChoice:
    """The hyperparameters chosen and how they cross-validated."""

    params: dict[str, Any]
    cv_auc: float
    settings_tried: int
    folds: int


def liked_examples(
    histories: Sequence[ArtistHistory],
    rule: LabelRule,
    liked_feedback: frozenset[str] = frozenset(),
    disliked_feedback: frozenset[str] = frozenset(),
) -> Examples:
    """Label the listener's artists by `rule`, then apply feedback (which may add artists)."""
    artists = [history.artist for history in histories]
    weights = np.array([history.decayed_weight for history in histories], dtype=np.float64)
    labels = np.zeros(len(artists), dtype=bool)
    if artists:
        n_liked = max(1, math.ceil(rule.liked_share * len(artists)))
        order = np.lexsort((np.array(artists, dtype=object), -weights))
        labels[order[:n_liked]] = True
        labels &= weights > 0
        if rule.rule == "skips":
            skip_rates = np.array([history.skip_rate for history in histories])
            labels &= skip_rates <= rule.max_skip_rate
    by_artist = dict(zip(artists, labels.tolist(), strict=True))
    for artist in sorted(liked_feedback):
        by_artist[artist] = True
    for artist in sorted(disliked_feedback):
        by_artist[artist] = False
    return Examples(list(by_artist), np.array(list(by_artist.values()), dtype=bool))


def feature_names(tag_vocabulary: Sequence[str]) -> list[str]:
    return [f"tag {tag}" for tag in tag_vocabulary] + list(ENGINEERED_FEATURES)


def tag_vocabulary(inputs: ScoringInputs) -> list[str]:
    """The tags of the listener's artists: the only tags the forest can learn anything about."""
    return sorted(
        {tag for artist in inputs.known_artists for tag in inputs.artist_tags.get(artist, {})}
    )


def artist_features(
    artists: Sequence[str], inputs: ScoringInputs, vocabulary: Sequence[str]
) -> sp.csr_matrix:
    """Artists x (unit tag vector over `vocabulary`, ENGINEERED_FEATURES)."""
    tag_index = {tag: i for i, tag in enumerate(vocabulary)}
    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    for row, artist in enumerate(artists):
        for tag, weight in inputs.artist_tags.get(artist, {}).items():
            column = tag_index.get(tag)
            if column is not None:
                rows.append(row)
                columns.append(column)
                values.append(weight)
    tags = unit_tag_vectors(
        sp.csr_matrix((values, (rows, columns)), shape=(len(artists), len(vocabulary)))
    )
    row_of = {artist: i for i, artist in enumerate(artists)}
    links = np.zeros(len(artists))
    match_sums = np.zeros(len(artists))
    for seed, weight in inputs.known_artists.items():
        if weight <= 0:
            continue
        for similar, match in inputs.similar_artists.get(seed, ()):
            linked = row_of.get(similar)
            if linked is not None and similar != seed:
                links[linked] += 1
                match_sums[linked] += max(match, 0.0)
    reference = math.log1p(max(inputs.popularity_reference, 1.0))
    popularity = np.array(
        [math.log1p(max(inputs.listeners.get(artist, 0.0), 0.0)) / reference for artist in artists]
    )
    engineered = sp.csr_matrix(np.column_stack([popularity, links, match_sums]))
    return sp.csr_matrix(sp.hstack([tags, engineered], format="csr"))


def _forest(params: Mapping[str, Any], seed: int) -> RandomForestClassifier:
    return RandomForestClassifier(
        **params,
        max_features="sqrt",
        class_weight="balanced_subsample",
        n_jobs=1,
        random_state=seed,
    )


def trainable(labels: np.ndarray) -> bool:
    """Both classes with at least two examples each (the least cross-validation needs)."""
    positives = int(labels.sum())
    return min(positives, len(labels) - positives) >= 2


def choose_params(
    features: sp.csr_matrix, labels: np.ndarray, settings: int, seed: int = 0
) -> ClassifierChoice | None:
    """Cross-validate the first `settings` of PARAM_GRID (at least one); the best mean ROC AUC
    wins, ties to the earlier. None when not `trainable`."""
    if not trainable(labels):
        return None
    folds = min(MAX_FOLDS, int(labels.sum()), int((~labels).sum()))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    tried = PARAM_GRID[: max(1, settings)]
    best: tuple[float, dict[str, Any]] | None = None
    for params in tried:
        aucs = []
        for train, test in splitter.split(np.zeros(len(labels)), labels):
            forest = _forest(params, seed).fit(features[train], labels[train])
            aucs.append(roc_auc_score(labels[test], forest.predict_proba(features[test])[:, 1]))
        auc = float(np.mean(aucs))
        if best is None or auc > best[0]:
            best = (auc, dict(params))
    assert best is not None
    return ClassifierChoice(params=best[1], cv_auc=best[0], settings_tried=len(tried), folds=folds)


@dataclass(frozen=True)
class LikedCauses:
    """One candidate's P(liked) as the forest's exact sum: `bias` + the contributions of the
    candidate's own inputs merged into named causes (`causes`, signed: a tag the listener's
    liked artists lack lowers it) + the contributions of inputs it lacks (`absent`)."""

    probability: float
    bias: float
    causes: dict[str, float]
    absent: float

    @property
    def unattributed(self) -> float:
        """The share of the probability no input of the candidate drives: bias + absent."""
        return self.bias + self.absent


def liked_probabilities(
    examples: Examples,
    candidates: Sequence[str],
    inputs: ScoringInputs,
    params: Mapping[str, Any],
    seed: int = 0,
) -> dict[str, float]:
    """Fit the forest on all `examples` with `params` and give each candidate P(liked)."""
    fitted = _fitted_forest(examples, candidates, inputs, params, seed)
    if fitted is None:
        return {}
    forest, features, _ = fitted
    probabilities = forest.predict_proba(features)[:, list(forest.classes_).index(True)]
    return dict(zip(candidates, probabilities.tolist(), strict=True))


def liked_causes(
    examples: Examples,
    candidates: Sequence[str],
    inputs: ScoringInputs,
    params: Mapping[str, Any],
    seed: int = 0,
) -> dict[str, LikedCauses]:
    """The forest of `liked_probabilities` (the same fit) with each candidate's probability
    decomposed into its causes (see the module docstring)."""
    fitted = _fitted_forest(examples, candidates, inputs, params, seed)
    if fitted is None:
        return {}
    forest, features, vocabulary = fitted
    # the probability as liked_probabilities gives it (the scores stay as they were); the
    # decomposition's own sum equals it to float rounding
    probabilities = forest.predict_proba(features)[:, list(forest.classes_).index(True)]
    biases, contributions = forest_contributions(forest, features)
    linking = _linking_seeds(candidates, inputs)
    n_tags = len(vocabulary)
    links_column, match_column = n_tags + 1, n_tags + 2
    explained: dict[str, LikedCauses] = {}
    for row, candidate in enumerate(candidates):
        split_on = slice(contributions.indptr[row], contributions.indptr[row + 1])
        values = dict(
            zip(
                contributions.indices[split_on].tolist(),
                contributions.data[split_on].tolist(),
                strict=True,
            )
        )
        causes: dict[str, float] = {}
        stored = slice(features.indptr[row], features.indptr[row + 1])
        columns, weights = features.indices[stored], features.data[stored]
        for column in columns[(columns < n_tags) & (weights > 0)].tolist():
            if column in values:
                causes[tag_label(vocabulary[column])] = values[column]
        causes[POPULARITY] = values.get(n_tags, 0.0)
        seeds = linking.get(candidate, [])
        match_sum = math.fsum(match for _, match in seeds)
        for seed_artist, match in seeds:
            share = values.get(links_column, 0.0) / len(seeds)
            if match_sum > 0:
                share += values.get(match_column, 0.0) * match / match_sum
            label = seed_label(seed_artist)
            causes[label] = causes.get(label, 0.0) + share
        # without a seed the links' columns are 0: what they say then names nothing (absent)
        explained[candidate] = LikedCauses(
            probability=float(probabilities[row]),
            bias=float(biases[row]),
            causes=causes,
            absent=math.fsum(values.values()) - math.fsum(causes.values()),
        )
    return explained


def forest_contributions(
    forest: RandomForestClassifier, features: sp.csr_matrix
) -> tuple[np.ndarray, sp.csr_matrix]:
    """The Saabas decomposition of P(liked) (module docstring): per row of `features`, the
    forest's bias and each feature's contribution (rows x features, sparse: only the features
    the row's paths split on), so that P(liked) = bias + the row's contributions."""
    liked = list(forest.classes_).index(True)
    width = features.shape[1]
    shares, steps = [], []
    for tree in forest.estimators_:
        structure = tree.tree_
        values = structure.value[:, 0, :]
        share = values[:, liked] / np.maximum(values.sum(axis=1), np.finfo(float).tiny)
        inner = np.flatnonzero(structure.children_left >= 0)
        children = np.concatenate([structure.children_left[inner], structure.children_right[inner]])
        parents = np.concatenate([inner, inner])
        # a node's change in the liked share, put on the feature its parent splits on
        steps.append(
            sp.csr_matrix(
                (share[children] - share[parents], (children, structure.feature[parents])),
                shape=(structure.node_count, width),
            )
        )
        shares.append(share[0])
    paths, _ = forest.decision_path(features)  # rows x the nodes of every tree, in tree order
    count = len(forest.estimators_)
    contributions = sp.csr_matrix(paths @ sp.vstack(steps, format="csr")) / count
    biases = np.full(features.shape[0], math.fsum(shares) / count)
    return biases, sp.csr_matrix(contributions)


def _fitted_forest(
    examples: Examples,
    candidates: Sequence[str],
    inputs: ScoringInputs,
    params: Mapping[str, Any],
    seed: int,
) -> tuple[RandomForestClassifier, sp.csr_matrix, list[str]] | None:
    """The forest fitted on all `examples`, the candidates' features and the tag vocabulary;
    None when there is nothing to fit or score."""
    if not candidates or not trainable(examples.labels):
        return None
    vocabulary = tag_vocabulary(inputs)
    forest = _forest(params, seed).fit(
        artist_features(examples.artists, inputs, vocabulary), examples.labels
    )
    return forest, artist_features(candidates, inputs, vocabulary), vocabulary


def _linking_seeds(
    candidates: Sequence[str], inputs: ScoringInputs
) -> dict[str, list[tuple[str, float]]]:
    """Candidate -> the listener's artists that list it as similar, with their matches: the
    links `artist_features` counts, in the same order."""
    wanted = set(candidates)
    linking: dict[str, list[tuple[str, float]]] = {}
    for seed_artist, weight in inputs.known_artists.items():
        if weight <= 0:
            continue
        for similar, match in inputs.similar_artists.get(seed_artist, ()):
            if similar in wanted and similar != seed_artist:
                linking.setdefault(similar, []).append((seed_artist, max(match, 0.0)))
    return linking
