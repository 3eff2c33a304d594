"""How readable a listener's tastes are: their number, names and purity, on real histories with
real Last.fm tags (the HetRec 2011 catalog the local Last.fm server answers from, cleaned and
classed by enrich's own rules).

Per history it prints: tastes found; how many cover 90% of listens (target at most 12);
duplicate names (target 0); names that use a tag which is not a genre (target 0); and purity,
the share of a taste's listens whose artist carries one of the taste's name tags among its
`TOP_TAGS` strongest tags (target at least 0.8 for each taste, reported as the minimum, the
median and the listen-weighted mean over tastes named by tags). Artists the catalog does not
know have no tags; they count against purity where a taste holds them, so the purity over the
listens of artists with a genre among their top tags alone ("genred min") and the share of
such listens are printed beside it.

`python -m tools.lab.tastes --shared ../shared/data [--json]`"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.enrich.domain.tags import TagKind, clean_artist_tags
from services.enrich.lastfm_local.catalog import Catalog, catalog_from_hetrec
from services.features.domain.clusters import TOP_NAME_TAGS, TasteCluster, cluster_tastes
from services.features.domain.taste import PlayColumns
from services.ingest.domain.exports import read_export_path
from services.ingest.domain.history_rows import UNKNOWN_ARTIST

TOP_TAGS = TOP_NAME_TAGS
COVERAGE = 0.9
# A scrobble says a track was played, not for how long: count each as a full listen.
SCROBBLE_MS = 180_000

SPOTIFY_HISTORIES = {
    "sanabil": "spotify-history-sanabil/my_spotify_data.zip",
    "efrrowini": "spotify-history-efrrowini",
    "ryanpj2": "spotify-account-ryanpj2",
}
LASTFM_HISTORIES = {
    "pingw33n": "lastfm-csv-pingw33n/lastfm_scrobbles.csv",
    "sachawheeler": "lastfm-ghan-csv-sachawheeler/scrobbles.csv",
}


@dataclass(frozen=True)
class TasteReport:
    history: str
    plays: int
    artists: int
    tagged_artists: int
    tastes: int
    tastes_for_90_percent: int
    duplicate_names: int
    names_not_genres: int
    purity_min: float
    purity_median: float
    purity_weighted: float
    tagged_purity_min: float
    tagged_share: float
    names: list[str]


def spotify_plays(path: Path) -> PlayColumns:
    plays = [
        play
        for play in read_export_path(path).plays
        if play.artist_name and play.artist_name != UNKNOWN_ARTIST
    ]
    return PlayColumns(
        artist=[str(play.artist_name) for play in plays],
        ended_at_s=np.array([play.ended_at.timestamp() for play in plays], dtype=np.float64),
        ms_played=np.array([play.ms_played for play in plays], dtype=np.int64),
        skipped=np.array([bool(play.skipped) for play in plays], dtype=bool),
    )


def scrobble_plays(path: Path) -> PlayColumns:
    """A Last.fm CSV export (lastfm-to-csv without a header, or lastfm.ghan.nl with one)."""
    head = path.read_text(encoding="utf-8", errors="replace")[:200]
    if head.startswith('"uts"') or head.startswith("uts,"):
        table = pd.read_csv(path, usecols=["uts", "artist"])
        ended = table["uts"].astype(np.float64)
    else:
        table = pd.read_csv(path, header=None, names=["artist", "album", "track", "date"])
        table = table[table["date"].notna()]
        ended = (
            pd.to_datetime(table["date"], format="%d %b %Y %H:%M", utc=True).astype("int64") / 1e9
        )
    artists = table["artist"].fillna("").astype(str)
    keep = (artists.str.strip() != "").to_numpy()
    return PlayColumns(
        artist=list(artists[keep]),
        ended_at_s=ended.to_numpy(dtype=np.float64)[keep],
        ms_played=np.full(int(keep.sum()), SCROBBLE_MS, dtype=np.int64),
        skipped=np.zeros(int(keep.sum()), dtype=bool),
    )


def catalog_tags(
    catalog: Catalog, artists: Sequence[str]
) -> tuple[dict[str, dict[str, float]], frozenset[str]]:
    """Each artist's cleaned tags (as enrich stores them) and which of those tags are genres."""
    tags: dict[str, dict[str, float]] = {}
    genres: set[str] = set()
    for name in sorted(set(artists)):
        found = catalog.artist(name)
        if found is None or not found.top_tags:
            continue
        cleaned = clean_artist_tags(
            name, [(str(tag), int(weight)) for tag, weight in found.top_tags]
        )
        if cleaned:
            tags[name] = {clean.tag: float(clean.weight) for clean in cleaned}
            genres.update(clean.tag for clean in cleaned if clean.kind == TagKind.GENRE)
    return tags, frozenset(genres)


def top_tags(weights: Mapping[str, float], n: int = TOP_TAGS) -> set[str]:
    return {tag for tag, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:n]}


def name_tags(cluster: TasteCluster) -> list[str]:
    return [] if cluster.is_other else list(cluster.name_tags)


def measure(
    history: str,
    plays: PlayColumns,
    tags: Mapping[str, Mapping[str, float]],
    genres: frozenset[str],
) -> TasteReport:
    as_of = datetime.fromtimestamp(float(plays.ended_at_s.max()) + 1, UTC)
    clusters = cluster_tastes(plays, as_of, tags, genres=genres)
    listens = {artist: 0 for cluster in clusters for artist in cluster.artists}
    for artist, ms in zip(plays.artist, plays.ms_played, strict=True):
        if ms >= 30_000 and artist in listens:
            listens[artist] += 1
    named = [cluster for cluster in clusters if not cluster.is_other]
    purities, weights, tagged_purities = [], [], []
    tagged_listens = 0
    for cluster in named:
        wanted = set(name_tags(cluster))
        total = sum(listens[a] for a in cluster.artists)
        pure = sum(listens[a] for a in cluster.artists if wanted & top_tags(tags.get(a, {})))
        known = sum(listens[a] for a in cluster.artists if genres & top_tags(tags.get(a, {})))
        tagged_listens += known
        if not wanted:
            continue  # named by its artists: no tag to be true to
        purities.append(pure / total if total else 0.0)
        tagged_purities.append(pure / known if known else 0.0)
        weights.append(total)
    by_share = sorted((cluster.listens for cluster in clusters), reverse=True)
    needed = int(np.searchsorted(np.cumsum(by_share) / max(1, sum(by_share)), COVERAGE) + 1)
    names = [cluster.name for cluster in named]
    return TasteReport(
        history=history,
        plays=len(plays.artist),
        artists=len(set(plays.artist)),
        tagged_artists=sum(1 for artist in set(plays.artist) if artist in tags),
        tastes=len(named),
        tastes_for_90_percent=min(needed, len(clusters)),
        duplicate_names=len(names) - len(set(names)),
        names_not_genres=sum(
            1 for cluster in named if cluster.name_tags and not set(cluster.name_tags) <= genres
        ),
        purity_min=min(purities, default=0.0),
        purity_median=statistics.median(purities) if purities else 0.0,
        purity_weighted=float(np.average(purities, weights=weights)) if purities else 0.0,
        tagged_purity_min=min(tagged_purities, default=0.0),
        tagged_share=tagged_listens / max(1, sum(listens.values())),
        names=names,
    )


def shared_histories(shared: Path) -> list[tuple[str, PlayColumns]]:
    """Every shared history this lab reads, by name, as play columns."""
    sources = [(name, spotify_plays, shared / rel) for name, rel in SPOTIFY_HISTORIES.items()]
    sources += [(name, scrobble_plays, shared / rel) for name, rel in LASTFM_HISTORIES.items()]
    return [(history, read(path)) for history, read, path in sources]


def shared_data_arguments(description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    """`--shared` (the folder holding hetrec2011-lastfm-2k, checked) and `--json`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (args.shared / "hetrec2011-lastfm-2k").is_dir():
        parser.error(f"{args.shared} has no hetrec2011-lastfm-2k: pass the shared data folder")
    return args


def run(shared: Path) -> list[TasteReport]:
    catalog = catalog_from_hetrec(shared / "hetrec2011-lastfm-2k")
    reports = []
    for history, plays in shared_histories(shared):
        tags, genres = catalog_tags(catalog, plays.artist)
        reports.append(measure(history, plays, tags, genres))
    return reports


def print_table(reports: Sequence[TasteReport]) -> None:
    print(
        f"{'history':<13} {'plays':>7} {'artists':>8} {'tagged':>7} {'tastes':>6} {'for 90%':>7}"
        f" {'dup':>4} {'!genre':>6} {'purity min':>10} {'median':>7} {'weighted':>8}"
        f" {'genred min':>10} {'genred share':>12}"
    )
    for r in reports:
        print(
            f"{r.history:<13} {r.plays:>7,} {r.artists:>8,} {r.tagged_artists:>7,} {r.tastes:>6}"
            f" {r.tastes_for_90_percent:>7} {r.duplicate_names:>4} {r.names_not_genres:>6}"
            f" {r.purity_min:>10.2f} {r.purity_median:>7.2f} {r.purity_weighted:>8.2f}"
            f" {r.tagged_purity_min:>10.2f} {r.tagged_share:>12.0%}"
        )
    for r in reports:
        print(f"\n{r.history}: " + "; ".join(r.names))


def lab_main(
    description: str,
    argv: Sequence[str] | None,
    run: Callable[[Path], Sequence[Any]],
    print_table: Callable[[Any], None],
) -> int:
    """A lab command: `--shared` (checked) and `--json`; the reports as JSON or a table."""
    args = shared_data_arguments(description, argv)
    reports = run(args.shared)
    if args.json:
        print(json.dumps([asdict(report) for report in reports], indent=2))
    else:
        print_table(reports)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return lab_main(__doc__.splitlines()[0], argv, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
