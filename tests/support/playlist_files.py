"""Readers that check a playlist file against what its format requires, for the unit and e2e
tests: each parses the file with a real parser, asserts the required structure and fields,
and answers its tracks as (creator, title, location, identifiers)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass

XSPF_NS = "http://xspf.org/ns/0/"
_N = f"{{{XSPF_NS}}}"
# the order XSPF version 1 lists a playlist's and a track's elements in
XSPF_PLAYLIST_ORDER = (
    "title", "creator", "annotation", "info", "location", "identifier", "image", "date",
    "license", "attribution", "link", "meta", "extension", "trackList",
)  # fmt: skip
XSPF_TRACK_ORDER = (
    "location", "identifier", "title", "creator", "annotation", "info", "image", "album",
    "trackNum", "duration", "link", "meta", "extension",
)  # fmt: skip


@dataclass(frozen=True)
class FileTrack:
    creator: str
    title: str
    location: str
    identifiers: tuple[str, ...]


def _in_order(children: list[str], order: tuple[str, ...]) -> bool:
    return all(name in order for name in children) and children == sorted(children, key=order.index)


def xspf_tracks(content: bytes) -> list[FileTrack]:
    """An XSPF version 1 file: <playlist version="1"> in its namespace, one trackList, each
    element where the specification puts it, at most one title and creator per track, every
    location and identifier a URI."""
    root = ET.fromstring(content)
    assert root.tag == f"{_N}playlist", root.tag
    assert root.attrib.get("version") == "1"
    names = [child.tag.removeprefix(_N) for child in root]
    assert names.count("trackList") == 1 and _in_order(names, XSPF_PLAYLIST_ORDER), names
    for once in ("title", "creator", "annotation", "date"):
        assert names.count(once) <= 1, once
    track_list = root.find(f"{_N}trackList")
    assert track_list is not None
    assert all(child.tag == f"{_N}track" for child in track_list)
    tracks = []
    for track in track_list:
        names = [child.tag.removeprefix(_N) for child in track]
        assert _in_order(names, XSPF_TRACK_ORDER), names
        assert names.count("title") <= 1 and names.count("creator") <= 1, names
        locations = [e.text or "" for e in track.findall(f"{_N}location")]
        identifiers = tuple(e.text or "" for e in track.findall(f"{_N}identifier"))
        assert all(":" in uri and " " not in uri for uri in (*locations, *identifiers))
        tracks.append(
            FileTrack(
                track.findtext(f"{_N}creator", ""),
                track.findtext(f"{_N}title", ""),
                locations[0] if locations else "",
                identifiers,
            )
        )
    return tracks


def jspf_tracks(content: bytes) -> list[FileTrack]:
    """A JSPF file as ListenBrainz reads it: {"playlist": {"title", "creator", "date",
    "track": [{"title", "creator", "identifier": [...]}]}} with lists where XSPF repeats."""
    document = json.loads(content)
    assert set(document) == {"playlist"}
    playlist = document["playlist"]
    assert isinstance(playlist["title"], str) and playlist["title"]
    assert isinstance(playlist["creator"], str) and isinstance(playlist["date"], str)
    assert isinstance(playlist["track"], list)
    tracks = []
    for track in playlist["track"]:
        assert isinstance(track["title"], str) and isinstance(track["creator"], str)
        assert isinstance(track["identifier"], list) and isinstance(track["location"], list)
        assert all(isinstance(uri, str) and ":" in uri for uri in track["identifier"])
        tracks.append(
            FileTrack(
                track["creator"],
                track["title"],
                track["location"][0] if track["location"] else "",
                tuple(track["identifier"]),
            )
        )
    return tracks


def m3u8_tracks(content: bytes) -> list[FileTrack]:
    """An extended M3U in UTF-8: #EXTM3U first, then per entry an `#EXTINF:<seconds>,<artist>
    - <title>` line, comments, and the entry's location line."""
    lines = content.decode("utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    tracks = []
    info: str | None = None
    for line in lines[1:]:
        if line.startswith("#EXTINF:"):
            assert info is None, "two #EXTINF lines without an entry between"
            seconds, _, info = line.removeprefix("#EXTINF:").partition(",")
            assert int(seconds) >= -1 and " - " in info, line
        elif line.startswith("#") or not line.strip():
            continue
        else:
            assert info is not None, f"an entry without #EXTINF: {line!r}"
            creator, _, title = info.partition(" - ")
            tracks.append(FileTrack(creator, title, line, ()))
            info = None
    assert info is None, "an #EXTINF line without its entry"
    return tracks
