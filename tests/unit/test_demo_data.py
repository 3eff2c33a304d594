"""The generated demo catalog and listening history look like real Last.fm and Spotify data."""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from services.enrich.lastfm_local.catalog import catalog_from_dict
from tools.demo.catalog import GENRE_CLUSTERS, generate_demo_catalog
from tools.demo.history import generate_demo_history, write_export_zip

SPOTIFY_KEYS = [
    "ts",
    "platform",
    "ms_played",
    "conn_country",
    "ip_addr",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "spotify_track_uri",
    "episode_name",
    "episode_show_name",
    "spotify_episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
    "reason_start",
    "reason_end",
    "shuffle",
    "skipped",
    "offline",
    "offline_timestamp",
    "incognito_mode",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_EXPORT = SHARED_DATA / "spotify-history-sanabil" / "my_spotify_data.zip"
EXPORT_NAME = re.compile(
    r"Spotify Extended Streaming History/Streaming_History_Audio_\d{4}(-\d{4})?_\d+\.json"
)
TS_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TRACK_URI = re.compile(r"^spotify:track:[0-9A-Za-z]{22}$")


@pytest.fixture(scope="module")
def demo_catalog() -> dict[str, Any]:
    return generate_demo_catalog()


@pytest.fixture(scope="module")
def demo_history(demo_catalog: dict[str, Any]) -> list[dict[str, Any]]:
    return generate_demo_history(demo_catalog)


def test_catalog_is_deterministic_and_lastfm_like(demo_catalog: dict[str, Any]) -> None:
    small = generate_demo_catalog(seed=5, n_artists=200)
    assert small == generate_demo_catalog(seed=5, n_artists=200)
    assert small != generate_demo_catalog(seed=6, n_artists=200)
    artists = demo_catalog["artists"]
    assert len(artists) == 3000
    assert len({a["name"].casefold() for a in artists}) == 3000
    assert {a["cluster"] for a in artists} == {c.key for c in GENRE_CLUSTERS}
    for artist in artists:
        weights = [w for _, w in artist["tags"]]
        assert weights[0] == 100 and weights == sorted(weights, reverse=True)
        assert 8 <= len(artist["tracks"]) <= 15
        matches = [m for _, m in artist["similar"]]
        assert matches == sorted(matches, reverse=True) and all(0 < m <= 1 for m in matches)
    listeners = sorted((a["listeners"] for a in artists), reverse=True)
    assert listeners[0] > 100 * listeners[len(listeners) // 2]  # long tail
    cluster_of = {a["name"]: a["cluster"] for a in artists}
    links = [(a["cluster"], cluster_of[n]) for a in artists for n, _ in a["similar"]]
    inside = sum(own == other for own, other in links) / len(links)
    assert 0.7 < inside < 0.98
    moods = {"energetic", "chill", "melancholic", "party", "dark", "upbeat"}
    assert moods <= {t for a in artists for t, _ in a["tags"]}


def test_catalog_loads_into_the_local_lastfm_catalog(demo_catalog: dict[str, Any]) -> None:
    catalog = catalog_from_dict(demo_catalog)
    first = demo_catalog["artists"][0]
    found = catalog.artist(first["name"].lower())
    assert found is not None and found.top_tags[0] == tuple(first["tags"][0])
    assert catalog.top_artists_for_tag("grime")


def test_history_has_spotify_schema_and_real_value_types(
    demo_history: list[dict[str, Any]],
) -> None:
    with zipfile.ZipFile(REAL_EXPORT) as real:
        name = next(n for n in real.namelist() if "Audio" in n)
        real_row = json.loads(real.read(name))[0]
    assert list(real_row) == SPOTIFY_KEYS
    assert len(demo_history) == 140_000
    track_rows = [r for r in demo_history if r["spotify_track_uri"]]
    for row in demo_history[::97]:
        assert list(row) == SPOTIFY_KEYS and TS_FORMAT.match(row["ts"])
    for key, value in real_row.items():
        assert type(track_rows[0][key]) is type(value), key
    assert [r["ts"] for r in demo_history] == sorted(r["ts"] for r in demo_history)
    assert len({(r["ts"], r["spotify_track_uri"]) for r in track_rows}) == len(track_rows)
    assert all(TRACK_URI.match(r["spotify_track_uri"]) for r in track_rows[::50])
    podcasts = [r for r in demo_history if r["episode_name"]]
    assert podcasts and all(r["spotify_track_uri"] is None for r in podcasts)


def test_history_uses_catalog_tracks_with_realistic_skips(
    demo_catalog: dict[str, Any], demo_history: list[dict[str, Any]]
) -> None:
    tracks = {(a["name"], t["name"]) for a in demo_catalog["artists"] for t in a["tracks"]}
    track_rows = [r for r in demo_history if r["spotify_track_uri"]]
    assert all(
        (r["master_metadata_album_artist_name"], r["master_metadata_track_name"]) in tracks
        for r in track_rows
    )
    skips = [r for r in track_rows if r["skipped"]]
    assert 0.2 < len(skips) / len(track_rows) < 0.3
    assert all(r["ms_played"] < 30_000 and r["reason_end"] == "fwdbtn" for r in skips)


def test_history_taste_drifts_and_follows_the_clock(
    demo_catalog: dict[str, Any], demo_history: list[dict[str, Any]]
) -> None:
    cluster_of = {a["name"]: a["cluster"] for a in demo_catalog["artists"]}
    energy = {c.key: c.energy for c in GENRE_CLUSTERS}
    track_rows = [r for r in demo_history if r["spotify_track_uri"]]
    year = len(track_rows) // 6
    artist_key = "master_metadata_album_artist_name"
    first_year = Counter(cluster_of[r[artist_key]] for r in track_rows[:year])
    last_year = Counter(cluster_of[r[artist_key]] for r in track_rows[-year:])
    assert first_year.most_common(1)[0][0] != last_year.most_common(1)[0][0]

    def mean_energy(hours: range) -> float:
        chosen = [
            energy[cluster_of[r["master_metadata_album_artist_name"]]]
            for r in track_rows
            if int(r["ts"][11:13]) in hours
        ]
        return sum(chosen) / len(chosen)

    assert mean_energy(range(6, 11)) > mean_energy(range(22, 24)) + 0.15


def test_history_is_deterministic(demo_catalog: dict[str, Any]) -> None:
    small = generate_demo_history(demo_catalog, seed=2, n_plays=3000)
    assert small == generate_demo_history(demo_catalog, seed=2, n_plays=3000)
    assert small != generate_demo_history(demo_catalog, seed=3, n_plays=3000)
    assert len(small) == 3000


def test_export_zip_is_laid_out_like_spotify(
    demo_history: list[dict[str, Any]], tmp_path: Path
) -> None:
    path = tmp_path / "my_spotify_data.zip"
    # Two years of plays keep the test quick; the layout is the same for the full history.
    write_export_zip(demo_history[:40_000], path)
    total = 0
    with zipfile.ZipFile(path) as export:
        names = export.namelist()
        assert len(names) == 3 and all(EXPORT_NAME.fullmatch(name) for name in names)
        for name in names:
            rows = json.loads(export.read(name))
            assert isinstance(rows, list) and 0 < len(rows) <= 16_000
            assert all(list(row) == SPOTIFY_KEYS for row in rows)
            total += len(rows)
    assert total == 40_000
