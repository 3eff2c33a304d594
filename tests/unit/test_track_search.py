"""Finding a track's Spotify URI by artist and title: the keys, the query, the match, on the
recorded search answer of spotify-web-api-java and through the local server and spotipy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.ingest.domain.track_search import best_match, name_key, search_query, title_key
from tests.support.spotify_local import LocalSpotifyServer, start_spotify_server
from tests.unit.test_spotify_client import LISTENER, Listener

RECORDED = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "spotify-api-spotify-web-api-java"
    / "SearchTracksRequest.json"
)


def test_keys_ignore_case_accents_punctuation_and_version_notes() -> None:
    assert name_key("Beyoncé") == name_key("BEYONCE") == "beyonce"
    assert name_key("Simon & Garfunkel") == name_key("Simon and Garfunkel")
    assert name_key("AC/DC") == "ac dc"
    assert title_key("Hurt - Remastered 2011") == title_key("Hurt (Live)") == "hurt"
    assert title_key("Hurt (Live) [Bonus]") == "hurt"
    assert title_key("(Untitled)") == "untitled"  # a title that is all note keeps it
    assert search_query('Guns N" Roses', "Don't Cry") == 'track:"Don\'t Cry" artist:"Guns N Roses"'


def test_the_recorded_answer_matches_its_own_tracks_and_nothing_else() -> None:
    items = json.loads(RECORDED.read_text())["tracks"]["items"]
    first = items[0]
    artist, title = first["artists"][0]["name"], first["name"]
    assert best_match(items, artist.upper(), f"{title} - Remastered") == first["uri"]
    assert best_match(items, artist, "a title none of them has") is None
    assert best_match(items, "Someone Else", title) is None
    assert best_match([None, {"name": title}], artist, title) is None


@pytest.fixture
def spotify() -> LocalSpotifyServer:
    with start_spotify_server(login_as=LISTENER) as server:
        yield server


def test_search_through_spotipy_finds_known_tracks_and_misses_the_rest(
    spotify: LocalSpotifyServer,
) -> None:
    spotify.add_catalog([("Burial", "Archangel"), ("Burial", "Near Dark"), ("Kode9", "Archangel")])
    listener = Listener(spotify)
    found = listener.client.search_tracks(
        listener.tokens,
        [("burial", "Archangel (Remastered)"), ("Burial", "Untrue"), ("Kode9", "Archangel")],
        user_name=LISTENER,
    )
    archangel, kode9 = found[("burial", "Archangel (Remastered)")], found[("Kode9", "Archangel")]
    assert archangel and kode9 and archangel != kode9
    assert archangel.startswith("spotify:track:") and found[("Burial", "Untrue")] is None
    assert spotify.stats()["calls"]["GET /v1/search"] == 3
