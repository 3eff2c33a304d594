"""How much of each recommendation's explanation names something the listener knows, on real
histories with the HetRec catalog, in-process on the model service's own domain code.

Per history the listener is built as the services build them (features' artist stats and tag
profile, enrich's cleaned tags, the catalog's similar artists and tag top artists as the local
Last.fm server answers them, the model's candidate pool limits); the model is trained on the
time-ordered holdout (learning.train_model), the set is ranked (learning.ranked_for_set, the
liked-artist forest refitted and explained), balanced by taste and cut to its first 20, as
the service stores it. For each of those 20 it measures (explanation.named_shares) the share of
the score carried by named parts in the full breakdown and in the because line, and prints the
median and the minimum (targets: median >= 85%, minimum >= 70%, both), the largest catch-all
part of any item (target <= 20%), and the median share of the score that is the liked-artist
model's (so its decomposition is seen to matter).

Histories: the shared Spotify and Last.fm exports, and three hard listeners: `pingw33n` itself
(12,517 artists, most unknown to HetRec), `all five` (every shared history merged into one
listener, each moved in time to end together: thousands of artists, most unknown, many
tastes) and `generated` (the generated demo catalog's listener merged with all five, on the
demo catalog: its real artists are all unknown to it).

`python -m tools.lab.explanations --shared ../shared/data [--only sanabil,efrrowini] [--json]`

Measured (2-core shared machine, default training settings, about 1.5 minutes) on
2026-12-04, after seeds were named by their habits ("habits": of the top 20, the items
naming a recency or context cause, services/model/domain/habits.py; the lab computes the
habits in UTC) and after the lastfm-to-csv dates were read right (pingw33n's and all five's
recency had been computed with every scrobble in January 1970):

    history       artists tagged  cands liked w parts med  min because med  min catch-all habits
    sanabil           906     90  1,124    0.00       99%  95%         97%  88%        5%      0
    efrrowini         638    123  1,352    0.02       95%  94%         92%  86%        5%      0
    ryanpj2           242     58  1,256    0.05       96%  95%         92%  90%        5%      0
    pingw33n       12,512  1,737    962    0.00      100%  96%        100%  93%        4%     20
    sachawheeler    1,113    510  4,574    0.00       96%  95%         95%  90%        5%      1
    all five       14,849  2,193  3,227    0.04       95%  93%         94%  89%        5%      7
    generated      15,049    207    643    0.00       96%  95%         93%  88%        5%      0

The liked-artist model's median share of the top 20's scores ("liked share", printed before
"habits") was 21% for ryanpj2, 28% for all five and 7% for efrrowini, at most 1% elsewhere
(the holdout gave it weight 0); tests/unit/test_explanations.py holds the targets on a
constructed listener whose scores lean on the forest. Before and after the decomposition
and naming on the same base (9cb0164 against 450dc5b, whose features gave sachawheeler's
model a liked weight of 0.10 and the forest a median 39% of its top 20's scores):

    history       before: parts med   min because med   min   after: parts med min because min
    sanabil                     92%   81%         80%   53%              96%   91%     93%  85%
    efrrowini                   91%   62%         88%   48%              96%   95%     93%  87%
    ryanpj2                     83%   45%         81%   21%              97%   95%     94%  88%
    pingw33n                    74%   58%         50%   38%              96%   92%     94%  89%
    sachawheeler                42%   34%         18%   13%              93%   90%     92%  86%
    all five                    76%   56%         62%   33%              98%   91%     94%  87%
    generated                   98%   96%         98%   93%              96%   95%     95%  91%

(the largest catch-all of any item went from up to 49% to 5%).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from services.enrich.lastfm_local.catalog import Catalog, catalog_from_dict, catalog_from_hetrec
from services.features.domain.clusters import cluster_tastes
from services.features.domain.contexts import artist_habits
from services.features.domain.taste import PlayColumns, artist_stats, tag_profile
from services.model.domain.balance import balance_by_taste, taste_for
from services.model.domain.explanation import CATCH_ALLS, explain, named_shares, part_kind
from services.model.domain.habits import seed_habits
from services.model.domain.learning import (
    Holdout,
    ListenerView,
    SearchSettings,
    TrainedModel,
    holdout_cutoff,
    pool_inputs,
    positives_after,
    ranked_for_set,
    serving_inputs,
    train_model,
)
from services.model.domain.liked import ArtistHistory, LabelRule
from services.model.domain.scoring import HybridWeights, ScoredArtist
from services.model.settings import ModelSettings
from tools.demo.catalog import generate_demo_catalog
from tools.demo.history import generate_demo_history
from tools.lab.tastes import (
    LASTFM_HISTORIES,
    SPOTIFY_HISTORIES,
    catalog_tags,
    scrobble_plays,
    spotify_plays,
)

TOP = 20
GENERATED_PLAYS = 40_000


@dataclass(frozen=True)
class ExplanationReport:
    history: str
    artists: int
    tagged_artists: int
    candidates: int
    liked_weight: float
    parts_median: float
    parts_min: float
    because_median: float
    because_min: float
    largest_catch_all: float
    liked_share_median: float
    habit_items: int  # of the top TOP, those naming a recency or context cause
    example: str


@dataclass(frozen=True)
class Listener:
    """A history as the model sees it, on one catalog."""

    plays: PlayColumns
    tags: dict[str, dict[str, float]]  # artist key -> cleaned tags
    genres: frozenset[str]
    catalog: Catalog


def _key(name: str) -> str:
    return name.lower()


def listener(plays: PlayColumns, catalog: Catalog) -> Listener:
    names = sorted(set(plays.artist))
    similar_names = {
        similar
        for name in names
        if (found := catalog.artist(name)) is not None
        for similar, _ in found.similar_artists
    }
    tags, genres = catalog_tags(catalog, [*names, *similar_names])
    return Listener(plays, {_key(name): weights for name, weights in tags.items()}, genres, catalog)


def view_as_of(person: Listener, as_of_s: float) -> tuple[ListenerView, dict[str, str]]:
    """The listener as features and the model's candidate pool see them at `as_of_s`."""
    limits = ModelSettings()
    before = person.plays.ended_at_s < as_of_s
    plays = PlayColumns(
        artist=[artist for artist, kept in zip(person.plays.artist, before, strict=True) if kept],
        ended_at_s=person.plays.ended_at_s[before],
        ms_played=person.plays.ms_played[before],
        skipped=person.plays.skipped[before],
    )
    merged: dict[str, list[float]] = {}
    display: dict[str, str] = {}
    endorsements: dict[str, float] = {}
    artist_stats_now = artist_stats(plays, as_of_s)
    for stats in artist_stats_now:
        key = _key(stats.artist)
        display.setdefault(key, stats.artist)
        totals = merged.setdefault(key, [0, 0, 0, 0.0])
        for i, value in enumerate((stats.plays, stats.listens, stats.skips, stats.decayed_weight)):
            totals[i] += value
        endorsements[key] = endorsements.get(key, 0.0) + stats.endorsement
    histories = [
        ArtistHistory(key, int(p), int(listens), int(skips), float(weight))
        for key, (p, listens, skips, weight) in sorted(merged.items())
    ]
    known = {h.artist: h.decayed_weight for h in histories if h.decayed_weight > 0}
    seeds = sorted(known, key=lambda key: (-known[key], key))[: limits.seed_artists]
    similar: dict[str, list[tuple[str, float]]] = {}
    for seed in seeds:
        found = person.catalog.artist(display[seed])
        if found is not None and found.similar_artists:
            similar[seed] = [(_key(name), match) for name, match in found.similar_artists]
            for name, _ in found.similar_artists:
                display.setdefault(_key(name), name)
    top_tags = list(tag_profile(endorsements, person.tags, limits.candidate_tags))
    by_tag = [
        tagged.artist.name
        for tag in top_tags
        for tagged in person.catalog.top_artists_for_tag(tag)[:50]
    ]
    for name in by_tag:
        display.setdefault(_key(name), name)
    pool = {similar_key for pairs in similar.values() for similar_key, _ in pairs}
    pool |= {_key(name) for name in by_tag}
    candidates = sorted(pool - set(merged))
    everyone = sorted({*known, *candidates})
    artist_tags = {key: person.tags[key] for key in everyone if key in person.tags}
    listeners = {
        key: float(found.listeners)
        for key in everyone
        if (found := person.catalog.artist(display[key])) is not None
    }
    # as features serves them (in UTC: the lab knows no listener's zone)
    by_artist = artist_habits(plays)
    habits = seed_habits(
        [
            (stats.artist, stats.listens, habit.recent_listens, habit.hour_band)
            for stats in artist_stats_now
            if (habit := by_artist.get(stats.artist)) is not None
        ]
    )
    scoring = pool_inputs(known, artist_tags, similar, listeners, everyone, seed_habits=habits)
    return ListenerView(scoring, histories, candidates), display


@dataclass(frozen=True)
class ServedSet:
    """What the model service would store for the listener: its model, the view it scored and
    the first TOP items of the balanced set."""

    model: TrainedModel
    now: ListenerView
    top: list[ScoredArtist]


def served_set(person: Listener, search: SearchSettings) -> ServedSet:
    """Train, rank and balance the listener's set as the model service does."""
    settings = ModelSettings()
    as_of_s = float(person.plays.ended_at_s.max()) + 1.0
    now, display = view_as_of(person, as_of_s)
    first_listens = {
        _key(stats.artist): stats.first_listen
        for stats in artist_stats(person.plays, as_of_s)
        if stats.first_listen is not None
    }
    cutoff = holdout_cutoff(
        first_listens,
        settings.holdout_share,
        settings.min_holdout_positives,
        settings.min_training_artists,
    )
    holdout: Holdout | str = cutoff if isinstance(cutoff, str) else _holdout(person, cutoff)
    model = train_model(holdout, LabelRule(), HybridWeights(), search)
    keep = settings.set_size * 5
    scored = ranked_for_set(now, display, {}, model.params, frozenset(), frozenset(), keep)
    as_of = datetime.fromtimestamp(as_of_s, UTC)
    tastes = cluster_tastes(person.plays, as_of, _by_name(person, display), genres=person.genres)
    artist_cluster = {_key(a): t.cluster_id for t in tastes for a in t.artists}
    shares = {t.cluster_id: t.recent_share for t in tastes if not t.is_other}
    taste_tags = {t.cluster_id: t.tag_profile for t in tastes if not t.is_other}
    taste_of = [
        taste_for(item.top_seed_artists, item.top_tags, artist_cluster, taste_tags)
        for item in scored
    ]
    top = [item for item, _ in balance_by_taste(scored, taste_of, shares, settings.set_size)][:TOP]
    return ServedSet(model, now, top)


def measure(history: str, person: Listener, search: SearchSettings) -> ExplanationReport:
    """The figures of the module docstring on the listener's served set."""
    served = served_set(person, search)
    model, now, top = served.model, served.now, served.top
    named = [named_shares(item.parts) for item in top]
    catch_alls = [
        value / item.score
        for item in top
        for label, value in item.parts.items()
        if label in CATCH_ALLS and item.score > 0
    ]
    inputs = serving_inputs(now, model.params)
    weights = model.params.weights
    liked_shares = [
        weights.liked * inputs.liked_probability.get(_key(item.artist), 0.0) / item.score
        for item in top
        if item.score > 0
    ]
    in_parts = [share for share, _ in named] or [0.0]
    in_line = [share for _, share in named] or [0.0]
    return ExplanationReport(
        history=history,
        artists=len(set(person.plays.artist)),
        tagged_artists=sum(1 for name in set(person.plays.artist) if _key(name) in person.tags),
        candidates=len(now.candidates),
        liked_weight=weights.liked,
        parts_median=statistics.median(in_parts),
        parts_min=min(in_parts),
        because_median=statistics.median(in_line),
        because_min=min(in_line),
        largest_catch_all=max(catch_alls, default=0.0),
        liked_share_median=statistics.median(liked_shares) if liked_shares else 0.0,
        habit_items=sum(
            1
            for item in top
            if any(part_kind(label) in ("recency", "context") for label in item.parts)
        ),
        example=f"{top[0].artist}: {explain(top[0].parts)[0]}" if top else "",
    )


def _holdout(person: Listener, cutoff: datetime) -> Holdout | str:
    past, _ = view_as_of(person, cutoff.timestamp())
    first_listens = {
        _key(stats.artist): stats.first_listen
        for stats in artist_stats(person.plays, float(person.plays.ended_at_s.max()) + 1.0)
        if stats.first_listen is not None
    }
    positives = positives_after(first_listens, cutoff) - {h.artist for h in past.histories}
    if len(positives) < ModelSettings().min_holdout_positives or not past.candidates:
        return f"{len(positives)} artists newly played after {cutoff.isoformat()}"
    return Holdout(cutoff, past, frozenset(positives))


def _by_name(person: Listener, display: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """The tags keyed by the names the plays spell (cluster_tastes reads plays)."""
    return {
        name: person.tags[_key(name)]
        for name in set(person.plays.artist)
        if _key(name) in person.tags
    }


def merged_plays(parts: Sequence[PlayColumns]) -> PlayColumns:
    """One listener who played all `parts`, each moved in time to end when the latest does (so
    every taste is recent, not only the newest history's)."""
    end = max(float(part.ended_at_s.max()) for part in parts)
    return PlayColumns(
        artist=[artist for part in parts for artist in part.artist],
        ended_at_s=np.concatenate(
            [part.ended_at_s - part.ended_at_s.max() + end for part in parts]
        ),
        ms_played=np.concatenate([part.ms_played for part in parts]),
        skipped=np.concatenate([part.skipped for part in parts]),
    )


def demo_plays(catalog_document: dict[str, object]) -> PlayColumns:
    rows = [
        row
        for row in generate_demo_history(catalog_document, n_plays=GENERATED_PLAYS)
        if row.get("master_metadata_album_artist_name")
    ]
    return PlayColumns(
        artist=[str(row["master_metadata_album_artist_name"]) for row in rows],
        ended_at_s=np.array(
            [datetime.fromisoformat(str(row["ts"])).timestamp() for row in rows], dtype=np.float64
        ),
        ms_played=np.array([int(row["ms_played"]) for row in rows], dtype=np.int64),
        skipped=np.array([bool(row.get("skipped")) for row in rows], dtype=bool),
    )


def histories(shared: Path, only: frozenset[str] | None = None) -> list[tuple[str, Listener]]:
    """The shared histories on the HetRec catalog, then the hard listeners (module docstring)."""

    def wanted(name: str) -> bool:
        return only is None or name in only

    hetrec = catalog_from_hetrec(shared / "hetrec2011-lastfm-2k")
    read = {name: (spotify_plays, shared / rel) for name, rel in SPOTIFY_HISTORIES.items()}
    read |= {name: (scrobble_plays, shared / rel) for name, rel in LASTFM_HISTORIES.items()}
    needs_all = wanted("all five") or wanted("generated")
    plays = {
        name: reader(path) for name, (reader, path) in read.items() if wanted(name) or needs_all
    }
    people = [(name, listener(plays[name], hetrec)) for name in read if wanted(name)]
    if wanted("all five"):
        people.append(("all five", listener(merged_plays(list(plays.values())), hetrec)))
    if wanted("generated"):
        document = generate_demo_catalog()
        merged = merged_plays([demo_plays(document), *plays.values()])
        people.append(("generated", listener(merged, catalog_from_dict(document))))
    return people


def run(shared: Path, only: frozenset[str] | None = None) -> list[ExplanationReport]:
    search = SearchSettings()
    return [measure(name, person, search) for name, person in histories(shared, only)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--only", default="", help="comma-separated history names")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (args.shared / "hetrec2011-lastfm-2k").is_dir():
        parser.error(f"{args.shared} has no hetrec2011-lastfm-2k: pass the shared data folder")
    only = frozenset(name.strip() for name in args.only.split(",") if name.strip()) or None
    reports = run(args.shared, only)
    if args.json:
        print(json.dumps([asdict(report) for report in reports], indent=2))
        return 0
    print(f"named share of the top {TOP} (targets: median >= 85%, min >= 70%; catch-all <= 20%)")
    print(
        f"{'history':<13} {'artists':>7} {'tagged':>6} {'cands':>6} {'liked w':>7}"
        f" {'parts med':>9} {'min':>5} {'because med':>11} {'min':>5} {'max catch-all':>13}"
        f" {'liked share':>11} {'habits':>6}"
    )
    for r in reports:
        print(
            f"{r.history:<13} {r.artists:>7,} {r.tagged_artists:>6,} {r.candidates:>6,}"
            f" {r.liked_weight:>7.2f} {r.parts_median:>9.0%} {r.parts_min:>5.0%}"
            f" {r.because_median:>11.0%} {r.because_min:>5.0%} {r.largest_catch_all:>13.0%}"
            f" {r.liked_share_median:>11.0%} {r.habit_items:>6}"
        )
    for r in reports:
        print(f"{r.history}: {r.example}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
