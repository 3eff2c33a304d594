"""One final score per listener, its part weights learned on the listener's own held-out past.

The time-ordered holdout: the listener's artists ordered by first listen; the cutoff T is the
first listen of the newest `holdout_share` (20%) of them. What the listener had played before T
is the training input (weights, labels, candidates, all as of T); the artists they newly
started to play at or after T are the positives. A model is its learned configuration: the
part mixing weights (similar, tags, popularity, liked-artist model, co-listening), the liked
classifier's hyperparameters and its label rule. Training:
1. the classifier's hyperparameters by cross-validation on the pre-T artists (liked.py), over
   the first `classifier_settings` of its grid;
2. the forest fitted on all pre-T artists scores the pre-T candidates; every candidate's part
   channels (scoring.part_channels) are computed once;
3. the mixing weights by `weight_trials` random settings plus at most `refine_passes` passes
   of coordinate refinement over NDCG@10 of the positives among those candidates, from the
   fixed weights; a setting replaces the best only when strictly better, so ties keep the
   fixed weights.
Every search counts its trials and draws from one seed (SearchSettings), never from the
clock: the same history, settings and seed train the same model, on a quiet machine or a
loaded one. The seed is stored with the model, so its forest is refitted the same way.

The rule for too short a history (no validation possible, the fixed weights of scoring.py
are used, liked-artist and co-listening parts off): fewer than `min_training_artists` (20)
artists before T or fewer than `min_positives` (5) after it.

The gate: a new model is used only when its holdout NDCG@10 is not below the active model's,
measured on the same current holdout (the active configuration refitted on the same pre-T
artists with its own seed, which is deterministic: one job).

Training is plain data in, plain data out (TrainingJob -> train_and_gate, and ranked_for_set):
the service runs it in a process pool, away from its serving event loop.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from fullcircle.ranking import ndcg_at_k
from services.model.domain.habits import grouped_by_habit
from services.model.domain.liked import (
    ArtistHistory,
    ClassifierChoice,
    LabelRule,
    artist_features,
    choose_params,
    feature_names,
    liked_causes,
    liked_examples,
    liked_probabilities,
    tag_vocabulary,
)
from services.model.domain.scoring import (
    CHANNELS,
    LISTENERS_PREFIX,
    SEED_PREFIX,
    HybridWeights,
    ScoredArtist,
    ScoringInputs,
    part_channels,
    score_candidates,
)

CUTOFF = 10
REFINE_FACTORS = (0.0, 0.5, 2.0)
# Guard rails on what one listener's holdout (a fifth of their artists) may decide:
# - popularity keeps the fixed weight (0 by default, chosen on protocol B's 1,892 listeners);
#   left free, the search gave the demo listener 99% popularity: the newest artists of a
#   history are often popular ones, and "what everybody plays" is what the listener escapes;
# - the learned parts (liked-artist model, co-listening) may carry at most half of the score
#   of the top ten, so every recommendation still rests on the listener's tags and artists
#   (and its explanation names them).
SEARCHED = np.array([name != "popularity" for name in CHANNELS])
ANCHORED = np.array([name in ("similar", "tags") for name in CHANNELS])
MAX_LEARNED_SHARE = 0.5


@dataclass(frozen=True)
class SearchSettings:
    """How much training searches, in trials, and the seed of every random draw. The defaults
    train the 3,000-artist bench listener (bench/model_train.py) in about the 4 s the former
    5 s time budget took on a 2-core machine."""

    seed: int = 0
    classifier_settings: int = 3  # of liked.PARAM_GRID, cross-validated in order
    weight_trials: int = 400  # random mixing settings, each a ranking of the candidates
    refine_passes: int = 10  # coordinate refinement, stopping early once a pass gains nothing

    def __post_init__(self) -> None:
        if self.classifier_settings < 1 or self.weight_trials < 0 or self.refine_passes < 0:
            raise ValueError("classifier_settings must be >= 1, the other counts >= 0")


@dataclass(frozen=True)
class ListenerView:
    """The listener at one moment (now, or the holdout cutoff): scoring inputs (co-listening
    included, liked probabilities not yet), their artists' histories and the candidates."""

    scoring: ScoringInputs
    histories: list[ArtistHistory]
    candidates: list[str]


def pool_inputs(
    known: Mapping[str, float],
    artist_tags: Mapping[str, Mapping[str, float]],
    similar: Mapping[str, Sequence[tuple[str, float]]],
    listeners: Mapping[str, float],
    everyone: Sequence[str],
    co_listening_causes: Mapping[str, Mapping[str, float]] | None = None,
    seed_habits: Mapping[str, str] | None = None,
) -> ScoringInputs:
    """The scoring inputs of a candidate pool; `co_listening_causes` as
    colistening.co_listening_causes gives them (the scores are their sums). Candidates are
    tagged without artist.getInfo: an unknown listener count is neither popular nor obscure, so
    it gets the typical (median) count of those known (no degree boost or penalty)."""
    causes = co_listening_causes or {}
    typical = statistics.median(listeners.values()) if listeners else 1.0
    return ScoringInputs(
        known_artists=known,
        artist_tags=artist_tags,
        similar_artists=similar,
        listeners={key: listeners.get(key, typical) for key in everyone},
        popularity_reference=max(listeners.values(), default=1.0),
        co_listening={artist: math.fsum(by_own.values()) for artist, by_own in causes.items()},
        co_listening_causes=causes,
        seed_habits=seed_habits or {},
    )


@dataclass(frozen=True)
class Holdout:
    cutoff: datetime
    past: ListenerView
    positives: frozenset[str]


@dataclass(frozen=True)
class ModelParams:
    """A model's learned configuration, as stored with its version."""

    weights: HybridWeights
    classifier: dict[str, Any] | None
    label: LabelRule
    seed: int = 0  # the forest's random state, in training and when it is refitted to serve

    def to_json(self) -> dict[str, Any]:
        return {
            "weights": asdict(self.weights),
            "classifier": self.classifier,
            "label": asdict(self.label),
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelParams:
        return cls(
            weights=HybridWeights(**data["weights"]),
            classifier=data.get("classifier"),
            label=LabelRule(**data["label"]),
            seed=int(data.get("seed", 0)),
        )


@dataclass(frozen=True)
class TrainedModel:
    params: ModelParams
    features: dict[str, list[str]]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def validated(self) -> bool:
        return bool(self.metrics.get("validated"))

    @property
    def holdout_ndcg(self) -> float | None:
        value = self.metrics.get("holdout_ndcg@10")
        return float(value) if value is not None else None


def holdout_cutoff(
    first_listens: Mapping[str, datetime],
    holdout_share: float = 0.2,
    min_positives: int = 5,
    min_training_artists: int = 20,
) -> datetime | str:
    """The cutoff T of the time-ordered holdout, or why the history is too short for one."""
    if not 0 < holdout_share < 1:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share}")
    times = sorted(first_listens.values())
    held = max(min_positives, round(holdout_share * len(times)))
    if len(times) - held < min_training_artists:
        return (
            f"{len(times)} artists: a holdout of {held} needs at least "
            f"{held + min_training_artists}"
        )
    cutoff = times[len(times) - held]
    before = sum(1 for first in times if first < cutoff)
    if before < min_training_artists or len(times) - before < min_positives:
        return f"first listens too bunched at {cutoff.isoformat()} to split in time"
    return cutoff


def positives_after(first_listens: Mapping[str, datetime], cutoff: datetime) -> frozenset[str]:
    """The artists the listener newly started to play at or after the cutoff."""
    return frozenset(artist for artist, first in first_listens.items() if first >= cutoff)


def ndcg_at(
    scores: np.ndarray, relevant: np.ndarray, n_relevant: int, cutoff: int = CUTOFF
) -> float:
    """Binary NDCG@cutoff (the kernel's definition) of the candidates ranked by score (ties by
    candidate order); the ideal counts every positive, also those no candidate reached."""
    if n_relevant <= 0 or len(scores) == 0:
        return 0.0
    top = np.argsort(-scores, kind="stable")[:cutoff]
    return ndcg_at_k(relevant[top], n_relevant, cutoff)


def search_mixing(
    channels: np.ndarray,
    relevant: np.ndarray,
    n_relevant: int,
    start: Sequence[float],
    trials: int,
    refine_passes: int,
    seed: int = 0,
) -> tuple[np.ndarray, float, int]:
    """Mixing weights (CHANNELS order, largest 1) maximising NDCG@10 on the holdout: `trials`
    random settings then up to `refine_passes` passes of coordinate refinement from `start`;
    channels that are all zero keep weight 0. Returns the weights, their NDCG@10 and the
    number of settings tried."""
    fixed = np.asarray(start, dtype=np.float64)
    available = np.abs(channels).sum(axis=0) > 0
    searched = available & SEARCHED
    best = np.where(available, fixed, 0.0)
    if not best.any():  # the start's channels are all zero: any ranking is as good
        best = np.asarray(start, dtype=np.float64)
    if not best.any() or best.min() < 0:
        raise ValueError("the start weights must be non-negative and not all zero")
    best_ndcg = ndcg_at(channels @ best, relevant, n_relevant)
    tried = 1
    rng = np.random.default_rng(seed)

    def consider(mixing: np.ndarray) -> None:
        nonlocal best, best_ndcg, tried
        if not mixing.any():
            return
        tried += 1
        if learned_share(channels, mixing) > MAX_LEARNED_SHARE:
            return
        ndcg = ndcg_at(channels @ mixing, relevant, n_relevant)
        if ndcg > best_ndcg + 1e-12:
            best, best_ndcg = mixing, ndcg

    for _ in range(trials):
        mixing = 10.0 ** rng.uniform(-2.0, 1.0, size=len(CHANNELS))
        mixing[rng.random(len(CHANNELS)) < 0.25] = 0.0
        consider(np.where(searched, mixing, best * ~SEARCHED))
    for _ in range(refine_passes):
        before = best_ndcg
        for channel in np.flatnonzero(searched):
            for factor in REFINE_FACTORS:
                mixing = best.copy()
                mixing[channel] = (
                    mixing[channel] * factor if mixing[channel] else 0.1 * (factor > 0)
                )
                consider(mixing)
        if best_ndcg <= before:
            break
    return best / best.max(), best_ndcg, tried


def learned_share(channels: np.ndarray, mixing: np.ndarray, top: int = CUTOFF) -> float:
    """The share of the top `top` candidates' total score that the parts outside the anchors
    (similar artists, tags) carry under `mixing`."""
    scores = channels @ mixing
    order = np.argsort(-scores, kind="stable")[:top]
    contributions = (channels[order] * mixing).sum(axis=0)
    total = contributions.sum()
    return float(contributions[~ANCHORED].sum() / total) if total > 0 else 0.0


def train_model(
    holdout: Holdout | str,
    label: LabelRule,
    fixed: HybridWeights,
    search: SearchSettings = SearchSettings(),
) -> TrainedModel:
    """Learn a model on the holdout, or the fixed weights when `holdout` is the reason there
    is none (see the module docstring)."""
    seed = search.seed
    if isinstance(holdout, str):
        params = ModelParams(fixed.with_mixing([*fixed.mixing()[:3], 0.0, 0.0]), None, label, seed)
        return TrainedModel(
            params,
            {"parts": _parts_used(params.weights), "classifier": []},
            {"validated": False, "reason": holdout},
        )
    past = holdout.past
    examples = liked_examples(past.histories, label)
    vocabulary = tag_vocabulary(past.scoring)
    choice: ClassifierChoice | None = choose_params(
        artist_features(examples.artists, past.scoring, vocabulary),
        examples.labels,
        search.classifier_settings,
        seed,
    )
    classifier = choice.params if choice else None
    channels, relevant = holdout_channels(holdout, classifier, label, fixed, seed)
    start = [*fixed.mixing()[:3], 0.0, 0.0]
    fixed_ndcg = ndcg_at(channels @ np.array(start), relevant, len(holdout.positives))
    mixing, ndcg, tried = search_mixing(
        channels,
        relevant,
        len(holdout.positives),
        start,
        search.weight_trials,
        search.refine_passes,
        seed,
    )
    weights = fixed.with_mixing(mixing.tolist())
    params = ModelParams(weights, classifier if weights.liked > 0 else None, label, seed)
    return TrainedModel(
        params,
        {
            "parts": _parts_used(weights),
            "classifier": feature_names(vocabulary) if params.classifier else [],
        },
        {
            "validated": True,
            "holdout_ndcg@10": ndcg,
            "fixed_weights_ndcg@10": fixed_ndcg,
            "cutoff": holdout.cutoff.astimezone(UTC).isoformat(),
            "training_artists": len(past.histories),
            "positives": len(holdout.positives),
            "reachable_positives": int(relevant.sum()),
            "candidates": len(past.candidates),
            "classifier_cv_auc": choice.cv_auc if choice else None,
            "classifier_settings_tried": choice.settings_tried if choice else 0,
            "classifier_folds": choice.folds if choice else 0,
            "liked_examples": len(examples.artists),
            "liked_positives": int(examples.labels.sum()),
            "weight_settings_tried": tried,
            "seed": seed,
        },
    )


def holdout_channels(
    holdout: Holdout,
    classifier: Mapping[str, Any] | None,
    label: LabelRule,
    shape: HybridWeights,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The pre-T candidates' part channels (the forest fitted with `classifier` on the pre-T
    artists) and which of them are positives."""
    past = holdout.past
    scoring = past.scoring
    if classifier is not None:
        examples = liked_examples(past.histories, label)
        probabilities = liked_probabilities(examples, past.candidates, scoring, classifier, seed)
        scoring = replace(scoring, liked_probability=probabilities)
    channels = part_channels(scoring, past.candidates, shape)
    relevant = np.array([artist in holdout.positives for artist in past.candidates], dtype=bool)
    return channels, relevant


def holdout_score(params: ModelParams, holdout: Holdout) -> float:
    """NDCG@10 of a stored configuration on this holdout (the gate's measure)."""
    channels, relevant = holdout_channels(
        holdout, params.classifier, params.label, params.weights, params.seed
    )
    return ndcg_at(channels @ np.array(params.weights.mixing()), relevant, len(holdout.positives))


def not_worse(candidate: float | None, active: float | None) -> bool:
    """The gate: use the candidate unless the active model measured better on this holdout.
    Without a holdout (None) nothing can be compared, so the active model stays."""
    if active is None:
        return True
    if candidate is None:
        return False
    return candidate >= active


@dataclass(frozen=True)
class ActiveModel:
    """The model in use, as the gate measures it."""

    model_version: str
    params: ModelParams


@dataclass(frozen=True)
class TrainingJob:
    """One retrain as plain, picklable data: what train_and_gate needs in a training process."""

    holdout: Holdout | str
    label: LabelRule
    fixed: HybridWeights
    search: SearchSettings
    active: ActiveModel | None


def train_and_gate(job: TrainingJob) -> tuple[TrainedModel, bool]:
    """Train on the job's holdout, then gate the model against the one in use."""
    return gate(train_model(job.holdout, job.label, job.fixed, job.search), job.holdout, job.active)


def gate(
    model: TrainedModel, holdout: Holdout | str, active: ActiveModel | None
) -> tuple[TrainedModel, bool]:
    """Whether `model` may replace the active one (measured on the same holdout), and the model
    with the comparison in its metrics."""
    active_ndcg = (
        holdout_score(active.params, holdout)
        if active is not None and not isinstance(holdout, str)
        else None
    )
    if active is not None and isinstance(holdout, str):
        accepted = False  # nothing to measure either on: the model in use stays
    else:
        accepted = not_worse(model.holdout_ndcg, active_ndcg)
    comparison = {
        "active_model": active.model_version if active else None,
        "active_holdout_ndcg@10": active_ndcg,
        "accepted": accepted,
    }
    return replace(model, metrics={**model.metrics, "gate": comparison}), accepted


def serving_inputs(
    now: ListenerView,
    params: ModelParams,
    liked_feedback: frozenset[str] = frozenset(),
    disliked_feedback: frozenset[str] = frozenset(),
) -> ScoringInputs:
    """The scoring inputs with the liked-artist probabilities of the candidates and their
    causes (liked.liked_causes), the forest fitted on all the listener's artists now (feedback
    included) with the model's settings."""
    if params.classifier is None or params.weights.liked <= 0:
        return now.scoring
    examples = liked_examples(now.histories, params.label, liked_feedback, disliked_feedback)
    explained = liked_causes(examples, now.candidates, now.scoring, params.classifier, params.seed)
    return replace(
        now.scoring,
        liked_probability={artist: causes.probability for artist, causes in explained.items()},
        liked_causes={artist: causes.causes for artist, causes in explained.items()},
    )


def _parts_used(weights: HybridWeights) -> list[str]:
    return [name for name, weight in zip(CHANNELS, weights.mixing(), strict=True) if weight > 0]


def ranked_for_set(
    now: ListenerView,
    display_names: Mapping[str, str],
    sources: Mapping[str, tuple[str, ...]],
    params: ModelParams,
    liked: frozenset[str],
    disliked: frozenset[str],
    keep: int,
) -> list[ScoredArtist]:
    """The `keep` best candidates now (the forest refitted with the model's settings), named as
    the listener's data spells them, with their provenance."""
    inputs = serving_inputs(now, params, liked, disliked)
    ranked = score_candidates(inputs, now.candidates, params.weights)
    habits = now.scoring.seed_habits
    return [
        ScoredArtist(
            artist=display_names.get(item.artist, item.artist),
            score=item.score,
            parts={
                _display_label(label, display_names): value
                for label, value in grouped_by_habit(item.parts, habits, display_names).items()
            },
            top_seed_artists=tuple(display_names.get(seed, seed) for seed in item.top_seed_artists),
            top_tags=item.top_tags,
            sources=sources.get(item.artist, ()),
        )
        for item in ranked[:keep]
    ]


def _display_label(label: str, names: Mapping[str, str]) -> str:
    """'similar to kano' -> 'similar to Kano': parts name artists as the listener spells them."""
    for prefix in (SEED_PREFIX, LISTENERS_PREFIX):
        if label.startswith(prefix):
            key = label.removeprefix(prefix)
            return f"{prefix}{names.get(key, key)}"
    return label
