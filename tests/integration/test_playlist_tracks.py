"""Every playlist row is a track, through the model's Recommender over gRPC on real Postgres:
a recommended artist enters through one of its Last.fm top tracks as enrich stores them (a real
recorded artist.getTopTracks answer), the best fitting by its track tags else the most played;
an artist the listener has plays of, through those (with their Spotify URI, from a real
export); an artist with no known track is left out and counted, and a playlist of no track at
all is FAILED_PRECONDITION."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from fullcircle.grpc_server import GrpcServer
from fullcircle.v1 import model_pb2, model_pb2_grpc
from services.enrich.adapters import store as enrich_store
from services.enrich.adapters.lastfm import ArtistTopTracks, TopTrack, TrackTags
from services.enrich.domain.tags import CleanTag, TagKind
from services.ingest.domain.exports import read_export_path
from services.model.adapters import store as model_store
from services.model.domain.explanation import explain
from services.model.domain.playlist import LASTFM_TOP_TRACKS, YOUR_PLAYS
from services.model.domain.scoring import ScoredArtist
from services.model.servicer import RecommenderServicer

pytestmark = pytest.mark.integration

UNFETCHED = "Artist Whose Tracks Enrich Has Not Fetched"
ENERGETIC_TRACK_RANK = 5  # the recorded answer's fifth track gets energetic track tags here


def recorded_top_tracks(shared_data: Path) -> ArtistTopTracks:
    """Cher's top tracks as Last.fm answered artist.getTopTracks (recorded)."""
    root = ET.parse(shared_data / "lastfm-api-ruby-lastfm/artist_get_top_tracks.xml").getroot()
    top = root.find("toptracks")
    assert top is not None
    tracks = tuple(
        TopTrack(
            track.findtext("name", ""),
            int(track.findtext("playcount", "0")),
            track.findtext("mbid", ""),
        )
        for track in top.iter("track")
    )
    return ArtistTopTracks(top.attrib["artist"], True, tracks[:10])


@pytest.fixture
async def recommender(pool: Any) -> AsyncIterator[model_pb2_grpc.RecommenderStub]:
    server = GrpcServer("127.0.0.1", 0)
    server.add(
        model_pb2_grpc.add_RecommenderServicer_to_server,
        RecommenderServicer(pool),
        model_pb2.DESCRIPTOR.services_by_name["Recommender"].full_name,
    )
    await server.start()
    async with grpc.aio.insecure_channel(server.address) as channel:
        yield model_pb2_grpc.RecommenderStub(channel)
    await server.stop(0)


async def new_set(pool: Any, listener: uuid.UUID, artists: list[str]) -> None:
    items = []
    for rank, name in enumerate(artists):
        scored = ScoredArtist(name, 1.0 / (rank + 1), {"similar to Seed": 1.0}, ("Seed",), ())
        items.append((scored, *explain(scored.parts), ""))
    await model_store.save_set(pool, listener, 1, f"test:{listener.hex[:8]}", "test", {}, items)


async def store_own_tracks(pool: Any, listener: uuid.UUID, shared_data: Path) -> str:
    """The listener's 30 most played tracks of a real export as features' track_stats; the
    artist of the most played one."""
    export = read_export_path(shared_data / "spotify-history-efrrowini")
    counts = Counter(
        (play.artist_name, play.track_name, play.track_uri)
        for play in export.plays
        if play.artist_name and play.track_name and play.track_uri
    )
    top = counts.most_common(30)
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO features.track_stats (user_id, artist_name, track_name, track_uri,"
            " listens) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(listener, *track, listens) for track, listens in top],
        )
    return str(top[0][0][0])


async def make(stub: model_pb2_grpc.RecommenderStub, listener: uuid.UUID, prompt: str) -> Any:
    return await stub.CreatePlaylist(
        model_pb2.ModelPlaylistRequest(user_id=str(listener), prompt=prompt), timeout=10
    )


async def test_every_row_is_a_track_and_an_artist_without_one_is_counted(
    pool: Any, recommender: model_pb2_grpc.RecommenderStub, shared_data: Path
) -> None:
    listener = uuid.uuid4()
    cher = recorded_top_tracks(shared_data)
    await enrich_store.save_top_tracks(pool, cher)
    energetic = cher.tracks[ENERGETIC_TRACK_RANK - 1].name
    await enrich_store.save_track_tags(
        pool,
        TrackTags(
            cher.artist,
            energetic,
            True,
            (CleanTag("energetic", 100, TagKind.MOOD), CleanTag("party", 80, TagKind.MOOD)),
        ),
    )
    own_artist = await store_own_tracks(pool, listener, shared_data)
    # a discovery set naming an artist the listener has plays of (made before them, say)
    await new_set(pool, listener, [UNFETCHED, cher.artist, own_artist])

    made = await make(recommender, listener, "10 new songs")
    assert len(made.tracks) == 10 and all(row.track for row in made.tracks)
    new = {row.artist: row for row in made.tracks if not row.familiar}
    assert set(new) == {cher.artist, own_artist}
    assert (new[cher.artist].track, new[cher.artist].source) == ("Believe", LASTFM_TOP_TRACKS)
    assert new[cher.artist].track_uri == ""
    assert new[cher.artist].mbid == "028523f5-23b3-4910-adc1-46d932e2fb55"  # as recorded
    assert new[own_artist].mbid == ""
    assert new[own_artist].source == YOUR_PLAYS
    assert new[own_artist].track_uri.startswith("spotify:track:")
    assert all(row.source == YOUR_PLAYS for row in made.tracks if row.familiar)
    assert list(made.left_out) == [UNFETCHED]
    assert made.left_out_note.startswith("1 artist left out: no track known yet")

    # a mood prompt: Cher enters through the track whose own tags fit it, not her most played
    loud = await make(recommender, listener, "10 new songs, high energy")
    assert {row.artist: row.track for row in loud.tracks}[cher.artist] == energetic


async def test_a_playlist_of_no_track_says_what_to_do(
    pool: Any, recommender: model_pb2_grpc.RecommenderStub
) -> None:
    listener = uuid.uuid4()
    await new_set(pool, listener, [UNFETCHED])
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await make(recommender, listener, "upbeat")
    assert empty.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ask again in a minute" in (empty.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as nothing:
        await make(recommender, uuid.uuid4(), "upbeat")
    assert nothing.value.code() == grpc.StatusCode.NOT_FOUND
