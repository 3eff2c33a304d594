"""Mood estimates for a listener's artists, and how many of their listens have one.

Most artists carry no mood tag, and many no tag the mood vocabulary (`fullcircle/moods.py`)
knows at all. Their mood is estimated in two steps, each from what enrich stored from Last.fm,
and each only where the evidence is strong enough to call the estimate *known*:

1. **Tags that go with moods** (`learn_tag_moods`). A tag outside the vocabulary (`british`,
   `melodic death metal`, `female vocalists`, `j-rock`) carries the tag-weighted mean mood of
   the artists that have both it and a vocabulary mood. It counts only as far as it is
   informative: its `informativeness` is how much of the axes' spread over those artists it
   explains, 1 - (its artists' variance / every vocabulary-placed artist's variance) on energy
   and valence, averaged and clipped at 0, shrunk by support n / (n + `TAG_PRIOR_ARTISTS`); it
   needs `MIN_TAG_ARTISTS` such artists. So `melodic death metal` (all intense and dark) speaks
   loudly and `seen live` (on calm and loud artists alike) says next to nothing, instead of
   pulling everyone to the middle. An artist without a vocabulary mood gets the mean of its
   learned tags weighted by tag weight x informativeness; its confidence is that weight over
   all its tag weight.
2. **Similar artists** (label propagation over Last.fm's artist.getSimilar graph, both
   directions of an edge, the stronger match kept). An artist still unknown gets the mean of its
   known neighbours' moods weighted by match x the neighbour's confidence, when the match of its
   known neighbours adds up to at least `MIN_NEIGHBOUR_MATCH` (one close neighbour or a few
   looser ones: a single loose neighbour is not evidence). Its confidence is the neighbours'
   match-weighted mean confidence x min(1, known match / `FULL_NEIGHBOUR_MATCH`) x
   `HOP_DECAY`. Rounds run up to `PROPAGATION_ROUNDS` (an estimate made in one round is a
   neighbour from the next; every artist of a round sees the same known set, so the result does
   not depend on order).

Why this: label propagation is the standard way to spread labels over a similarity graph
(Zhu & Ghahramani 2002), and Last.fm's similar artists are built from co-listening, which is
what mood follows; tag co-occurrence reaches artists the graph does not (no similar artists,
or none known). Both are means of moods on -1..1 weighted by non-negative weights, so every
estimate stays on -1..1 and every confidence on 0..1. Vocabulary tags win where they exist;
learned tags come next because they describe the artist itself, neighbours last.

**Known** means confidence >= `fullcircle.moods.KNOWN_CONFIDENCE` (0.1), one rule for every
source: for the vocabulary, a tenth of the artist's tag weight is on mood or genre words; for
learned tags, a tenth of it on informative tags; for neighbours, enough match on confidently
known ones. Below it the mood is *unknown*: it is shown
as unknown and never as a neutral middle. `mood_coverage` is the share of listens (plays of at
least the listen threshold) whose artist's mood is known, before (vocabulary only) and after
both steps. Learned tag moods are learned over the artists the profile reads (the listener's
and their similar artists that enrich has tagged), so they follow what enrich knows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fullcircle.moods import KNOWN_CONFIDENCE, mood_point, mood_vector
from fullcircle.tags import canonical_tag

MIN_TAG_ARTISTS = 3
TAG_PRIOR_ARTISTS = 5.0
MIN_NEIGHBOUR_MATCH = 0.5
FULL_NEIGHBOUR_MATCH = 1.0
HOP_DECAY = 0.8
PROPAGATION_ROUNDS = 3

VOCABULARY = "tags"
RELATED_TAGS = "related tags"
SIMILAR_ARTISTS = "similar artists"


@dataclass(frozen=True, slots=True)
class MoodEstimate:
    """An artist's mood on the three axes (-1..1), how far to trust it (0..1) and where it
    came from (VOCABULARY, RELATED_TAGS or SIMILAR_ARTISTS)."""

    energy: float
    valence: float
    acoustic: float
    confidence: float
    source: str

    @property
    def axes(self) -> tuple[float, float, float]:
        return (self.energy, self.valence, self.acoustic)


@dataclass(frozen=True, slots=True)
class TagMood:
    """What a tag outside the vocabulary says of mood: the mean of its artists, and how much
    of the spread it explains (0..1)."""

    energy: float
    valence: float
    acoustic: float
    informativeness: float


@dataclass(frozen=True)
class MoodKnowledge:
    """What enrich stored around a listener's artists, keyed by lower-cased name as enrich keys
    artists: the tags of their artists and of every artist on a similar-artist edge touching
    them, and those edges as (artist, similar artist, match) rows."""

    tags: Mapping[str, Mapping[str, float]]
    similar: Sequence[tuple[str, str, float]]


@dataclass(frozen=True, slots=True)
class MoodCoverage:
    """Share of listens whose artist has a known mood, from the vocabulary alone (`before`)
    and after related tags and similar artists (`after`)."""

    listens: int
    before: float
    after: float


def vocabulary_moods(artist_tags: Mapping[str, Mapping[str, float]]) -> dict[str, MoodEstimate]:
    """The artists whose tags the mood vocabulary places with enough confidence."""
    estimates = {}
    for artist, tags in artist_tags.items():
        mood = mood_vector(list(tags.items()))
        if mood.known:
            estimates[artist] = MoodEstimate(
                mood.energy, mood.valence, mood.acoustic, mood.confidence, VOCABULARY
            )
    return estimates


def learn_tag_moods(
    artist_tags: Mapping[str, Mapping[str, float]], known: Mapping[str, MoodEstimate]
) -> dict[str, TagMood]:
    """Each tag outside the vocabulary carried by at least `MIN_TAG_ARTISTS` artists of `known`
    mood: their tag-weighted mean mood and its informativeness (module docstring)."""
    if len(known) < 2:
        return {}  # no spread to explain
    carriers: dict[str, list[tuple[MoodEstimate, float]]] = defaultdict(list)
    for artist, estimate in known.items():
        for tag, weight in artist_tags.get(artist, {}).items():
            if weight > 0 and mood_point(tag) is None:
                carriers[canonical_tag(tag)].append((estimate, float(weight)))
    everyone = np.array([estimate.axes for estimate in known.values()])
    spread = everyone.var(axis=0)
    learned = {}
    for tag, pairs in carriers.items():
        if len(pairs) < MIN_TAG_ARTISTS:
            continue
        moods = np.array([estimate.axes for estimate, _weight in pairs])
        weights = np.array([weight for _estimate, weight in pairs])
        mean = np.average(moods, axis=0, weights=weights)
        variance = np.average((moods - mean) ** 2, axis=0, weights=weights)
        explained = [
            max(0.0, 1.0 - variance[axis] / spread[axis]) if spread[axis] > 0 else 0.0
            for axis in (0, 1)  # energy and valence: the axes prompts and contexts ask most
        ]
        support = len(pairs) / (len(pairs) + TAG_PRIOR_ARTISTS)
        learned[tag] = TagMood(
            float(mean[0]), float(mean[1]), float(mean[2]), float(np.mean(explained) * support)
        )
    return learned


def related_tag_mood(tags: Mapping[str, float], learned: Mapping[str, TagMood]) -> MoodEstimate:
    """An artist's mood from its learned tags (confidence 0 when none of them speaks)."""
    total = sum(max(float(weight), 0.0) for weight in tags.values())
    pulls = [
        (tag_mood, max(float(weight), 0.0) * tag_mood.informativeness)
        for tag, weight in tags.items()
        if (tag_mood := learned.get(canonical_tag(tag))) is not None
    ]
    said = sum(weight for _tag_mood, weight in pulls)
    if total <= 0 or said <= 0:
        return MoodEstimate(0.0, 0.0, 0.0, 0.0, RELATED_TAGS)
    energy, valence, acoustic = (
        sum(getattr(tag_mood, axis) * weight for tag_mood, weight in pulls) / said
        for axis in ("energy", "valence", "acoustic")
    )
    return MoodEstimate(energy, valence, acoustic, min(1.0, said / total), RELATED_TAGS)


def similarity_graph(
    similar: Iterable[tuple[str, str, float]],
) -> dict[str, dict[str, float]]:
    """Artist -> neighbour -> match from (artist, similar artist, match) rows, both ways, the
    stronger match kept where both directions are listed; matches clipped to 0..1."""
    graph: dict[str, dict[str, float]] = defaultdict(dict)
    for artist, other, match in similar:
        if artist == other:
            continue
        strength = min(1.0, max(0.0, float(match)))
        for a, b in ((artist, other), (other, artist)):
            graph[a][b] = max(graph[a].get(b, 0.0), strength)
    return dict(graph)


def propagate(
    artists: Iterable[str],
    known: Mapping[str, MoodEstimate],
    graph: Mapping[str, Mapping[str, float]],
) -> dict[str, MoodEstimate]:
    """`known` plus estimates from similar artists for those of `artists` still unknown
    (label propagation, module docstring)."""
    estimates = dict(known)
    waiting = [artist for artist in dict.fromkeys(artists) if artist not in estimates]
    for _round in range(PROPAGATION_ROUNDS):
        found = {}
        for artist in waiting:
            estimate = _from_neighbours(graph.get(artist, {}), estimates)
            if estimate is not None:
                found[artist] = estimate
        if not found:
            break
        estimates.update(found)
        waiting = [artist for artist in waiting if artist not in found]
    return estimates


def _from_neighbours(
    neighbours: Mapping[str, float], estimates: Mapping[str, MoodEstimate]
) -> MoodEstimate | None:
    pulls = [(estimates[n], match) for n, match in neighbours.items() if n in estimates]
    known_match = sum(match for _estimate, match in pulls)
    if known_match < MIN_NEIGHBOUR_MATCH:
        return None
    weight = sum(match * estimate.confidence for estimate, match in pulls)
    if weight <= 0:
        return None
    energy, valence, acoustic = (
        sum(estimate.axes[axis] * match * estimate.confidence for estimate, match in pulls) / weight
        for axis in range(3)
    )
    confidence = HOP_DECAY * (weight / known_match) * min(1.0, known_match / FULL_NEIGHBOUR_MATCH)
    if confidence < KNOWN_CONFIDENCE:
        return None
    return MoodEstimate(energy, valence, acoustic, confidence, SIMILAR_ARTISTS)


def estimate_moods(
    artists: Iterable[str],
    artist_tags: Mapping[str, Mapping[str, float]],
    graph: Mapping[str, Mapping[str, float]],
) -> dict[str, MoodEstimate]:
    """The known mood of each of `artists` that has one: from the vocabulary, else from
    related tags, else from similar artists. `artist_tags` holds the tags of every artist
    enrich knows around them (theirs and their neighbours'), keyed as `graph` keys them."""
    wanted = list(dict.fromkeys(artists))
    direct = vocabulary_moods(artist_tags)
    learned = learn_tag_moods(artist_tags, direct)
    known = dict(direct)
    for artist, tags in artist_tags.items():
        if artist not in known:
            related = related_tag_mood(tags, learned)
            if related.confidence >= KNOWN_CONFIDENCE:
                known[artist] = related
    around = set(wanted) | {n for artist in wanted for n in graph.get(artist, {})}
    estimates = propagate(sorted(around), known, graph)
    return {artist: estimates[artist] for artist in wanted if artist in estimates}


def listener_moods(
    artists: Iterable[str],
    artist_tags: Mapping[str, Mapping[str, float]],
    knowledge: MoodKnowledge | None,
) -> tuple[dict[str, MoodEstimate], dict[str, MoodEstimate]]:
    """The known moods of the listener's `artists` (keyed by their spelling, as `artist_tags`
    is): from the vocabulary alone, and after related tags and similar artists when
    `knowledge` of what is around them is given."""
    played = list(dict.fromkeys(artists))
    before = vocabulary_moods({a: artist_tags[a] for a in played if a in artist_tags})
    if knowledge is None:
        return before, dict(before)
    by_key = {artist.lower(): artist for artist in played}
    tags = {
        **knowledge.tags,
        **{a.lower(): t for a, t in artist_tags.items() if a in by_key.values()},
    }
    estimates = estimate_moods(by_key, tags, similarity_graph(knowledge.similar))
    return before, {by_key[key]: estimate for key, estimate in estimates.items()}


def needing_neighbours(
    artists: Iterable[str], artist_tags: Mapping[str, Mapping[str, float]]
) -> list[str]:
    """The artists the vocabulary cannot place (no tags, or none it knows): only their
    similar artists need reading."""
    return [
        artist
        for artist in artists
        if not mood_vector(list(artist_tags.get(artist, {}).items())).known
    ]


def mood_coverage(
    listens_by_artist: Mapping[str, int],
    before: Iterable[str],
    after: Iterable[str],
) -> MoodCoverage:
    """Share of the listens whose artist is in `before` (vocabulary) and in `after`."""
    total = sum(listens_by_artist.values())
    if total <= 0:
        return MoodCoverage(0, 0.0, 0.0)
    known_before, known_after = set(before), set(after)
    return MoodCoverage(
        total,
        sum(n for a, n in listens_by_artist.items() if a in known_before) / total,
        sum(n for a, n in listens_by_artist.items() if a in known_after) / total,
    )
