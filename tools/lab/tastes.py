"""How readable a listener's tastes are: their number, names and purity, on real histories with
real Last.fm tags (the HetRec 2011 catalog the local Last.fm server answers from, cleaned and
classed by enrich's own rules).

Per history, before (artists without a genre stay in the genre-named taste co-listening put
them in) and after (they leave it for tastes named by their artists), it prints: tastes found;
how many cover 90% of listens (target at most 12, "other" counting as one); duplicate names
(target 0); names that use a tag which is not a genre (target 0); purity over the tastes named
by genres, the share of a taste's listens whose artist carries one of the taste's name tags
among its `TOP_TAGS` strongest tags (target at least 0.8 for each: the minimum, the median and
the listen-weighted mean); and where the listens are: in genre-named tastes, in tastes named
by their artists, in "other", beside the share of listens whose artist carries any genre at
all ("genred", the most that genre-named tastes can honestly hold). Besides the five shared
histories, `all_five` is a hard listener who lived all five one after another (each a day
after the last ends): thousands of artists, most unknown to the catalog, many tastes.

Measured 2026-12-04 (`python -m tools.lab.tastes --shared ../shared/data`; the purity columns
are min / median / listen-weighted over genre-named tastes, then the shares of listens; the
pingw33n and all_five rows re-measured after `scrobble_plays` read the lastfm-to-csv dates
right: it had put every 2008-2020 scrobble in January 1970, so their recency was wrong):

    history       plays    artists tagged | version tastes 90% dup !genre | purity          |
                                          |                               | min  med  wtd   |
    sanabil        22,671     906     90  | before   17      9   0   0    | 0.01 0.08 0.13  |
                                          | after    32     12   0   0    | 1.00 1.00 1.00  |
    efrrowini       6,941     638    123  | before   14      9   0   0    | 0.03 0.22 0.26  |
                                          | after    21     12   0   0    | 1.00 1.00 1.00  |
    ryanpj2        24,248     242     58  | before    9      6   0   0    | 0.00 0.11 0.11  |
                                          | after    17     10   0   0    | 1.00 1.00 1.00  |
    pingw33n       60,647  12,512  1,737  | before   17     12   0   0    | 0.03 0.30 0.36  |
                                          | after    26     12   0   0    | 1.00 1.00 1.00  |
    sachawheeler   11,622   1,113    510  | before   15     12   0   0    | 0.43 0.61 0.60  |
                                          | after    21     12   0   0    | 1.00 1.00 1.00  |
    all_five      126,129  14,849  2,193  | before   18     10   0   0    | 0.13 0.41 0.31  |
                                          | after    24     12   0   0    | 1.00 1.00 1.00  |

    share of listens (before -> after)  genre-named  artist-named  other     genred
    sanabil                             91% -> 12%     9% -> 88%    0% ->  0%   12%
    efrrowini                           98% -> 26%     1% -> 74%    1% ->  1%   26%
    ryanpj2                             84% ->  9%    15% -> 90%    0% ->  0%   10%
    pingw33n                            95% -> 35%     0% -> 60%    5% ->  5%   37%
    sachawheeler                        98% -> 59%     0% -> 39%    2% ->  1%   61%
    all_five                            96% -> 30%     0% -> 66%    4% ->  4%   32%

Before, genre-named tastes held 84-98% of the listens while only 10-61% of the listens are of
an artist with a genre: the rest sat under a genre name they do not carry. After, each name is
true, and the listens the catalog cannot name are in tastes named by their artists.

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
from services.features.domain.taste import DAY_S, PlayColumns
from services.ingest.domain.exports import read_export_path
from services.ingest.domain.history_rows import UNKNOWN_ARTIST

TOP_TAGS = TOP_NAME_TAGS
COVERAGE = 0.9
# A scrobble says a track was played, not for how long: count each as a full listen.
SCROBBLE_MS = 180_000

HARD_LISTENER = "all_five"
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
    version: str  # "before": untagged artists stay where co-listening put them; "after"
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
    genre_named_share: float
    artist_named_share: float
    other_share: float
    genred_share: float
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
        # seconds from the epoch whatever unit pandas stores the times in (it is not
        # always nanoseconds: dividing the integer view by 1e9 put 2008-2020 in 1970)
        parsed = pd.to_datetime(table["date"], format="%d %b %Y %H:%M", utc=True)
        ended = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
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


def measure(
    history: str,
    plays: PlayColumns,
    tags: Mapping[str, Mapping[str, float]],
    genres: frozenset[str],
    *,
    untagged_stay: bool = False,
) -> TasteReport:
    as_of = datetime.fromtimestamp(float(plays.ended_at_s.max()) + 1, UTC)
    clusters = cluster_tastes(plays, as_of, tags, genres=genres, untagged_stay=untagged_stay)
    listens = {artist: 0 for cluster in clusters for artist in cluster.artists}
    for artist, ms in zip(plays.artist, plays.ms_played, strict=True):
        if ms >= 30_000 and artist in listens:
            listens[artist] += 1
    total_listens = max(1, sum(listens.values()))
    named = [cluster for cluster in clusters if not cluster.is_other]
    purities, weights = [], []
    genred = sum(n for artist, n in listens.items() if genres & top_tags(tags.get(artist, {})))
    for cluster in named:
        wanted = set(cluster.name_tags)
        if not wanted:
            continue  # named by its artists: no tag to be true to
        total = sum(listens[a] for a in cluster.artists)
        pure = sum(listens[a] for a in cluster.artists if wanted & top_tags(tags.get(a, {})))
        purities.append(pure / total if total else 0.0)
        weights.append(total)
    by_share = sorted((cluster.listens for cluster in clusters), reverse=True)
    needed = int(np.searchsorted(np.cumsum(by_share) / max(1, sum(by_share)), COVERAGE) + 1)
    names = [cluster.name for cluster in named]

    def share(kept: Sequence[TasteCluster]) -> float:
        return sum(listens[a] for cluster in kept for a in cluster.artists) / total_listens

    return TasteReport(
        history=history,
        version="before" if untagged_stay else "after",
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
        genre_named_share=share([c for c in named if c.name_tags]),
        artist_named_share=share([c for c in named if not c.name_tags]),
        other_share=share([c for c in clusters if c.is_other]),
        genred_share=genred / total_listens,
        names=names,
    )


def shared_histories(shared: Path) -> list[tuple[str, PlayColumns]]:
    """Every shared history this lab reads, by name, as play columns."""
    sources = [(name, spotify_plays, shared / rel) for name, rel in SPOTIFY_HISTORIES.items()]
    sources += [(name, scrobble_plays, shared / rel) for name, rel in LASTFM_HISTORIES.items()]
    return [(history, read(path)) for history, read, path in sources]


def histories(shared: Path) -> dict[str, PlayColumns]:
    """The five shared histories, and the hard listener made of all five (`all_five`)."""
    found = dict(shared_histories(shared))
    return found | {HARD_LISTENER: end_to_end(list(found.values()))}


def end_to_end(parts: Sequence[PlayColumns]) -> PlayColumns:
    """One listener who lived each history in turn: each starts a day after the one before
    ends (their sessions never mix), an artist in two of them is one artist."""
    shifted, start = [], 0.0
    for part in parts:
        shifted.append(part.ended_at_s - float(part.ended_at_s.min()) + start)
        start = float(shifted[-1].max()) + DAY_S
    return PlayColumns(
        artist=[artist for part in parts for artist in part.artist],
        ended_at_s=np.concatenate(shifted),
        ms_played=np.concatenate([part.ms_played for part in parts]),
        skipped=np.concatenate([part.skipped for part in parts]),
    )


def run(shared: Path) -> list[TasteReport]:
    catalog = catalog_from_hetrec(shared / "hetrec2011-lastfm-2k")
    reports = []
    for history, plays in histories(shared).items():
        tags, genres = catalog_tags(catalog, plays.artist)
        for untagged_stay in (True, False):
            reports.append(measure(history, plays, tags, genres, untagged_stay=untagged_stay))
    return reports


def shared_data_arguments(description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    """`--shared` (the folder holding hetrec2011-lastfm-2k, checked) and `--json`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (args.shared / "hetrec2011-lastfm-2k").is_dir():
        parser.error(f"{args.shared} has no hetrec2011-lastfm-2k: pass the shared data folder")
    return args


def print_table(reports: Sequence[TasteReport]) -> None:
    print(
        f"{'history':<13} {'':<6} {'plays':>7} {'artists':>7} {'tagged':>6} {'tastes':>6}"
        f" {'for 90%':>7} {'dup':>3} {'!genre':>6} {'purity min':>10} {'median':>6}"
        f" {'weighted':>8} {'genre-named':>11} {'artist-named':>12} {'other':>5}"
        f" {'genred':>6}"
    )
    for r in reports:
        print(
            f"{r.history:<13} {r.version:<6} {r.plays:>7,} {r.artists:>7,}"
            f" {r.tagged_artists:>6,} {r.tastes:>6} {r.tastes_for_90_percent:>7}"
            f" {r.duplicate_names:>3} {r.names_not_genres:>6} {r.purity_min:>10.2f}"
            f" {r.purity_median:>6.2f} {r.purity_weighted:>8.2f} {r.genre_named_share:>11.0%}"
            f" {r.artist_named_share:>12.0%} {r.other_share:>5.0%} {r.genred_share:>6.0%}"
        )
    for r in reports:
        if r.version == "after":
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
