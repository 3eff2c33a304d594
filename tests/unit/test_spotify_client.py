"""spotipy against the in-process local Spotify server: linking, paging, faults, secrets in logs."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import spotipy

from services.ingest.adapters.spotify import (
    LINK_SCOPES,
    RECENTLY_PLAYED_SCOPE,
    RetryPolicy,
    SpotifyAuth,
    SpotifyEndpoints,
    SpotifyError,
    SpotifyForbidden,
    SpotifyRelinkRequired,
    SpotifyUnavailable,
    SpotifyWebClient,
    StoredTokens,
)
from services.ingest.domain.sync import plays_from_recently_played
from services.ingest.domain.token_box import TokenSet
from tests.support.spotify_local import (
    FaultPlan,
    LocalSpotifyServer,
    ScriptedPlay,
    recorded_plays,
    start_spotify_server,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
ZMB3_RECENTLY_PLAYED = SHARED_DATA / "spotify-api-zmb3" / "player_recently_played.txt"
JAVA = SHARED_DATA / "spotify-api-spotify-web-api-java"
JAVA_RECENTLY_PLAYED = JAVA / "GetCurrentUsersRecentlyPlayedTracksRequest.json"
REDIRECT_URI = "http://127.0.0.1:8765/spotify/callback"
LISTENER = "alice"
START = datetime(2025, 6, 1, 7, 0, tzinfo=UTC)


def _plays(count: int, start: datetime, prefix: str = "Song") -> list[ScriptedPlay]:
    """`count` back-to-back plays of 3.5-minute tracks by a few artists."""
    return [
        ScriptedPlay.of(
            f"{prefix} {index}",
            f"Artist {index % 7}",
            f"Album {index % 3}",
            start + timedelta(seconds=210 * index),
            duration_ms=209_000,
        )
        for index in range(count)
    ]


@pytest.fixture
def spotify() -> Iterator[LocalSpotifyServer]:
    with start_spotify_server(login_as=LISTENER) as server:
        yield server


class Listener:
    """One linked listener: the auth, the stored tokens and every set persisted after refresh."""

    def __init__(self, server: LocalSpotifyServer, **client_options: Any) -> None:
        self.endpoints = SpotifyEndpoints.local(server.url)
        self.auth = SpotifyAuth(server.client_id, REDIRECT_URI, endpoints=self.endpoints)
        self.persisted: list[TokenSet] = []
        self.tokens = StoredTokens(
            self.auth, link(self.auth), self.persisted.append, user_name=LISTENER
        )
        self.waits: list[float] = []

        def sleep(seconds: float) -> None:
            self.waits.append(seconds)
            time.sleep(seconds)

        self.client = SpotifyWebClient(endpoints=self.endpoints, sleep=sleep, **client_options)

    def sync(self, after_ms: int | None) -> Any:
        return self.client.fetch_since(self.tokens, after_ms, user_name=LISTENER)


def link(auth: SpotifyAuth, state: str = "state-42") -> TokenSet:
    """The link flow: consent URL, the listener accepts, the redirect's code becomes tokens."""
    url, verifier = auth.authorize_url(state)
    consent = requests.get(url, allow_redirects=False, timeout=5)
    assert consent.status_code == 302
    location = consent.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    answer = dict(parse_qsl(urlsplit(location).query))
    assert answer["state"] == state
    return auth.exchange(answer["code"], verifier)


# --- linking ---------------------------------------------------------------------------------


def test_link_flow_through_spotipy_gives_working_tokens(spotify: LocalSpotifyServer) -> None:
    spotify.add_plays(LISTENER, _plays(3, START))
    auth = SpotifyAuth(
        spotify.client_id, REDIRECT_URI, endpoints=SpotifyEndpoints.local(spotify.url)
    )
    url, verifier = auth.authorize_url("xyz")
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(f"{spotify.url}/authorize?")
    # plays to read, private and public playlists to write (asked for at link time)
    assert query["code_challenge_method"] == "S256" and query["scope"] == LINK_SCOPES
    assert 43 <= len(verifier) <= 128
    tokens = link(auth)
    assert tokens.scope == LINK_SCOPES
    assert tokens.expires_at > datetime.now(UTC) + timedelta(minutes=50)
    page = spotipy.Spotify(auth=tokens.access_token, requests_session=requests.Session())
    page.prefix = f"{spotify.url}/v1/"
    assert len(page.current_user_recently_played()["items"]) == 3
    assert not Path(".cache").exists() and not Path(f".cache-{LISTENER}").exists()


def test_a_wrong_verifier_or_a_reused_code_is_refused(spotify: LocalSpotifyServer) -> None:
    auth = SpotifyAuth(
        spotify.client_id, REDIRECT_URI, endpoints=SpotifyEndpoints.local(spotify.url)
    )
    url, verifier = auth.authorize_url("s")
    code = dict(
        parse_qsl(urlsplit(requests.get(url, allow_redirects=False).headers["Location"]).query)
    )["code"]
    with pytest.raises(SpotifyError, match="code_verifier was incorrect"):
        auth.exchange(code, verifier + "x")
    with pytest.raises(SpotifyError, match="Invalid authorization code"):
        auth.exchange(code, verifier)


# --- response shapes replayed from the recordings --------------------------------------------


def _keys(value: Any) -> Any:
    """The nested key structure of a JSON value (lists by their first element)."""
    if isinstance(value, dict):
        return {key: _keys(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_keys(value[0])] if value else []
    return None


def test_recently_played_replays_the_recorded_shapes(spotify: LocalSpotifyServer) -> None:
    recorded = json.loads(JAVA_RECENTLY_PLAYED.read_text(encoding="utf-8"))
    spotify.add_plays(LISTENER, recorded_plays(JAVA_RECENTLY_PLAYED))
    spotify.add_plays(LISTENER, _plays(1, datetime(2023, 9, 22, 16, tzinfo=UTC), "Newer"))
    spotify.add_plays(LISTENER, _plays(1, datetime(2023, 9, 22, 12, tzinfo=UTC), "Older"))
    listener = Listener(spotify)
    sp = listener.client._spotify(listener.tokens.access_token())
    served = sp.current_user_recently_played(limit=2, before=1695397413751)
    assert set(served) == set(recorded) == {"items", "next", "cursors", "limit", "href"}
    assert served["cursors"] == recorded["cursors"]
    assert served["next"].endswith("?before=1695396194294&limit=2")
    assert [item["played_at"] for item in served["items"]] == [
        item["played_at"] for item in recorded["items"]
    ]
    assert _keys(served["items"]) == _keys(recorded["items"])
    assert plays_from_recently_played(served["items"]) == plays_from_recently_played(
        recorded["items"]
    )
    newest = sp.current_user_recently_played(limit=1)
    # Tracks built from names carry the recorded track object's full key structure.
    assert _keys(newest["items"][0]["track"]) == _keys(recorded["items"][0]["track"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", newest["items"][0]["played_at"])


def test_tracks_and_artists_answer_in_the_recorded_shapes(spotify: LocalSpotifyServer) -> None:
    spotify.add_plays(LISTENER, recorded_plays(ZMB3_RECENTLY_PLAYED))
    listener = Listener(spotify)
    sp = listener.client._spotify(listener.tokens.access_token())
    recorded_tracks = json.loads(
        (JAVA / "GetSeveralTracksRequest.json").read_text(encoding="utf-8")
    )
    tracks = sp.tracks(["1Cj2vqUwlJVG27gJrun92y", "4rERaNiKlILD603GJvdEvm"])
    assert tracks["tracks"][0]["name"] == "The Sound Of Silence"
    assert tracks["tracks"][1] is None  # unknown ids answer null, as Spotify does
    assert set(_keys(recorded_tracks["tracks"][0])) <= set(_keys(tracks["tracks"][0]))
    recorded_artist = json.loads((JAVA / "GetArtistRequest.json").read_text(encoding="utf-8"))
    artist = sp.artist("3TOqt5oJwL9BE2NG9MEwDa")
    assert artist["name"] == "Disturbed" and set(artist) == set(recorded_artist)
    assert _keys(artist["followers"]) == _keys(recorded_artist["followers"])
    assert _keys(artist["images"]) == _keys(recorded_artist["images"])
    with pytest.raises(spotipy.SpotifyException) as missing:
        sp.artist("0000000000000000000000")
    assert missing.value.http_status == 404


def test_only_plays_over_30_seconds_are_listed(spotify: LocalSpotifyServer) -> None:
    spotify.add_plays(
        LISTENER,
        [
            ScriptedPlay.of("Skipped", "A", "B", START, ms_played=12_000),
            ScriptedPlay.of(
                "Exactly 30 s", "A", "B", START + timedelta(minutes=1), ms_played=30_000
            ),
            ScriptedPlay.of("Kept", "A", "B", START + timedelta(minutes=2), ms_played=31_000),
        ],
    )
    batch = Listener(spotify).sync(None)
    assert [play.track_name for play in batch.plays] == ["Kept"]


# --- syncing ---------------------------------------------------------------------------------


def test_sync_pages_with_the_after_cursor_across_more_than_50_plays() -> None:
    with start_spotify_server(login_as=LISTENER, history_window=None) as spotify:
        spotify.add_plays(LISTENER, _plays(10, START, "Morning"))
        listener = Listener(spotify)
        first = listener.sync(None)
        assert len(first.plays) == 10 and not first.possible_gap
        spotify.add_plays(LISTENER, _plays(120, START + timedelta(hours=3), "Evening"))
        calls_before = spotify.stats()["calls"]["GET /v1/me/player/recently-played"]
        second = listener.sync(first.cursor_ms)
        calls = spotify.stats()["calls"]["GET /v1/me/player/recently-played"] - calls_before
    assert calls == 3 and second.pages == 3  # 50 + 50 + 20
    assert len(second.plays) == 120 and len({play.play_key for play in second.plays}) == 120
    assert (
        second.plays[0].track_name == "Evening 0" and second.plays[-1].track_name == "Evening 119"
    )
    assert not second.possible_gap
    assert second.cursor_ms is not None and first.cursor_ms is not None
    assert second.cursor_ms > first.cursor_ms


def test_more_than_50_plays_between_syncs_is_reported_as_a_gap(spotify: LocalSpotifyServer) -> None:
    spotify.add_plays(LISTENER, _plays(5, START))
    listener = Listener(spotify)
    first = listener.sync(None)
    spotify.add_plays(LISTENER, _plays(80, START + timedelta(hours=2), "Binge"))
    second = listener.sync(first.cursor_ms)
    assert second.possible_gap
    assert second.plays[0].track_name == "Binge 30"  # Spotify kept the last 50
    assert len(second.plays) == 50
    spotify.add_plays(LISTENER, _plays(30, START + timedelta(hours=9), "Calm"))
    third = listener.sync(second.cursor_ms)
    assert len(third.plays) == 30 and not third.possible_gap


def test_a_429_waits_as_long_as_retry_after_says(spotify: LocalSpotifyServer) -> None:
    spotify.add_plays(LISTENER, _plays(4, START))
    listener = Listener(spotify)
    spotify.set_faults(FaultPlan(api_statuses=[429], retry_after_s=1))
    started = time.perf_counter()
    batch = listener.sync(None)
    assert time.perf_counter() - started >= 1.0
    assert listener.waits[0] == 1.0 and len(batch.plays) == 4
    assert spotify.stats()["faults_served"] == {"429": 1}


def test_a_retry_after_longer_than_a_sync_waits_gives_up_at_once(
    spotify: LocalSpotifyServer,
) -> None:
    listener = Listener(spotify, retry=RetryPolicy(max_retry_after_s=5))
    spotify.set_faults(FaultPlan(api_statuses=[429], retry_after_s=3600))
    with pytest.raises(SpotifyUnavailable) as unavailable:
        listener.sync(None)
    assert unavailable.value.retry_after_s == 3600 and listener.waits == []


def test_a_401_refreshes_the_token_once_and_retries(spotify: LocalSpotifyServer) -> None:
    spotify.add_plays(LISTENER, _plays(4, START))
    listener = Listener(spotify)
    linked = listener.tokens.tokens
    spotify.set_faults(FaultPlan(api_statuses=[401]))
    batch = listener.sync(None)
    assert len(batch.plays) == 4
    assert len(listener.persisted) == 1  # the service seals and stores the refreshed set
    refreshed = listener.persisted[0]
    assert refreshed.access_token != linked.access_token
    assert refreshed.refresh_token != linked.refresh_token  # PKCE refresh tokens rotate
    # The rotated-out refresh token is dead: using it again means re-linking.
    with pytest.raises(SpotifyRelinkRequired, match="Invalid refresh token"):
        listener.auth.refresh(linked.refresh_token)


def test_an_expired_token_is_refreshed_before_the_call(spotify: LocalSpotifyServer) -> None:
    listener = Listener(spotify)
    listener.tokens = StoredTokens(
        listener.auth,
        listener.tokens.tokens,
        listener.persisted.append,
        clock=lambda: datetime.now(UTC) + timedelta(hours=2),
    )
    listener.sync(None)
    assert len(listener.persisted) == 1
    assert spotify.stats()["faults_served"] == {}


def test_server_errors_are_retried_with_exponential_backoff(spotify: LocalSpotifyServer) -> None:
    spotify.add_plays(LISTENER, _plays(4, START))
    listener = Listener(spotify, retry=RetryPolicy(backoff_base_s=0.01))
    spotify.set_faults(FaultPlan(api_statuses=[500, 502, 503]))
    assert len(listener.sync(None).plays) == 4
    # doubling from 0.01 s, each wait up to 0.01 s more (jitter: replicas that failed
    # together do not retry together)
    assert len(listener.waits) == 3
    for wait, floor in zip(listener.waits, (0.01, 0.02, 0.04), strict=True):
        assert floor <= wait <= floor + 0.01
    spotify.set_faults(FaultPlan(api_statuses=[503] * 6))
    with pytest.raises(SpotifyUnavailable, match="HTTP 503, 5 attempts"):
        listener.sync(None)


def test_a_revoked_refresh_token_asks_to_relink(spotify: LocalSpotifyServer) -> None:
    listener = Listener(spotify)
    faults: dict[str, Any] = {"api": [401], "revoke_refresh_tokens_of": [LISTENER]}
    planned = requests.post(f"{spotify.url}/_faults", json=faults, timeout=5).json()
    assert planned["pending_faults"] == [401]
    with pytest.raises(SpotifyRelinkRequired) as relink:
        listener.sync(None)
    assert "fullcircle spotify link --user alice" in str(relink.value)
    assert "Refresh token revoked" in str(relink.value)
    answer = requests.post(
        f"{spotify.url}/api/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": listener.tokens.tokens.refresh_token,
            "client_id": spotify.client_id,
        },
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_grant", "error_description": "Refresh token revoked"}


def test_no_token_or_code_reaches_the_logs(
    spotify: LocalSpotifyServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spotify.add_plays(LISTENER, _plays(60, START))
    listener = Listener(spotify, retry=RetryPolicy(backoff_base_s=0.01))
    spotify.set_faults(FaultPlan(api_statuses=[401, 503, 429], retry_after_s=0))
    listener.sync(None)
    secrets = {
        listener.persisted[0].access_token,
        listener.persisted[0].refresh_token,
    }
    secrets |= {listener.tokens.tokens.access_token, listener.tokens.tokens.refresh_token}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "<redacted>" in logged  # spotipy did log its headers and bodies, blanked
    assert "Bearer BQ" not in logged and "'refresh_token': 'AQ" not in logged
    # The link flow's authorization code and PKCE verifier went through spotipy's logger too.
    assert re.search(r"'(code|code_verifier|refresh_token)': '(?!<redacted>)", logged) is None
    assert "'code_verifier': '<redacted>'" in logged
    for secret in secrets:
        assert secret not in logged


def test_the_server_runs_as_a_module_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.spotify_local",
            "--port-file",
            str(port_file),
            "--recorded",
            str(ZMB3_RECENTLY_PLAYED),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < deadline, "the local Spotify server did not start"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        assert requests.get(f"{url}/_stats", timeout=5).json()["calls"] == {}
        missing_token = requests.get(f"{url}/v1/me/player/recently-played", timeout=5)
        assert missing_token.status_code == 401
        assert missing_token.json() == {"error": {"status": 401, "message": "No token provided"}}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


# --- playlists ---------------------------------------------------------------------------


def _uris(count: int, prefix: str = "t") -> list[str]:
    return [f"spotify:track:{prefix}{index:05d}" for index in range(count)]


def test_a_playlist_is_made_private_then_replaced_in_place(spotify: LocalSpotifyServer) -> None:
    listener = Listener(spotify)
    made = listener.client.write_playlist(
        listener.tokens,
        "high energy morning music",
        "by Full-Circle",
        _uris(250),
        user_name=LISTENER,
    )
    assert made.created and made.items == 250
    assert made.url == f"https://open.spotify.com/playlist/{made.playlist_id}"
    stored = spotify.playlist(made.playlist_id)
    assert stored["uris"] == _uris(250) and stored["public"] is False
    assert stored["name"] == "high energy morning music" and stored["owner"] == LISTENER
    calls = spotify.stats()["calls"]
    # one create, the first 100 by PUT, the other 150 appended 100 at a time
    assert calls["POST /v1/me/playlists"] == 1
    assert calls["PUT /v1/playlists/{id}/items"] == 1
    assert calls["POST /v1/playlists/{id}/items"] == 2

    again = listener.client.write_playlist(
        listener.tokens,
        "high energy morning music",
        "",
        _uris(30, "u"),
        playlist_id=made.playlist_id,
    )
    assert not again.created and again.playlist_id == made.playlist_id
    assert spotify.playlist(made.playlist_id)["uris"] == _uris(30, "u")
    assert spotify.playlists_of(LISTENER) == [made.playlist_id]


def test_a_playlist_the_listener_deleted_is_made_again(spotify: LocalSpotifyServer) -> None:
    listener = Listener(spotify)
    made = listener.client.write_playlist(
        listener.tokens, "night", "", _uris(3), playlist_id="0000000000000000000000"
    )
    assert made.created and spotify.playlist(made.playlist_id)["uris"] == _uris(3)


def test_a_server_error_halfway_is_retried_and_a_retried_export_leaves_no_track_twice(
    spotify: LocalSpotifyServer,
) -> None:
    listener = Listener(spotify, retry=RetryPolicy(backoff_base_s=0.01, backoff_cap_s=0.02))
    # the create and the first 100 go through, the first append fails twice, then works
    spotify.set_faults(FaultPlan(api_statuses=[0, 0, 500, 503]))
    made = listener.client.write_playlist(listener.tokens, "p", "", _uris(200))
    assert spotify.playlist(made.playlist_id)["uris"] == _uris(200)
    # a 5xx storm that outlasts the retries: a clear error; the next export replaces
    spotify.set_faults(FaultPlan(api_statuses=[0, *[500] * 6]))
    with pytest.raises(SpotifyUnavailable, match="unavailable"):
        listener.client.write_playlist(
            listener.tokens, "p", "", _uris(200, "v"), playlist_id=made.playlist_id
        )
    assert spotify.playlist(made.playlist_id)["uris"] == _uris(100, "v")  # halfway
    spotify.set_faults(FaultPlan())
    listener.client.write_playlist(
        listener.tokens, "p", "", _uris(200, "v"), playlist_id=made.playlist_id
    )
    assert spotify.playlist(made.playlist_id)["uris"] == _uris(200, "v")


def test_a_429_on_a_write_waits_as_retry_after_says(spotify: LocalSpotifyServer) -> None:
    listener = Listener(spotify)
    spotify.set_faults(FaultPlan(api_statuses=[429], retry_after_s=1))
    made = listener.client.write_playlist(listener.tokens, "p", "", _uris(5))
    assert listener.waits == [1.0] and spotify.playlist(made.playlist_id)["uris"] == _uris(5)


def test_a_grant_without_playlist_access_or_a_development_mode_refusal_is_a_clear_403(
    spotify: LocalSpotifyServer,
) -> None:
    old = Listener(spotify)
    old.auth.scope = RECENTLY_PLAYED_SCOPE  # linked before playlists were asked for
    old.tokens = StoredTokens(old.auth, link(old.auth), old.persisted.append, user_name=LISTENER)
    with pytest.raises(SpotifyForbidden, match="re-link"):
        old.client.write_playlist(old.tokens, "p", "", _uris(5))
    listener = Listener(spotify)
    spotify.set_faults(FaultPlan(api_statuses=[403]))
    with pytest.raises(SpotifyForbidden, match="development-mode"):
        listener.client.write_playlist(listener.tokens, "p", "", _uris(5))
    assert spotify.playlists_of(LISTENER) == []
