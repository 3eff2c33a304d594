"""The hybrid artist scorer: similar-artist graph + tag affinity + popularity, explainable.

Every score is a sum of named non-negative parts ("similar to <seed>", "tag <tag>",
"popularity", "listeners who also play <artist>", and the catch-alls "similar to other
artists", "other tags", "listeners like you", "liked-artist model"); the liked-artist model's
part is decomposed into the candidate's own causes when its contributions are known (liked.py,
`_explain`). `batch_scores` (the evaluation, many listeners x the catalog) and
`score_candidates` (one real listener, named candidates, explained) run the same formulas, and
`part_channels` gives the per-part totals that `learning.py` tunes the mixing weights on:
score = sum over CHANNELS of weight * channel, exactly.

Decisions (protocol B of EVALUATION.md). Tuning uses validation splits carved from the
*training* rows only: per listener, 20% of the training rows drawn with
`default_rng(seed + 1000)`; the held-out rows were never looked at while tuning. Numbers are
validation NDCG@10 on the carved splits of seeds 42 / 43 / 44 (mean):
- Seed strengths: log(1 + weight), times a seed degree penalty (listeners / reference) ** -0.15
  (a very popular seed says little about taste), scaled to sum to 1, so the mixing weights mean
  the same for a 20-artist and a 2,000-artist listener. Rank-normalised weights were close
  (0.1844 mean) but not better than log (0.1847); binary was no better on seed 42.
- Similar part: sum over seeds of strength * match(seed, candidate) ** 0.75, times a candidate
  degree penalty (listeners / reference) ** -0.15 (RP3beta-style: without it the graph keeps
  recommending the head). The evaluation's graph is an asymmetric cosine (alpha 0.8) top-1,000
  list with the best match scaled to 1, like Last.fm's artist.getSimilar. The match exponent
  < 1 flattens the longer list (seed 42 split: 0.5-0.75 beat 1, 1.5 and 2).
- Tag part: cosine between the candidate's unit tag vector and the listener's weighted tag
  profile (raw counts beat log counts and tf-idf on validation), weight 0.8.
- Chosen setting: 0.1863 / 0.1827 / 0.1850 (0.1847) vs the previous one (top-300, match ** 1,
  candidate penalty 0.2, no seed penalty, tag weight 0.6): 0.1830 / 0.1821 / 0.1824 (0.1825).
- Tried and rejected on validation (seed 42 split): RP3beta user-degree weighting inside the
  co-listening counts (gamma 0.25-0.75, +-0.0005: noise); a "listeners like you" user-kNN part
  (alone 0.161, every blend weight lowered the hybrid, also with per-listener max
  normalisation); a second-order (graph squared) part; mixing a second graph (alpha 0.5 / 1.0);
  sharpened tag similarity (cos ** r); popularity-scaled tag part; non-negative (clipped) EASE
  weights as a second graph (+0.0016 at best, not worth a 5-25 s inverse); per-listener max
  normalisation of the parts before blending (same as the fixed weights).
- Popularity prior: log(1 + listeners) / log(1 + reference); validation chose weight 0 once
  the degree penalties are on, so it stays available but off by default.
- The liked-artist model (liked.py) and co-listening (colistening.py) parts have weight 0 by
  default: they need per-listener data protocol B lacks (play times for a time-ordered holdout,
  other users of the same instance), so their weights are learned per listener
  (learning.py) and the default weights reproduce protocol B exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

TOP_SEEDS = 3  # the seeds and tags a candidate is filed under (ScoredArtist, taste balance)
TOP_TAGS = 3
# The breakdown names the largest seeds, then the largest tags, until what is left of that
# kind is at most NAMED_REST of the score (a few dozen parts at most on real histories).
NAMED_REST = 0.05
OTHER_SEEDS = "similar to other artists"
OTHER_TAGS = "other tags"
POPULARITY = "popularity"
LIKED_MODEL = "liked-artist model"
CO_LISTENING = "listeners like you"
SEED_PREFIX = "similar to "
TAG_PREFIX = "tag "
LISTENERS_PREFIX = "listeners who also play "
# The mixing weights' parts, in the column order of `part_channels`.
CHANNELS = ("similar", "tags", "popularity", "liked", "co_listening")


SEED_WEIGHTINGS = ("log", "rank")


@dataclass(frozen=True)
class HybridWeights:
    """Mixing weights of the parts, the degree penalties and the seed weighting.

    `popularity_penalty`: exponent of the candidate degree penalty on the similar part;
    `seed_popularity_penalty`: exponent of the same penalty on each seed's strength (a very
    popular seed says little about taste); `match_exponent`: similar-artist matches are raised
    to this power (below 1 flattens a long neighbour list); `seed_weighting`: "log" is
    log(1 + weight), "rank" is the weight's rank among the listener's artists; `liked`: weight
    of the liked-artist classifier's probability; `co_listening`: weight of the share of
    listeners like this one (same instance) who play the candidate.
    """

    similar: float = 1.0
    tags: float = 0.8
    popularity: float = 0.0
    liked: float = 0.0
    co_listening: float = 0.0
    popularity_penalty: float = 0.15
    seed_popularity_penalty: float = 0.15
    match_exponent: float = 0.75
    seed_weighting: str = "log"

    def __post_init__(self) -> None:
        if self.seed_weighting not in SEED_WEIGHTINGS:
            raise ValueError(f"seed_weighting must be one of {SEED_WEIGHTINGS}")
        mixing = (self.similar, self.tags, self.popularity, self.liked, self.co_listening)
        if min(*mixing, self.match_exponent) < 0 or not all(map(math.isfinite, mixing)):
            raise ValueError("part weights and the match exponent must be non-negative")

    def mixing(self) -> tuple[float, ...]:
        """The part weights in CHANNELS order."""
        return (self.similar, self.tags, self.popularity, self.liked, self.co_listening)

    def with_mixing(self, mixing: Sequence[float]) -> HybridWeights:
        """The same shape (penalties, exponent, seed weighting) with other part weights."""
        similar, tags, popularity, liked, co_listening = map(float, mixing)
        return replace(
            self,
            similar=similar,
            tags=tags,
            popularity=popularity,
            liked=liked,
            co_listening=co_listening,
        )


@dataclass(frozen=True)
class ScoringInputs:
    """Everything known about one listener and the artists around them.

    `known_artists`: the listener's artists -> weight (plays or decayed plays);
    `artist_tags`: artist -> tag -> weight (Last.fm top-tag counts);
    `similar_artists`: artist -> [(similar artist, match in [0, 1])] (artist.getSimilar);
    `listeners`: artist -> listener count; `popularity_reference`: the listener count of the
    most popular artist in the catalog, so popularity means the same across calls;
    `liked_probability`: candidate -> the liked-artist classifier's probability;
    `co_listening`: candidate -> co-listening score in [0, 1] (both empty when unknown);
    `liked_causes`: candidate -> cause label (`seed_label`, `tag_label`, POPULARITY) -> the
    signed contribution of the candidate's own inputs to its liked probability (liked.py; the
    rest of the probability is the forest's bias and the inputs the candidate lacks);
    `co_listening_causes`: candidate -> the listener's artist -> its share of the candidate's
    co-listening score (colistening.co_listening_causes; they sum to the score);
    `seed_habits`: the listener's artist -> how they play it (habits.seed_habit: "recent" or
    an hour band), which names the seed's parts (habits.grouped_by_habit), never scores.
    """

    known_artists: Mapping[str, float]
    artist_tags: Mapping[str, Mapping[str, float]]
    similar_artists: Mapping[str, Sequence[tuple[str, float]]]
    listeners: Mapping[str, float]
    popularity_reference: float
    liked_probability: Mapping[str, float] = field(default_factory=dict)
    co_listening: Mapping[str, float] = field(default_factory=dict)
    liked_causes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    co_listening_causes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    seed_habits: Mapping[str, str] = field(default_factory=dict)


def seed_label(seed: str) -> str:
    """The part of a candidate's score that one of the listener's artists carries."""
    return f"{SEED_PREFIX}{seed}"


def tag_label(tag: str) -> str:
    """The part of a candidate's score that one tag carries."""
    return f"{TAG_PREFIX}{tag}"


def listeners_label(artist: str) -> str:
    """The co-listening part that other listeners of one of the listener's artists carry."""
    return f"{LISTENERS_PREFIX}{artist}"


@dataclass(frozen=True)
class ScoredArtist:
    """A candidate's score and its named non-negative parts, which sum to the score."""

    artist: str
    score: float
    parts: dict[str, float]
    top_seed_artists: tuple[str, ...]
    top_tags: tuple[str, ...]
    sources: tuple[str, ...] = ()  # where the candidate came from: similar, tag_top, co_listening


@dataclass(frozen=True)
class ArtistSpace:
    """Catalog-wide matrices for the batch path: graph, unit tag vectors, popularity."""

    similar_artists: sp.csr_matrix  # artists x artists, match scores
    unit_tags: sp.csr_matrix  # artists x tags, rows of unit length (or empty)
    listeners: np.ndarray
    popularity_reference: float
    _powered: dict[float, sp.csr_matrix] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def similar_matches(self, exponent: float) -> sp.csr_matrix:
        """The match matrix with every stored match raised to `exponent` (cached)."""
        if exponent not in self._powered:
            self._powered[exponent] = powered_matches(self.similar_artists, exponent)
        return self._powered[exponent]

    @classmethod
    def from_matrices(
        cls,
        similar_artists: sp.csr_matrix,
        artist_tags: sp.csr_matrix,
        listeners: np.ndarray,
        popularity_reference: float,
    ) -> ArtistSpace:
        """Build the space from a match matrix, raw tag weights and listener counts."""
        return cls(
            similar_artists=sp.csr_matrix(similar_artists),
            unit_tags=unit_tag_vectors(sp.csr_matrix(artist_tags)),
            listeners=np.asarray(listeners, dtype=np.float64),
            popularity_reference=popularity_reference,
        )


def seed_strengths(
    artist_weights: sp.csr_matrix, seed_penalty: np.ndarray, weights: HybridWeights
) -> sp.csr_matrix:
    """Per listener row: log(1 + weight) or the weight's rank (ties share the mean rank),
    times the seed's degree penalty `seed_penalty[column]`, scaled so each row sums to 1.

    A weight that is not a finite number (an inf or NaN decayed weight stored before the decay
    was made safe) seeds nothing, like a negative one: kept, it made every strength of its
    listener NaN and their whole set one score."""
    strengths = sp.csr_matrix(artist_weights, dtype=np.float64, copy=True)
    strengths.eliminate_zeros()
    data = strengths.data
    strengths.data = np.where(np.isfinite(data), np.maximum(data, 0.0), 0.0)
    if weights.seed_weighting == "rank":
        for row in range(strengths.shape[0]):
            start, end = strengths.indptr[row], strengths.indptr[row + 1]
            if end > start:
                strengths.data[start:end] = rankdata(strengths.data[start:end]) / (end - start)
    else:
        strengths.data = np.log1p(strengths.data)
    strengths.data *= seed_penalty[strengths.indices]
    totals = np.asarray(strengths.sum(axis=1)).ravel()
    inverse = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    return sp.csr_matrix(sp.diags(inverse) @ strengths)


def unit_tag_vectors(artist_tags: sp.csr_matrix) -> sp.csr_matrix:
    """Scale every artist's tag vector to unit length; untagged artists stay zero."""
    norms = np.sqrt(np.asarray(artist_tags.multiply(artist_tags).sum(axis=1)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(inverse) @ artist_tags)


def powered_matches(matches: sp.csr_matrix, exponent: float) -> sp.csr_matrix:
    """Every stored match raised to `exponent` (1 leaves the matrix as it is)."""
    powered = sp.csr_matrix(matches, dtype=np.float64, copy=True)
    powered.data = _positive_power(powered.data, exponent)
    return powered


def _positive_power(values: np.ndarray, exponent: float) -> np.ndarray:
    """values ** exponent where values > 0, else 0 (so exponent 0 keeps zeros at zero)."""
    positive = np.maximum(values, 0.0)
    if exponent == 1.0:
        return positive
    return np.where(positive > 0, positive, 1.0) ** exponent * (positive > 0)


def degree_penalty(listeners: np.ndarray, reference: float, exponent: float) -> np.ndarray:
    """(listeners / reference) ** -exponent, listeners floored at 1 (RP3beta-style)."""
    share = np.maximum(listeners, 1.0) / max(reference, 1.0)
    return np.asarray(share ** (-exponent), dtype=np.float64)


def popularity_terms(
    listeners: np.ndarray, reference: float, weights: HybridWeights
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: the similar-part degree penalty and the popularity prior."""
    penalty = degree_penalty(listeners, reference, weights.popularity_penalty)
    prior = np.log1p(np.maximum(listeners, 0.0)) / math.log1p(max(reference, 1.0))
    return penalty, prior


def batch_scores(
    space: ArtistSpace,
    artist_weights: sp.csr_matrix,
    weights: HybridWeights,
    liked: np.ndarray | None = None,
    co_listening: np.ndarray | None = None,
) -> np.ndarray:
    """Scores of every catalog artist for a block of listeners (rows of artist weights);
    `liked` and `co_listening` (block x catalog) are needed only when their weight is not 0."""
    for name, weight, values in (
        ("liked", weights.liked, liked),
        ("co_listening", weights.co_listening, co_listening),
    ):
        if weight > 0 and values is None:
            raise ValueError(f"a {name} weight above 0 needs the {name} scores")
    seed_penalty = degree_penalty(
        space.listeners, space.popularity_reference, weights.seed_popularity_penalty
    )
    strengths = seed_strengths(artist_weights, seed_penalty, weights)
    penalty, prior = popularity_terms(space.listeners, space.popularity_reference, weights)
    matches = space.similar_matches(weights.match_exponent)
    similar = (strengths @ matches).toarray() * (weights.similar * penalty)
    profile = (strengths @ space.unit_tags).toarray()
    tags = np.asarray(space.unit_tags @ profile.T).T * weights.tags
    scores = similar + tags + weights.popularity * prior
    if liked is not None and weights.liked > 0:
        scores += weights.liked * liked
    if co_listening is not None and weights.co_listening > 0:
        scores += weights.co_listening * co_listening
    return scores


@dataclass(frozen=True)
class _CandidateParts:
    """Every weighted part of every candidate, before naming."""

    seeds: list[str]
    candidates: list[str]
    similar: sp.csc_matrix  # seeds x candidates
    tags: sp.csr_matrix  # candidates x tags
    tag_names: list[str]
    popularity: np.ndarray
    liked: np.ndarray
    co_listening: np.ndarray
    liked_weight: float


def _default_candidates(inputs: ScoringInputs) -> list[str]:
    """Every artist the inputs mention but the listener's own."""
    mentioned = set(inputs.listeners) | set(inputs.artist_tags)
    for seed, weight in inputs.known_artists.items():
        if weight > 0:
            mentioned.update(similar for similar, _ in inputs.similar_artists.get(seed, ()))
    return sorted(mentioned - set(inputs.known_artists))


def _candidate_parts(
    inputs: ScoringInputs, candidates: Sequence[str], weights: HybridWeights
) -> _CandidateParts:
    seeds = [artist for artist, weight in inputs.known_artists.items() if weight > 0]
    candidate_index = {artist: i for i, artist in enumerate(candidates)}
    seed_listeners = np.array([inputs.listeners.get(seed, 0.0) for seed in seeds])
    strengths = seed_strengths(
        sp.csr_matrix(np.array([[inputs.known_artists[seed] for seed in seeds]], dtype=float)),
        degree_penalty(
            seed_listeners, inputs.popularity_reference, weights.seed_popularity_penalty
        ),
        weights,
    ).toarray()[0]
    match = _match_matrix(inputs, seeds, candidate_index, weights.match_exponent)
    listeners = np.array([inputs.listeners.get(artist, 0.0) for artist in candidates])
    penalty, prior = popularity_terms(listeners, inputs.popularity_reference, weights)
    similar_parts = sp.csc_matrix(sp.diags(strengths) @ match @ sp.diags(weights.similar * penalty))
    similar_parts.eliminate_zeros()
    similar_parts.sort_indices()

    tag_names = sorted(
        {tag for artist in [*seeds, *candidates] for tag in inputs.artist_tags.get(artist, {})}
    )
    tag_index = {tag: i for i, tag in enumerate(tag_names)}
    seed_tags = unit_tag_vectors(_tag_matrix(inputs, seeds, tag_index))
    candidate_tags = unit_tag_vectors(_tag_matrix(inputs, candidates, tag_index))
    profile = np.asarray(seed_tags.T @ strengths).ravel()
    tag_parts = sp.csr_matrix(candidate_tags.multiply(profile[None, :] * weights.tags))
    liked = np.array([inputs.liked_probability.get(artist, 0.0) for artist in candidates])
    co_listening = np.array([inputs.co_listening.get(artist, 0.0) for artist in candidates])
    return _CandidateParts(
        seeds=seeds,
        candidates=list(candidates),
        similar=similar_parts,
        tags=tag_parts,
        tag_names=tag_names,
        popularity=weights.popularity * prior,
        liked=weights.liked * np.clip(liked, 0.0, 1.0),
        co_listening=weights.co_listening * np.clip(co_listening, 0.0, 1.0),
        liked_weight=weights.liked,
    )


def part_channels(
    inputs: ScoringInputs, candidates: Sequence[str], weights: HybridWeights
) -> np.ndarray:
    """Candidates x CHANNELS: each part's total with mixing weight 1 and the shape (penalties,
    exponent, seed weighting) of `weights`; any mixing gives score = channels @ mixing."""
    if not candidates:
        return np.zeros((0, len(CHANNELS)))
    parts = _candidate_parts(inputs, candidates, weights.with_mixing([1.0] * len(CHANNELS)))
    return np.column_stack(
        [
            np.asarray(parts.similar.sum(axis=0)).ravel(),
            np.asarray(parts.tags.sum(axis=1)).ravel(),
            parts.popularity,
            parts.liked,
            parts.co_listening,
        ]
    )


def score_candidates(
    inputs: ScoringInputs,
    candidates: Sequence[str] | None,
    weights: HybridWeights,
) -> list[ScoredArtist]:
    """Score and explain candidates (default: every artist the inputs mention but the
    listener's own), best first, ties by name. The liked-artist part is explained by its
    `liked_causes` where the inputs have them (see `_explain`)."""
    if candidates is None:
        candidates = _default_candidates(inputs)
    if not candidates:
        return []
    parts = _candidate_parts(inputs, candidates, weights)
    # plain lists: explaining walks a dozen entries per candidate, where numpy's per-call
    # overhead would cost more than the work
    seed_names = [parts.seeds[row] for row in parts.similar.indices.tolist()]
    seed_values = parts.similar.data.tolist()
    seed_bounds = parts.similar.indptr.tolist()
    tag_labels = [parts.tag_names[column] for column in parts.tags.indices.tolist()]
    tag_values = parts.tags.data.tolist()
    tag_bounds = parts.tags.indptr.tolist()
    singles = zip(
        parts.popularity.tolist(), parts.liked.tolist(), parts.co_listening.tolist(), strict=True
    )
    scored = [
        _explain(
            artist,
            seed_names[seed_bounds[column] : seed_bounds[column + 1]],
            seed_values[seed_bounds[column] : seed_bounds[column + 1]],
            tag_labels[tag_bounds[column] : tag_bounds[column + 1]],
            tag_values[tag_bounds[column] : tag_bounds[column + 1]],
            {POPULARITY: popularity, LIKED_MODEL: liked, CO_LISTENING: co_listening},
            {
                label: parts.liked_weight * contribution
                for label, contribution in inputs.liked_causes.get(artist, {}).items()
            },
            _fractions(inputs.co_listening_causes.get(artist, {})),
        )
        for column, (artist, (popularity, liked, co_listening)) in enumerate(
            zip(parts.candidates, singles, strict=True)
        )
    ]
    scored.sort(key=lambda scored_artist: (-scored_artist.score, scored_artist.artist))
    return scored


def _fractions(co_listening_causes: Mapping[str, float]) -> dict[str, float]:
    """The listener's artists' fractions of a co-listening score, by their part labels."""
    total = math.fsum(co_listening_causes.values())
    if total <= 0:
        return {}
    return {listeners_label(a): share / total for a, share in co_listening_causes.items()}


def _match_matrix(
    inputs: ScoringInputs,
    seeds: Sequence[str],
    candidate_index: Mapping[str, int],
    exponent: float,
) -> sp.csr_matrix:
    """Seeds x candidates match scores taken from the seeds' similar-artist lists, raised to
    `exponent` exactly as `powered_matches` does for the batch path (a repeated pair keeps
    its last match, as Last.fm's list would be read)."""
    entries: dict[tuple[int, int], float] = {}
    for row, seed in enumerate(seeds):
        for similar, score in inputs.similar_artists.get(seed, ()):
            column = candidate_index.get(similar)
            if column is not None:
                entries[row, column] = score
    rows = np.fromiter((row for row, _ in entries), dtype=np.int64, count=len(entries))
    columns = np.fromiter((column for _, column in entries), dtype=np.int64, count=len(entries))
    values = _positive_power(np.fromiter(entries.values(), dtype=np.float64), exponent)
    return sp.csr_matrix((values, (rows, columns)), shape=(len(seeds), len(candidate_index)))


def _tag_matrix(
    inputs: ScoringInputs, artists: Sequence[str], tag_index: Mapping[str, int]
) -> sp.csr_matrix:
    """Artists x tags raw tag weights, built row by row (CSR directly: a few thousand artists
    with a dozen tags each are scored per request)."""
    indptr = [0]
    columns: list[int] = []
    values: list[float] = []
    for artist in artists:
        tags = inputs.artist_tags.get(artist)
        if tags:
            columns.extend(map(tag_index.__getitem__, tags))
            values.extend(tags.values())
        indptr.append(len(columns))
    matrix = sp.csr_matrix(
        (np.array(values, dtype=np.float64), np.array(columns, dtype=np.int64), indptr),
        shape=(len(artists), len(tag_index)),
    )
    matrix.sum_duplicates()
    return matrix


def _explain(
    artist: str,
    seeds: Sequence[str],
    seed_values: Sequence[float],
    tags: Sequence[str],
    tag_values: Sequence[float],
    single_parts: Mapping[str, float],
    liked_causes: Mapping[str, float],
    co_listening_fractions: Mapping[str, float],
) -> ScoredArtist:
    """The candidate's score as parts named by its causes.

    Every seed, tag and single part counts as computed. When the liked-artist part has
    `liked_causes` (the forest's contributions of the candidate's inputs, already times the
    part's weight), the part is replaced by them, each added to the cause it names. What is
    left of the score is the forest's bias and what the inputs the candidate lacks said: the
    same bias for every candidate of a listener, so it is no reason for this one. Causes whose
    net is negative (a tag the listener's liked artists lack) are no reason either. Both are
    spread over the causes that are reasons in proportion to their size, so the parts sum to
    the score and each keeps its exact share of what the reasons carry. The largest seeds and
    tags are then named (NAMED_REST); the rest go to the "other" parts. The co-listening part
    is named the same way, by the listener's artists that make the other listeners alike
    (`co_listening_fractions`), the rest staying "listeners like you"."""
    by_seed = _by_value(seeds, seed_values)
    by_tag = _by_value(tags, tag_values)
    singles = [(value, label) for label, value in single_parts.items() if value > 0]
    score = math.fsum(value for value, _ in (*by_seed, *by_tag, *singles))
    causes: dict[str, float] = {seed_label(seed): value for value, seed in by_seed}
    causes.update((tag_label(tag), value) for value, tag in by_tag)
    causes.update((label, value) for value, label in singles)
    if co_listening_fractions and causes.get(CO_LISTENING, 0.0) > 0:
        co_listening = causes.pop(CO_LISTENING)
        for label, fraction in co_listening_fractions.items():
            causes[label] = causes.get(label, 0.0) + co_listening * fraction
    if liked_causes and causes.get(LIKED_MODEL, 0.0) > 0:
        del causes[LIKED_MODEL]
        for label, contribution in liked_causes.items():
            causes[label] = causes.get(label, 0.0) + contribution
    reasons = {label: value for label, value in causes.items() if value > 0}
    carried = math.fsum(reasons.values())
    if carried <= 0:  # only the forest's bias: nothing of the candidate to name
        reasons, carried = ({LIKED_MODEL: score}, score) if score > 0 else ({}, 1.0)
    if carried != score:
        reasons = {label: value * score / carried for label, value in reasons.items()}
    parts = _name_largest(reasons, score)
    return ScoredArtist(
        artist=artist,
        score=math.fsum(parts.values()),  # the parts' sum exactly (the score to float rounding)
        parts=parts,
        top_seed_artists=tuple(seed for _, seed in by_seed[:TOP_SEEDS]),
        top_tags=tuple(tag for _, tag in by_tag[:TOP_TAGS]),
    )


def _by_value(names: Sequence[str], values: Sequence[float]) -> list[tuple[float, str]]:
    """The positive (value, name) pairs, largest first (ties in the order given)."""
    return sorted(
        ((value, name) for name, value in zip(names, values, strict=True) if value > 0),
        key=lambda pair: -pair[0],
    )


_CATCH_ALL_OF = {SEED_PREFIX: OTHER_SEEDS, TAG_PREFIX: OTHER_TAGS, LISTENERS_PREFIX: CO_LISTENING}


def _name_largest(parts: Mapping[str, float], score: float) -> dict[str, float]:
    """Per kind of named part (a seed, a tag, a co-listened artist: _CATCH_ALL_OF), the largest
    first (ties by label), named until what is left of the kind is at most NAMED_REST of
    `score` and more than one part; the rest is summed into the kind's catch-all. Other parts
    are kept as they are."""
    named: dict[str, float] = {}
    kinds: dict[str, list[tuple[float, str]]] = {}
    for label, value in parts.items():
        prefix = next((p for p in _CATCH_ALL_OF if label.startswith(p)), None)
        if prefix is None:
            named[label] = value
        else:
            kinds.setdefault(prefix, []).append((value, label))
    for prefix, kind in kinds.items():
        kind.sort(key=lambda pair: (-pair[0], pair[1]))
        left = math.fsum(value for value, _ in kind)
        for count, (value, label) in enumerate(kind):
            if left <= NAMED_REST * score and count < len(kind) - 1:  # one part is its own name
                named[_CATCH_ALL_OF[prefix]] = math.fsum(value for value, _ in kind[count:])
                break
            named[label] = value
            left -= value
    return named
