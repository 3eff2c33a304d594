"""Taste clusters on real listening histories: tastes the listener keeps apart stay apart."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from services.features.domain.clusters import (
    OTHER_CLUSTER_ID,
    TasteCluster,
    artist_clusters,
    cluster_tastes,
)
from services.features.domain.taste import DAY_S, PlayColumns
from services.ingest.domain.exports import read_export_path
from services.ingest.domain.plays import Play

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SANABIL_ZIP = SHARED_DATA / "spotify-history-sanabil" / "my_spotify_data.zip"
EFRROWINI = SHARED_DATA / "spotify-history-efrrowini"

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
    assert metal.name == "thrash metal & metal"
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
