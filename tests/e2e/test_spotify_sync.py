"""Live Spotify sync through the running services: link with PKCE, sync on request through the
gateway, page with the cursor, report a gap, ask for a re-link when Spotify revokes the grant,
and unlink through the admin API; Spotify itself is the local server, reached through the real
spotipy code path."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import grpc
import psycopg
import pytest
import requests

from fullcircle.client import AdminClient, FullCircleClient
from fullcircle.v1 import gateway_pb2
from tests.support.spotify_local.server import (
    FaultPlan,
    LocalSpotifyServer,
    ScriptedPlay,
)
from tools.stack.local import LocalStack, StackState

from .test_deletion import HISTORY, _imported

pytestmark = pytest.mark.e2e


def plays(listener: str, count: int, start: datetime) -> list[ScriptedPlay]:
    return [
        ScriptedPlay.of(
            f"{listener} song {i}",
            f"Artist {i % 7}",
            "Album",
            start + timedelta(minutes=5 * i),
            duration_ms=200_000,
        )
        for i in range(count)
    ]


async def _link(client: FullCircleClient, spotify: LocalSpotifyServer, listener: str) -> str:
    """Link through the gateway as a listener would: open the address, come back redirected."""
    spotify.login_as(listener)
    begun = await client.link_spotify(time_zone="Europe/London")
    landed = requests.get(begun.authorize_url, allow_redirects=False, timeout=10).headers[
        "Location"
    ]
    assert parse_qs(urlsplit(landed).query)["code"]
    linked = await client.link_spotify(redirect_url=landed)
    return linked.next_sync_at


def _account(stack: StackState, user_id) -> tuple:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT status, cursor_ms, possible_gap_at, last_sync_at, sealed_tokens"
            " FROM ingest.spotify_accounts WHERE user_id = %s",
            (user_id,),
        ).fetchone()
        api_plays = conn.execute(
            "SELECT count(*) FROM ingest.plays WHERE user_id = %s AND source = 'api'", (user_id,)
        ).fetchone()
    assert row is not None and api_plays is not None
    return (*row, api_plays[0])


async def _until(check, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "the sync did not happen in time"
        await asyncio.sleep(0.25)


async def test_linked_account_syncs_on_request_pages_reports_gaps_asks_to_relink_and_unlinks(
    stack: StackState, local_stack: LocalStack, spotify: LocalSpotifyServer, new_listener
) -> None:
    listener = f"spotify-{uuid.uuid4().hex[:6]}"
    user_id, api_key = await new_listener(listener)
    start = datetime.now(UTC) - timedelta(days=2)
    spotify.add_plays(listener, plays(listener, 30, start))
    async with FullCircleClient(stack.gateway_address, api_key) as client:
        assert await _link(client, spotify, listener)
        status, cursor, _gap, _last_sync, sealed, stored = _account(stack, user_id)
        assert status == "linked" and cursor is None and stored == 0
        assert b"access" not in sealed and listener.encode() not in sealed
        with pytest.raises(grpc.aio.AioRpcError) as reused:
            await client.link_spotify(redirect_url="http://127.0.0.1:8888/callback?code=x&state=y")
        assert reused.value.code() == grpc.StatusCode.NOT_FOUND

        await client.sync_spotify()
        # the plays are stored, then the sync is recorded (its cursor): wait for both
        await _until(lambda: (a := _account(stack, user_id))[5] == 30 and a[1] is not None)
        first_cursor = _account(stack, user_id)[1]
        assert first_cursor is not None and _account(stack, user_id)[2] is None

        spotify.add_plays(listener, plays(listener + " later", 60, start + timedelta(days=1)))
        await client.sync_spotify()
        await _until(
            lambda: (a := _account(stack, user_id))[5] == 80 and a[1] != first_cursor and a[2]
        )
        status, cursor, gap, *_ = _account(stack, user_id)
        assert cursor > first_cursor
        assert gap is not None, "60 plays between syncs, Spotify keeps 50: a possible gap"

        spotify.revoke_refresh_tokens(listener)
        spotify.set_faults(FaultPlan(api_statuses=[401]))
        await client.sync_spotify()
        await _until(lambda: _account(stack, user_id)[0] == "relink_required")
        assert _account(stack, user_id)[5] == 80

    async with AdminClient(stack.gateway_address, local_stack.admin_token()) as admin:
        await admin.unlink_spotify(listener)
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await admin.unlink_spotify(listener)
        assert again.value.code() == grpc.StatusCode.NOT_FOUND
    with psycopg.connect(stack.database_url) as conn:
        linked = conn.execute(
            "SELECT count(*) FROM ingest.spotify_accounts WHERE user_id = %s", (user_id,)
        ).fetchone()
        kept = conn.execute(
            "SELECT count(*) FROM ingest.plays WHERE user_id = %s AND source = 'api'", (user_id,)
        ).fetchone()
    assert linked == (0,) and kept == (80,), "unlinking forgets the tokens, keeps the plays"


async def test_a_link_that_would_sync_every_minute_is_refused_naming_the_minimum(
    stack: StackState, new_listener
) -> None:
    _user_id, api_key = await new_listener(f"eager-{uuid.uuid4().hex[:6]}")
    async with FullCircleClient(stack.gateway_address, api_key) as client:
        for cron in ("* * * * *", "*/10 * * * *"):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.link_spotify(time_zone="Europe/London", cron=cron)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "at least 15 minutes apart" in (refused.value.details() or "")
        begun = await client.link_spotify(time_zone="Europe/London", cron="*/15 * * * *")
        assert begun.authorize_url


async def _playlist_with_tracks(client: FullCircleClient, prompt: str) -> None:
    """Wait until the prompt's playlist has tracks (the profile follows the import)."""
    for _ in range(240):
        try:
            if (await client.playlist(prompt)).tracks:
                return
        except grpc.aio.AioRpcError as error:
            if error.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                raise
        await asyncio.sleep(0.5)
    raise AssertionError("the playlist never had a track")


async def test_a_playlist_goes_into_spotify_and_is_replaced_in_place_on_every_export(
    stack: StackState, spotify: LocalSpotifyServer, new_listener, shared_data
) -> None:
    listener = f"playlister-{uuid.uuid4().hex[:6]}"
    _, api_key = await new_listener(listener)
    prompt = "chill evening music"
    async with FullCircleClient(stack.gateway_address, api_key) as client:
        await _imported(client, shared_data / HISTORY.format(year=2023))
        await _playlist_with_tracks(client, prompt)
        with pytest.raises(grpc.aio.AioRpcError) as unlinked:
            await client.export_playlist(prompt, gateway_pb2.PLAYLIST_FORMAT_SPOTIFY, 120)
        assert unlinked.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "no Spotify account is linked" in (unlinked.value.details() or "")

        await _link(client, spotify, listener)
        # a track without a URI in the listener's plays (a new artist's Last.fm top track)
        # that Spotify's search knows; the others it does not know
        planned = [t for t in (await client.playlist(prompt)).tracks if not t.track_uri]
        if planned:
            spotify.add_catalog([(planned[0].artist, planned[0].track)])
        searches = spotify.stats()["calls"].get("GET /v1/search", 0)
        first = await client.export_playlist(prompt, gateway_pb2.PLAYLIST_FORMAT_SPOTIFY, 120)
        rows = list(first.playlist.tracks)
        uris = [row.track_uri for row in rows if row.track_uri]
        assert first.spotify.created and first.spotify.items == len(uris) > 0
        searched = spotify.stats()["calls"].get("GET /v1/search", 0) - searches
        if planned:
            assert searched >= 1
            found = [
                r for r in rows if (r.artist, r.track) == (planned[0].artist, planned[0].track)
            ]
            assert not found or found[0].track_uri.startswith("spotify:track:")
        stored = spotify.playlist(first.spotify.playlist_id)
        assert stored["uris"] == uris and stored["owner"] == listener
        assert stored["public"] is False and stored["name"] == prompt
        # the rows Spotify could not be given are named in the reply, not dropped
        assert [(t.artist, t.track) for t in first.without_uri] == [
            (row.artist, row.track) for row in rows if not row.track_uri
        ]

        # Spotify fails halfway (the replace goes through, then 5xx past the retries): a
        # clear UNAVAILABLE; the next export replaces the items of the same playlist
        spotify.set_faults(FaultPlan(api_statuses=[0, *[500] * 8]))
        try:
            await client.export_playlist(prompt, gateway_pb2.PLAYLIST_FORMAT_SPOTIFY, 120)
        except grpc.aio.AioRpcError as failed:
            assert failed.code() == grpc.StatusCode.UNAVAILABLE
            assert "Spotify" in (failed.details() or "")
        spotify.set_faults(FaultPlan())
        again = await client.export_playlist(prompt, gateway_pb2.PLAYLIST_FORMAT_SPOTIFY, 120)
        assert not again.spotify.created
        assert again.spotify.playlist_id == first.spotify.playlist_id
        again_uris = [row.track_uri for row in again.playlist.tracks if row.track_uri]
        assert spotify.playlist(first.spotify.playlist_id)["uris"] == again_uris
        # every answer was cached, a miss too: the tracks searched before are not asked again
        before_again = spotify.stats()["calls"].get("GET /v1/search", 0)
        await client.export_playlist(prompt, gateway_pb2.PLAYLIST_FORMAT_SPOTIFY, 120)
        asked = spotify.stats()["calls"].get("GET /v1/search", 0) - before_again
        assert asked == 0
        assert spotify.playlists_of(listener) == [first.spotify.playlist_id]
