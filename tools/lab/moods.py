"""How many of a listener's listens have a known mood, before and after estimating moods from
related tags and similar artists (`services/features/domain/moods.py`, the code features builds
the profile with), on real histories with the HetRec 2011 catalog the local Last.fm server
answers from (tags cleaned by enrich's own rules, similar artists as the server answers them).

Per history it prints the listens (plays of at least 30 s), the share of them whose artist the
catalog knows (the ceiling: an artist Last.fm does not know has neither tags nor neighbours),
and mood coverage: `before` (the mood vocabulary alone), `own` (after both steps when enrich has
tagged only the listener's own artists) and `after` (when the similar artists of the listener's
artists are tagged too, as enrich does for the candidates it tags after each profile), with how
many artists each step placed. Then a check that the estimates carry information: on the
listener's artists the vocabulary places, each one's energy estimated again as if it were
unknown, from its other tags and from its neighbours, as a mean absolute error (energy runs
-1..1) next to the error of guessing every artist's mean energy.

`python -m tools.lab.moods --shared ../shared/data [--json]`"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fullcircle.moods import KNOWN_CONFIDENCE, mood_point
from services.enrich.domain.tags import clean_artist_tags
from services.enrich.lastfm_local.catalog import Catalog, catalog_from_hetrec
from services.features.domain.moods import (
    RELATED_TAGS,
    SIMILAR_ARTISTS,
    MoodKnowledge,
    learn_tag_moods,
    listener_moods,
    mood_coverage,
    needing_neighbours,
    propagate,
    related_tag_mood,
    similarity_graph,
    vocabulary_moods,
)
from services.features.domain.taste import MIN_LISTEN_MS, PlayColumns
from tools.lab.tastes import lab_main, shared_histories


@dataclass(frozen=True)
class MoodReport:
    history: str
    listens: int
    artists: int
    in_catalog: float
    before: float
    own: float
    after: float
    by_related_tags: int
    by_similar_artists: int
    holdout_artists: int
    energy_error_related_tags: float
    energy_error_similar_artists: float
    energy_error_mean: float


def cleaned_tags(catalog: Catalog, name: str) -> dict[str, float]:
    """An artist's tags as enrich stores them (empty when the catalog does not know it)."""
    found = catalog.artist(name)
    if found is None:
        return {}
    cleaned = clean_artist_tags(name, [(str(tag), int(weight)) for tag, weight in found.top_tags])
    return {clean.tag: float(clean.weight) for clean in cleaned}


def listener_knowledge(
    catalog: Catalog, artists: Sequence[str], every_artist: bool = False
) -> tuple[dict[str, dict[str, float]], MoodKnowledge]:
    """What enrich stores for the listener and what features reads of it (adapters/store.py
    `read_mood_knowledge`): the tags of their artists, by their spelling; and, for the artists
    the vocabulary cannot place, the similar-artist rows touching them (enrich fetches the
    similar artists of every artist of the listener) with the tags of every artist on them;
    with `every_artist`, those rows for all of the listener's artists (for `holdout_errors`)."""
    own = {name: theirs for name in artists if (theirs := cleaned_tags(catalog, name))}
    needing = {
        name.lower() for name in (artists if every_artist else needing_neighbours(artists, own))
    }
    rows = [
        (name.lower(), other.lower(), match)
        for name in artists
        if (found := catalog.artist(name)) is not None
        for other, match in found.similar_artists
        if name.lower() in needing or other.lower() in needing
    ]
    around = {key for row in rows for key in row[:2]}
    tags = {key: cleaned for key in sorted(around) if (cleaned := cleaned_tags(catalog, key))}
    return own, MoodKnowledge(tags, rows)


def holdout_errors(
    own: Mapping[str, Mapping[str, float]], knowledge: MoodKnowledge
) -> tuple[float, float, float, int]:
    """How far the estimates land from the truth, on the listener's artists the vocabulary
    places: each one's energy estimated again as if unknown, from its other tags (related
    tags) and from its neighbours (similar artists), against predicting every artist's mean.
    Mean absolute energy errors (related tags, similar artists, the mean) and artists tried."""
    tags = {**knowledge.tags, **{name.lower(): t for name, t in own.items()}}
    direct = vocabulary_moods(tags)
    learned = learn_tag_moods(tags, direct)
    graph = similarity_graph(knowledge.similar)
    truth = {name.lower(): m for name, m in vocabulary_moods(own).items()}
    mean = float(np.mean([m.energy for m in direct.values()])) if direct else 0.0
    by_tags, by_similar, by_mean = [], [], []
    for key, known in sorted(truth.items()):
        other_tags = {tag: w for tag, w in tags[key].items() if mood_point(tag) is None}
        related = related_tag_mood(other_tags, learned)
        others = {artist: m for artist, m in direct.items() if artist != key}
        similar = propagate([key], others, graph).get(key)
        if related.confidence < KNOWN_CONFIDENCE or similar is None:
            continue
        by_tags.append(abs(related.energy - known.energy))
        by_similar.append(abs(similar.energy - known.energy))
        by_mean.append(abs(mean - known.energy))
    if not by_mean:
        return 0.0, 0.0, 0.0, 0
    return (
        float(np.mean(by_tags)),
        float(np.mean(by_similar)),
        float(np.mean(by_mean)),
        len(by_mean),
    )


def measure(history: str, plays: PlayColumns, catalog: Catalog) -> MoodReport:
    listens = Counter(
        artist
        for artist, ms in zip(plays.artist, plays.ms_played, strict=True)
        if ms >= MIN_LISTEN_MS
    )
    names = sorted(set(plays.artist))
    own, knowledge = listener_knowledge(catalog, names)
    before, after = listener_moods(names, own, knowledge)
    _, with_own = listener_moods(names, own, MoodKnowledge({}, knowledge.similar))
    coverage = mood_coverage(listens, before, after)
    in_catalog = {name for name in names if catalog.artist(name) is not None}
    sources = Counter(estimate.source for estimate in after.values())
    tags_error, similar_error, mean_error, tried = holdout_errors(
        own, listener_knowledge(catalog, names, every_artist=True)[1]
    )
    return MoodReport(
        history=history,
        listens=coverage.listens,
        artists=len(listens),
        in_catalog=sum(n for a, n in listens.items() if a in in_catalog) / max(1, coverage.listens),
        before=coverage.before,
        own=mood_coverage(listens, before, with_own).after,
        after=coverage.after,
        by_related_tags=sources[RELATED_TAGS],
        by_similar_artists=sources[SIMILAR_ARTISTS],
        holdout_artists=tried,
        energy_error_related_tags=tags_error,
        energy_error_similar_artists=similar_error,
        energy_error_mean=mean_error,
    )


def run(shared: Path) -> list[MoodReport]:
    catalog = catalog_from_hetrec(shared / "hetrec2011-lastfm-2k")
    return [measure(history, plays, catalog) for history, plays in shared_histories(shared)]


def print_table(reports: Sequence[MoodReport]) -> None:
    print(
        f"{'history':<13} {'listens':>7} {'artists':>7} {'in catalog':>10} {'before':>7}"
        f" {'own':>7} {'after':>7} {'by tags':>8} {'by similar':>10}"
        f" | {'held out':>8} {'err tags':>8} {'err similar':>11} {'err mean':>8}"
    )
    for r in reports:
        print(
            f"{r.history:<13} {r.listens:>7,} {r.artists:>7,} {r.in_catalog:>10.0%}"
            f" {r.before:>7.0%} {r.own:>7.0%} {r.after:>7.0%} {r.by_related_tags:>8,}"
            f" {r.by_similar_artists:>10,} | {r.holdout_artists:>8,}"
            f" {r.energy_error_related_tags:>8.2f} {r.energy_error_similar_artists:>11.2f}"
            f" {r.energy_error_mean:>8.2f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    return lab_main(__doc__.splitlines()[0], argv, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
