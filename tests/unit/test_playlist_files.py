"""Playlist files: M3U8, XSPF and JSPF as the gateway writes them, each read back by a parser
and checked against what its specification requires, with hostile names that round-trip."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from fullcircle.errors import FailedPrecondition, InvalidArgument
from fullcircle.v1 import common_pb2, gateway_pb2
from services.gateway.domain.playlist_files import (
    XSPF_NS,
    file_format,
    file_name,
    playlist_file,
)
from tests.support.playlist_files import jspf_tracks, m3u8_tracks, xspf_tracks

MADE_AT = datetime(2026, 12, 4, 21, 5, 9, 123456, tzinfo=UTC)
HOSTILE = '</title><script>alert("x")</script> & <![CDATA[ ]]>'
URI = "spotify:track:6rqhFgbbKwnb9MLmUQDhG6"
MBID = "028523f5-23b3-4910-adc1-46d932e2fb55"
RECORDING = f"https://musicbrainz.org/recording/{MBID}"
N = f"{{{XSPF_NS}}}"
M3U8 = gateway_pb2.PLAYLIST_FORMAT_FILE_M3U8
XSPF = gateway_pb2.PLAYLIST_FORMAT_FILE_XSPF
JSPF = gateway_pb2.PLAYLIST_FORMAT_FILE_JSPF


def playlist() -> common_pb2.Playlist:
    return common_pb2.Playlist(
        prompt="High energy morning music!",
        energy=0.7,
        mood_confidence=1.0,
        hour_band="morning",
        familiarity="mixed",
        tracks=[
            common_pb2.PlaylistTrack(
                artist="Gorillaz",
                track="Feel Good Inc.",
                track_uri=URI,
                familiar=True,
                reason="one of yours, mood fit 81%",
                source="your_plays",
            ),
            common_pb2.PlaylistTrack(
                artist="Beyoncé",
                track=HOSTILE,
                familiar=False,
                reason="new to you",
                source="lastfm_top_tracks",
                mbid=MBID,
            ),
            common_pb2.PlaylistTrack(
                artist="Line\nBreaker",
                track="#EXTINF:99,Injected\r\nspotify:track:evil\x07",
                source="lastfm_top_tracks",
            ),
        ],
        left_out=["Someone"],
        left_out_note="1 artist left out: no track known yet",
    )


def written(value: int) -> gateway_pb2.PlaylistFile:
    return playlist_file(playlist(), file_format(value), MADE_AT)


def test_xspf_is_version_1_in_its_namespace_with_every_track_and_escaped_names() -> None:
    made = written(XSPF)
    assert made.file_name == "high-energy-morning-music.xspf"
    assert made.media_type == "application/xspf+xml"
    assert made.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = ET.fromstring(made.content)
    assert root.tag == f"{N}playlist" and root.attrib == {"version": "1"}
    assert root.findtext(f"{N}title") == "High energy morning music!"
    assert root.findtext(f"{N}creator") == "Full-Circle"
    assert root.findtext(f"{N}date") == "2026-12-04T21:05:09+00:00"  # xsd:dateTime
    assert "1 artist left out" in (root.findtext(f"{N}annotation") or "")
    # the specification's order of a playlist's children: trackList after the metadata
    assert [child.tag.removeprefix(N) for child in root] == [
        "title",
        "creator",
        "annotation",
        "date",
        "trackList",
    ]
    track_list = root.find(f"{N}trackList")
    assert track_list is not None
    tracks = track_list.findall(f"{N}track")
    assert len(tracks) == 3
    order = ["location", "identifier", "title", "creator", "annotation"]
    for track in tracks:
        tags = [child.tag.removeprefix(N) for child in track]
        assert tags == sorted(tags, key=order.index), tags  # the specification's order
        assert {"location", "title", "creator"} <= set(tags)
    first, hostile, breaker = tracks
    assert [(t.creator, t.title) for t in xspf_tracks(made.content)][:2] == [
        ("Gorillaz", "Feel Good Inc."),
        ("Beyoncé", HOSTILE),
    ]
    assert first.findtext(f"{N}location") == URI and first.findtext(f"{N}identifier") == URI
    assert hostile.findtext(f"{N}title") == HOSTILE  # markup is text, round-tripped
    assert hostile.findtext(f"{N}creator") == "Beyoncé"
    # a search is no canonical id; its MusicBrainz recording is
    assert [e.text for e in hostile.findall(f"{N}identifier")] == [RECORDING]
    assert breaker.find(f"{N}identifier") is None
    assert hostile.findtext(f"{N}location", "").startswith("spotify:search:Beyonc%C3%A9+")
    assert b"<script>" not in made.content
    # a character XML cannot hold is dropped; a line break stays text (a parser reads the
    # CR LF pair as LF, as XML's end-of-line handling says)
    assert breaker.findtext(f"{N}title") == "#EXTINF:99,Injected\nspotify:track:evil"


def test_jspf_has_the_playlist_and_track_keys_listenbrainz_reads() -> None:
    made = written(JSPF)
    assert made.file_name == "high-energy-morning-music.jspf"
    assert made.media_type == "application/json"
    document = json.loads(made.content)
    assert set(document) == {"playlist"}
    body = document["playlist"]
    assert {"title", "creator", "date", "track"} <= set(body)
    assert body["title"] == "High energy morning music!" and body["creator"] == "Full-Circle"
    assert datetime.fromisoformat(body["date"]) == MADE_AT.replace(microsecond=0)
    assert len(body["track"]) == 3
    for track in body["track"]:
        assert {"title", "creator", "identifier", "location"} <= set(track)
        assert isinstance(track["identifier"], list) and isinstance(track["location"], list)
    first, hostile, breaker = body["track"]
    assert [t.identifiers for t in jspf_tracks(made.content)] == [(URI,), (RECORDING,), ()]
    assert (first["title"], first["creator"], first["identifier"]) == (
        "Feel Good Inc.",
        "Gorillaz",
        [URI],
    )
    assert hostile["title"] == HOSTILE and hostile["identifier"] == [RECORDING]
    assert breaker["identifier"] == []
    assert hostile["location"][0].startswith("spotify:search:")
    assert breaker["creator"] == "Line\nBreaker"  # JSON escapes it


def test_m3u8_has_the_header_one_extinf_per_track_and_a_location_after_each() -> None:
    made = written(M3U8)
    assert made.file_name == "high-energy-morning-music.m3u8"
    assert made.media_type == "audio/x-mpegurl; charset=utf-8"
    text = made.content.decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U" and lines[1] == "#PLAYLIST:High energy morning music!"
    entries = [line for line in lines if not line.startswith("#")]
    extinf = [line for line in lines if line.startswith("#EXTINF:")]
    assert len(extinf) == len(entries) == 3  # a name's line break starts no line of its own
    assert extinf[0] == "#EXTINF:-1,Gorillaz - Feel Good Inc."
    assert extinf[1] == f"#EXTINF:-1,Beyoncé - {HOSTILE}"
    assert extinf[2] == "#EXTINF:-1,Line Breaker - #EXTINF:99,Injected spotify:track:evil"
    assert entries[0] == URI
    assert entries[1].startswith("spotify:search:Beyonc%C3%A9+") and " " not in entries[1]
    # each entry right after its EXTINF line, or after the search comment of a track
    for index, line in enumerate(lines):
        if line.startswith("#EXTINF:"):
            following = lines[index + 1]
            if following.startswith("# search: "):
                following = lines[index + 2]
            assert following.startswith("spotify:")
    assert "# search: Beyoncé " + HOSTILE in lines
    assert "spotify:track:evil" not in entries
    assert [t.location for t in m3u8_tracks(made.content)] == entries


def test_the_readers_refuse_files_missing_what_their_format_requires() -> None:
    ns = f'xmlns="{XSPF_NS}"'
    with pytest.raises(AssertionError):
        xspf_tracks(f'<playlist version="1" {ns}><title>x</title></playlist>'.encode())
    with pytest.raises(AssertionError):  # trackList before the title
        xspf_tracks(f'<playlist version="1" {ns}><trackList/><title>x</title></playlist>'.encode())
    with pytest.raises(AssertionError):  # not in the XSPF namespace
        xspf_tracks(b'<playlist version="1"><trackList/></playlist>')
    with pytest.raises(KeyError):
        jspf_tracks(b'{"playlist": {"title": "x", "creator": "y", "track": []}}')
    with pytest.raises(AssertionError):
        m3u8_tracks(b"#EXTINF:-1,A - B\nspotify:track:1\n")
    with pytest.raises(AssertionError):
        m3u8_tracks(b"#EXTM3U\n#EXTINF:-1,A - B\n#EXTINF:-1,C - D\nspotify:track:1\n")


def test_bad_formats_and_empty_playlists_say_what_to_do() -> None:
    with pytest.raises(InvalidArgument, match="PLAYLIST_FORMAT_FILE_M3U8"):
        file_format(gateway_pb2.PLAYLIST_FORMAT_UNSPECIFIED)
    with pytest.raises(InvalidArgument, match="format 99"):
        file_format(99)
    empty = common_pb2.Playlist(prompt="chill")
    with pytest.raises(FailedPrecondition, match="no track"):
        playlist_file(empty, file_format(XSPF), MADE_AT)
    assert file_name("Música para la mañana 🌅", "xspf") == "musica-para-la-manana.xspf"
    assert file_name("🌅🌅", "m3u8") == "playlist.m3u8"
    assert file_name("../../etc/passwd", "jspf") == "etc-passwd.jspf"
    assert len(file_name("word " * 100, "jspf")) <= 65
