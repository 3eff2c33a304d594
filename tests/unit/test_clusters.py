"""Taste clusters on real listening histories: tastes the listener keeps apart stay apart."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from services.enrich.lastfm_local.catalog import catalog_from_hetrec
from services.features.domain.clusters import (
    OTHER_CLUSTER_ID,
    SECOND_NAME_GAIN,
    TasteCluster,
    _genre_names,
    artist_clusters,
    cluster_tastes,
)
from services.features.domain.taste import DAY_S, PlayColumns
from services.ingest.domain.exports import read_export_path
from services.ingest.domain.plays import Play
from tools.lab import tastes as lab_tastes

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SANABIL_ZIP = SHARED_DATA / "spotify-history-sanabil" / "my_spotify_data.zip"
EFRROWINI = SHARED_DATA / "spotify-history-efrrowini"
HETREC = SHARED_DATA / "hetrec2011-lastfm-2k"

needs_sanabil = pytest.mark.skipif(not SANABIL_ZIP.is_file(), reason=f"{SANABIL_ZIP} absent")
needs_efrrowini = pytest.mark.skipif(not EFRROWINI.is_dir(), reason=f"{EFRROWINI} absent")

# A recitation by its title (surah, ayah, dua, ruqyah...) or its reciter's title (sheikh, qari).
RECITATION = re.compile(r"surah|\bdua\b|ruqyah|ayat|ayah|quran|durood|istikhara|دعاء", re.I)
RECITER = re.compile(r"sudais|shuraim|sheikh|qari|quran|دعاء", re.I)
# Unaccompanied devotional singers (nasheed, naat) this listener plays in the same sessions as
# the recitations; co-listening rightly puts them in the devotional taste, never with the pop.
DEVOTIONAL_SINGERS = {
    "Ahmed Bukhatir",
    "Maher Zain",
    "shem.iz",
    "Junaid Jamshed",
    "Ameen Fahim",
    "Abu ubayda",
}


def columns(plays: list[Play]) -> PlayColumns:
    named = [p for p in plays if p.artist_name]
    return PlayColumns(
        artist=[p.artist_name or "" for p in named],
        ended_at_s=np.array([p.ended_at.timestamp() for p in named]),
        ms_played=np.array([p.ms_played for p in named], dtype=np.int64),
        skipped=np.array([bool(p.skipped) for p in named]),
    )


@pytest.fixture(scope="module")
def sanabil() -> list[Play]:
    return read_export_path(SANABIL_ZIP).plays


@pytest.fixture(scope="module")
def sanabil_tastes(sanabil: list[Play]) -> list[TasteCluster]:
    return cluster_tastes(columns(sanabil), max(p.ended_at for p in sanabil))


def reciters(plays: list[Play]) -> set[str]:
    """Artists most of whose listens are recitations, judged by track titles."""
    listens: dict[str, Counter[bool]] = defaultdict(Counter)
    for play in plays:
        if play.artist_name and play.ms_played >= 30_000:
            listens[play.artist_name][bool(RECITATION.search(play.track_name or ""))] += 1
    return {artist for artist, titles in listens.items() if titles[True] > titles[False]}


@needs_sanabil
def test_taylor_swift_is_a_different_taste_from_bollywood_and_pakistani_pop(
    sanabil_tastes: list[TasteCluster],
) -> None:
    cluster_of = artist_clusters(sanabil_tastes)
    taylor = cluster_of["Taylor Swift"]
    assert taylor != OTHER_CLUSTER_ID
    for artist in ("Pritam", "Arijit Singh", "Atif Aslam"):
        assert cluster_of[artist] != taylor, artist


@needs_sanabil
def test_quran_recitations_form_their_own_taste(
    sanabil: list[Play], sanabil_tastes: list[TasteCluster]
) -> None:
    recitation_artists = reciters(sanabil)
    listens = Counter(p.artist_name for p in sanabil if p.ms_played >= 30_000)
    core = {a for a in recitation_artists if listens[a] >= 5}
    assert {"Omar Hisham", "Alshaikh Abdul Rahman Alsudais Sheikh Saud Al Shuraim"} <= core
    cluster_of = artist_clusters(sanabil_tastes)
    (devotional,) = {cluster_of[a] for a in core}
    members = next(c for c in sanabil_tastes if c.cluster_id == devotional).artists
    music = [
        a
        for a in members
        if a not in recitation_artists and not RECITER.search(a) and a not in DEVOTIONAL_SINGERS
    ]
    assert music == []
    assert devotional != OTHER_CLUSTER_ID
    assert not {"Taylor Swift", "Pritam", "Arijit Singh", "Atif Aslam", "Kaavish"} & set(members)


@needs_sanabil
def test_every_listened_artist_is_in_exactly_one_taste_and_shares_add_up(
    sanabil: list[Play], sanabil_tastes: list[TasteCluster]
) -> None:
    listened = {p.artist_name for p in sanabil if p.artist_name and p.ms_played >= 30_000}
    members = [a for c in sanabil_tastes for a in c.artists]
    assert sorted(members) == sorted(listened)
    assert 5 <= len(sanabil_tastes) <= 40
    assert sum(c.all_time_share for c in sanabil_tastes) == pytest.approx(1.0)
    assert sum(c.recent_share for c in sanabil_tastes) == pytest.approx(1.0)
    real = [c for c in sanabil_tastes if not c.is_other]
    assert [c.cluster_id for c in real] == list(range(1, len(real) + 1))
    assert real[0].name.endswith("& co.") and real[0].artists[0] in real[0].name


@needs_efrrowini
def test_a_second_listener_also_gets_several_tastes() -> None:
    plays = read_export_path(EFRROWINI).plays
    tastes = cluster_tastes(columns(plays), max(p.ended_at for p in plays))
    real = [c for c in tastes if not c.is_other and len(c.artists) >= 5]
    assert len(real) >= 5
    # No taste swallows the listener: the largest holds well under half of the listens.
    assert max(c.all_time_share for c in tastes) < 0.5


@needs_sanabil
def test_clustering_scales_to_six_times_the_listening(sanabil: list[Play]) -> None:
    """Six listeners' worth of plays (~136,000, ~5,400 artists) laid end to end in time: the
    clusters of different copies never mix (speed is measured in bench/, not asserted)."""
    plays = columns(sanabil)
    span = float(plays.ended_at_s.max() - plays.ended_at_s.min()) + DAY_S
    large = PlayColumns(
        artist=[f"{a} #{k}" for k in range(6) for a in plays.artist],
        ended_at_s=np.concatenate([plays.ended_at_s + k * span for k in range(6)]),
        ms_played=np.tile(plays.ms_played, 6),
        skipped=np.tile(plays.skipped, 6),
    )
    tastes = cluster_tastes(large, datetime.fromtimestamp(float(large.ended_at_s.max()), UTC))
    assert len(tastes) > 10
    for taste in tastes:
        if not taste.is_other:
            assert len({artist.rsplit(" #", 1)[1] for artist in taste.artists}) == 1


NOW = datetime(2025, 6, 1, tzinfo=UTC)


def sessions(*blocks: tuple[list[str], float]) -> PlayColumns:
    """Each block: artists played back to back (3-minute listens) starting `days_ago`."""
    artist, ended = [], []
    for names, days_ago in blocks:
        start = NOW.timestamp() - days_ago * DAY_S
        for i, name in enumerate(names):
            artist.append(name)
            ended.append(start + (i + 1) * 180.0)
    return PlayColumns(
        artist=artist,
        ended_at_s=np.array(ended),
        ms_played=np.full(len(artist), 180_000, dtype=np.int64),
        skipped=np.zeros(len(artist), dtype=bool),
    )


def two_scenes() -> PlayColumns:
    metal = ["Metallica", "Slayer", "Megadeth", "Anthrax"]
    jazz = ["Miles Davis", "John Coltrane", "Bill Evans", "Chet Baker"]
    # Jazz every few days for two years up to 200 days ago; metal in the last two months.
    blocks = [(jazz * 2, 200 + 7 * d) for d in range(100)]
    blocks += [(metal * 2, 3 + 2 * d) for d in range(30)]
    blocks.append((["Obscure Band", "Metallica", "Slayer"], 1))
    return sessions(*blocks)


def test_separately_played_scenes_become_separate_tastes_with_their_trends() -> None:
    tastes = cluster_tastes(two_scenes(), NOW)
    by_artist = artist_clusters(tastes)
    assert by_artist["Metallica"] == by_artist["Slayer"] == by_artist["Anthrax"]
    assert by_artist["Miles Davis"] == by_artist["Bill Evans"] != by_artist["Metallica"]
    # One play, only ever next to metal: it joins metal rather than standing alone.
    assert by_artist["Obscure Band"] == by_artist["Metallica"]
    metal = next(c for c in tastes if "Metallica" in c.artists)
    jazz = next(c for c in tastes if "Miles Davis" in c.artists)
    assert (metal.trend, jazz.trend) == ("rising", "dormant")
    assert metal.recent_share == 1.0 and jazz.recent_listens == 0
    assert jazz.name == "Bill Evans, Chet Baker & co."  # ties in listens go alphabetically


def test_tags_name_the_tastes_and_give_their_profiles() -> None:
    tags = {a: {"thrash metal": 100.0, "metal": 60.0} for a in ["Metallica", "Slayer"]}
    tags |= {a: {"jazz": 100.0, "bebop": 40.0} for a in ["Miles Davis", "John Coltrane"]}
    tastes = cluster_tastes(two_scenes(), NOW, artist_tags=tags)
    metal = next(c for c in tastes if "Metallica" in c.artists)
    # both tags are on every tagged artist: the stronger names it, the other adds no one
    assert metal.name == "thrash metal" and metal.name_tags == ("thrash metal",)
    assert metal.tag_profile["thrash metal"] > metal.tag_profile["metal"]
    assert sum(metal.tag_profile.values()) == pytest.approx(1.0)


def test_plays_after_as_of_and_short_plays_are_ignored() -> None:
    plays = two_scenes()
    earlier = datetime.fromtimestamp(NOW.timestamp() - 100 * DAY_S, UTC)
    tastes = cluster_tastes(plays, earlier)
    assert "Metallica" not in artist_clusters(tastes)
    assert (
        cluster_tastes(
            PlayColumns(["A"], np.array([NOW.timestamp()]), np.array([5_000]), np.array([True])),
            NOW,
        )
        == []
    )


def test_a_taste_is_named_by_genres_only() -> None:
    genres = frozenset({"thrash metal", "speed metal", "jazz", "bebop"})
    tags = {a: {"seen live": 100.0, "thrash metal": 90.0} for a in ["Metallica", "Slayer"]}
    tags |= {a: {"male vocalists": 100.0, "speed metal": 70.0} for a in ["Megadeth", "Anthrax"]}
    tastes = cluster_tastes(two_scenes(), NOW, artist_tags=tags, genres=genres)
    by_artist = {a: c for c in tastes for a in c.artists}
    assert by_artist["Metallica"].name == "thrash metal"
    assert by_artist["Megadeth"].name == "speed metal"
    for taste in tastes:
        assert set(taste.name_tags) <= genres


def test_a_second_name_only_when_it_covers_more_of_the_tastes_listens() -> None:
    assert SECOND_NAME_GAIN == 0.15
    labels = np.array([1, 1, 1, 1])
    carried = [{"rock": 100.0}, {"rock": 90.0}, {"rock": 50.0, "blues": 80.0}, {"blues": 100.0}]
    # the blues-only artist holds 20% of the listens: "rock & blues"
    assert _genre_names(labels, np.array([40, 20, 20, 20]), carried) == {1: ("rock", "blues")}
    # 10%: not enough to name the taste
    assert _genre_names(labels, np.array([40, 30, 20, 10]), carried) == {1: ("rock",)}
    # a tie in listens goes to the tag the artists are tagged with more
    tied = [{"rock": 100.0, "blues": 40.0}, {"rock": 90.0, "blues": 30.0}]
    assert _genre_names(np.array([1, 1]), np.array([5, 5]), tied) == {1: ("rock",)}


def test_two_tastes_of_one_genre_are_one_taste() -> None:
    # two scenes the listener keeps apart in time, both hip hop: one taste, not two of a name
    old_school = ["Nas", "Mobb Deep", "Wu-Tang Clan", "Gang Starr"]
    uk = ["Dave", "Little Simz", "Stormzy", "Kano"]
    plays = sessions(
        *[(old_school * 2, 200 + 7 * d) for d in range(60)],
        *[(uk * 2, 3 + 2 * d) for d in range(30)],
    )
    tags = {a: {"hip hop": 100.0, "rap": 80.0} for a in old_school + uk}
    untagged = cluster_tastes(plays, NOW)
    assert artist_clusters(untagged)["Nas"] != artist_clusters(untagged)["Dave"]
    tastes = cluster_tastes(plays, NOW, artist_tags=tags, genres=frozenset({"hip hop", "rap"}))
    named = [c for c in tastes if not c.is_other]
    assert [c.name for c in named] == ["hip hop"]
    assert set(named[0].artists) == set(old_school + uk)


def test_an_artist_whose_genres_the_taste_does_not_carry_moves_to_one_that_does() -> None:
    # Behemoth played among the rap sessions, but black metal: it joins the metal taste
    rap = ["JAY-Z", "Fugees", "Nas", "Mobb Deep"]
    metal = ["Mayhem", "Emperor", "Darkthrone", "Burzum"]
    plays = sessions(
        *[(rap * 2 + ["Behemoth"], 3 + 2 * d) for d in range(30)],
        *[(metal * 2, 100 + 2 * d) for d in range(30)],
    )
    tags = {a: {"hip hop": 100.0, "rap": 80.0} for a in rap}
    tags |= {a: {"black metal": 100.0} for a in [*metal, "Behemoth"]}
    genres = frozenset({"hip hop", "rap", "black metal"})
    by_artist = artist_clusters(cluster_tastes(plays, NOW))
    assert by_artist["Behemoth"] == by_artist["JAY-Z"]  # co-listening alone puts it there
    tastes = cluster_tastes(plays, NOW, artist_tags=tags, genres=genres)
    by_artist = artist_clusters(tastes)
    assert by_artist["Behemoth"] == by_artist["Mayhem"] != by_artist["JAY-Z"]
    names = {c.cluster_id: c.name for c in tastes}
    assert names[by_artist["Behemoth"]] == "black metal"


def test_at_most_twelve_tastes_cover_nine_tenths_of_the_listens() -> None:
    # twenty scenes of equal weight, kept apart in time, in five genres
    scenes = [[f"Artist {s}-{i}" for i in range(4)] for s in range(20)]
    plays = sessions(
        *[(scene * 2, 5 + 40 * s + 2 * d) for s, scene in enumerate(scenes) for d in range(10)]
    )
    genres = ("jazz", "rock", "folk", "soul", "house")
    tags = {a: {genres[s % 5]: 100.0} for s, scene in enumerate(scenes) for a in scene}
    untagged = [c for c in cluster_tastes(plays, NOW) if not c.is_other]
    assert len(untagged) > 12
    tastes = cluster_tastes(plays, NOW, artist_tags=tags, genres=frozenset(genres))
    shares = sorted((c.all_time_share for c in tastes), reverse=True)
    assert sum(shares[:12]) >= 0.9
    assert sorted(c.name for c in tastes if not c.is_other) == sorted(genres)


def test_artists_without_genres_leave_a_genre_named_taste_for_one_named_by_its_artists() -> None:
    # two local bands the catalog does not know, always played among the thrash metal
    metal = ["Metallica", "Slayer", "Megadeth", "Anthrax", "Basement Tapes", "Local Heroes"]
    jazz = ["Miles Davis", "John Coltrane", "Bill Evans", "Chet Baker"]
    plays = sessions(
        *[(jazz * 2, 200 + 7 * d) for d in range(60)],
        *[(metal * 2, 3 + 2 * d) for d in range(30)],
    )
    tags = {a: {"thrash metal": 100.0, "seen live": 80.0} for a in metal[:4]}
    tags |= {a: {"jazz": 100.0} for a in jazz}
    tags["Local Heroes"] = {"seen live": 100.0}  # tagged, but with no genre
    genres = frozenset({"thrash metal", "jazz"})
    before = cluster_tastes(plays, NOW, artist_tags=tags, genres=genres, untagged_stay=True)
    assert artist_clusters(before)["Local Heroes"] == artist_clusters(before)["Metallica"]
    tastes = cluster_tastes(plays, NOW, artist_tags=tags, genres=genres)
    by_artist = {a: c for c in tastes for a in c.artists}
    assert by_artist["Metallica"].name == "thrash metal"
    assert set(by_artist["Metallica"].artists) == set(metal[:4])
    local = by_artist["Local Heroes"]
    assert local is by_artist["Basement Tapes"] and not local.is_other
    assert local.name == "Basement Tapes & Local Heroes" and local.name_tags == ()
    assert by_artist["Miles Davis"].name == "jazz"


def test_artist_named_tastes_merge_with_each_other_never_into_a_genre_named_one() -> None:
    # twenty scenes kept apart in time, each two artists of one of five genres and two unknown
    scenes = [[f"Artist {s}-{i}" for i in range(4)] for s in range(20)]
    plays = sessions(
        *[(scene * 2, 5 + 40 * s + 2 * d) for s, scene in enumerate(scenes) for d in range(10)]
    )
    genres = ("jazz", "rock", "folk", "soul", "house")
    tags = {a: {genres[s % 5]: 100.0} for s, scene in enumerate(scenes) for a in scene[:2]}
    tastes = cluster_tastes(plays, NOW, artist_tags=tags, genres=frozenset(genres))
    shares = sorted((c.all_time_share for c in tastes), reverse=True)
    assert sum(shares[:12]) >= 0.9
    assert sorted(c.name for c in tastes if c.name_tags) == sorted(genres)
    for taste in tastes:
        tagged = {a for a in taste.artists if a in tags}
        if taste.name_tags:
            assert all(tags[a].keys() & set(taste.name_tags) for a in taste.artists)
        elif not taste.is_other:
            assert not tagged, taste.name
    assert len({c.name for c in tastes}) == len(tastes)


@pytest.fixture(scope="module")
def hetrec_tags() -> Callable[[PlayColumns], tuple[dict[str, dict[str, float]], frozenset[str]]]:
    catalog = catalog_from_hetrec(HETREC)
    return lambda plays: lab_tastes.catalog_tags(catalog, plays.artist)


def real_listeners() -> dict[str, PlayColumns]:
    """Four shared histories with the HetRec catalog's tags, and the hard listener who lived
    them one after another (thousands of artists, most of them unknown to the catalog)."""
    histories = {
        "sanabil": lab_tastes.spotify_plays(SANABIL_ZIP),
        "efrrowini": lab_tastes.spotify_plays(EFRROWINI),
        "ryanpj2": lab_tastes.spotify_plays(SHARED_DATA / "spotify-account-ryanpj2"),
        "sachawheeler": lab_tastes.scrobble_plays(
            SHARED_DATA / "lastfm-ghan-csv-sachawheeler" / "scrobbles.csv"
        ),
    }
    return histories | {"four in turn": lab_tastes.end_to_end(list(histories.values()))}


@pytest.mark.skipif(
    not (HETREC.is_dir() and SANABIL_ZIP.is_file() and EFRROWINI.is_dir()),
    reason="../shared/data absent",
)
def test_on_real_histories_every_artist_carries_its_tastes_name_and_names_are_unique(
    hetrec_tags: Callable[[PlayColumns], tuple[dict[str, dict[str, float]], frozenset[str]]],
) -> None:
    listeners = real_listeners()
    hard = listeners["four in turn"]
    assert len(set(hard.artist)) > 2_500
    for history, plays in listeners.items():
        tags, genres = hetrec_tags(plays)
        if history == "four in turn":
            assert len(tags) < len(set(plays.artist)) / 2  # most artists are unknown
        as_of = datetime.fromtimestamp(float(plays.ended_at_s.max()) + 1, UTC)
        tastes = cluster_tastes(plays, as_of, tags, genres=genres)
        names = [c.name for c in tastes]
        assert len(names) == len(set(names)), history
        assert any(c.name_tags for c in tastes), history
        for taste in tastes:
            assert set(taste.name_tags) <= genres, (history, taste.name)
            for artist in () if taste.is_other else taste.artists:
                carried = lab_tastes.top_tags(tags.get(artist, {})) & genres
                # named by genres: it carries one of them; named by artists: it carries none
                true_name = carried & set(taste.name_tags) if taste.name_tags else not carried
                assert true_name, (history, taste.name, artist)
        shares = sorted((c.all_time_share for c in tastes), reverse=True)
        assert sum(shares[:12]) >= 0.9, history
