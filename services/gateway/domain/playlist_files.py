"""A playlist as a file other players and services open: M3U8, XSPF and JSPF writers.

What each holds, per track (artist, title, and where to play it):

- **M3U8** (extended M3U, UTF-8): `#EXTM3U`, `#PLAYLIST:<title>`, then per track
  `#EXTINF:-1,<artist> - <title>` (-1: length unknown, as the format allows; Full-Circle does
  not know track lengths) and its `spotify:track:` URI. A track without one gets a comment line
  `# search: <artist> <title>` (a person reads it, every player skips it) and a
  `spotify:search:<artist>+<title>` line: the Spotify apps open it as a search for the track,
  and a player that cannot play it skips that entry alone. Line breaks and control characters
  in names become spaces: a name cannot start a line of its own.
- **XSPF** version 1 (`http://xspf.org/ns/0/`): playlist title, creator ("Full-Circle"),
  annotation (how the prompt was read), date; each track's location (its Spotify URI, else the
  search URI above), identifiers (the Spotify URI, and `https://musicbrainz.org/recording/<id>`
  where Last.fm gave a top track its MusicBrainz id: canonical ids only, never a search),
  title, creator (the artist) and annotation (why it is there), in the order the
  specification lists them. Written by ElementTree, so markup in a name is escaped text;
  characters XML 1.0 cannot hold are dropped.
- **JSPF** (XSPF in JSON, as ListenBrainz imports and exports it): `{"playlist": {"title",
  "creator", "annotation", "date", "track": [{"title", "creator", "annotation", "location": [...],
  "identifier": [...]}]}}`, `identifier` always a list of the same ids as XSPF's (empty when none
  is known; ListenBrainz matches a track by its MusicBrainz recording).
"""

from __future__ import annotations

import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote_plus

from fullcircle.errors import FailedPrecondition, InvalidArgument
from fullcircle.v1 import common_pb2, gateway_pb2

XSPF_NS = "http://xspf.org/ns/0/"
CREATOR = "Full-Circle"
MUSICBRAINZ_RECORDING = "https://musicbrainz.org/recording/"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# what XML 1.0 cannot carry at all, even escaped (control characters but tab and line breaks,
# lone surrogates, the two non-characters of the BMP's end)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
ET.register_namespace("", XSPF_NS)  # the default namespace: <playlist xmlns="...">


@dataclass(frozen=True)
class PlaylistFileFormat:
    extension: str
    media_type: str
    write: Callable[[common_pb2.Playlist, datetime], bytes]


def one_line(text: str) -> str:
    """A name on one line: line breaks and control characters as single spaces."""
    return _CONTROL.sub(" ", text).strip()


def search_uri(track: common_pb2.PlaylistTrack) -> str:
    """The Spotify apps' search for a track: spotify:search:<artist>+<title>."""
    return "spotify:search:" + quote_plus(one_line(f"{track.artist} {track.track}"))


def location(track: common_pb2.PlaylistTrack) -> str:
    """Where a track plays: its Spotify URI, else a Spotify search for it."""
    return track.track_uri or search_uri(track)


def identifiers(track: common_pb2.PlaylistTrack) -> list[str]:
    """A track's canonical ids (a search is not one): its Spotify URI and its MusicBrainz
    recording (what ListenBrainz matches a JSPF track by), each when known."""
    return [
        *([track.track_uri] if track.track_uri else []),
        *([MUSICBRAINZ_RECORDING + track.mbid] if track.mbid else []),
    ]


def annotation(playlist: common_pb2.Playlist) -> str:
    """How the prompt was read, and who was left out, in words."""
    mood = (
        f"energy {playlist.energy:+.1f}, valence {playlist.valence:+.1f}"
        if playlist.mood_confidence > 0
        else "no mood asked"
    )
    read = f"{mood}, {playlist.hour_band or 'any time'}, {playlist.familiarity}"
    return " ".join(
        part for part in (f"Made by Full-Circle; read as {read}.", playlist.left_out_note) if part
    )


def write_m3u8(playlist: common_pb2.Playlist, made_at: datetime) -> bytes:
    lines = ["#EXTM3U", f"#PLAYLIST:{one_line(playlist.prompt)}"]
    for track in playlist.tracks:
        lines.append(f"#EXTINF:-1,{one_line(track.artist)} - {one_line(track.track)}")
        if not track.track_uri:
            lines.append(f"# search: {one_line(track.artist)} {one_line(track.track)}")
        lines.append(location(track))
    return ("\n".join(lines) + "\n").encode()


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def write_xspf(playlist: common_pb2.Playlist, made_at: datetime) -> bytes:
    def child(parent: ET.Element, name: str, text: str) -> None:
        ET.SubElement(parent, f"{{{XSPF_NS}}}{name}").text = _xml_text(text)

    root = ET.Element(f"{{{XSPF_NS}}}playlist", version="1")
    child(root, "title", playlist.prompt)
    child(root, "creator", CREATOR)
    child(root, "annotation", annotation(playlist))
    child(root, "date", made_at.isoformat())
    track_list = ET.SubElement(root, f"{{{XSPF_NS}}}trackList")
    for track in playlist.tracks:
        element = ET.SubElement(track_list, f"{{{XSPF_NS}}}track")
        child(element, "location", location(track))
        for identifier in identifiers(track):
            child(element, "identifier", identifier)
        child(element, "title", track.track)
        child(element, "creator", track.artist)
        if track.reason:
            child(element, "annotation", track.reason)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def write_jspf(playlist: common_pb2.Playlist, made_at: datetime) -> bytes:
    document = {
        "playlist": {
            "title": playlist.prompt,
            "creator": CREATOR,
            "annotation": annotation(playlist),
            "date": made_at.isoformat(),
            "track": [
                {
                    "title": track.track,
                    "creator": track.artist,
                    "annotation": track.reason,
                    "location": [location(track)],
                    "identifier": identifiers(track),
                }
                for track in playlist.tracks
            ],
        }
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()


FORMATS: dict[int, PlaylistFileFormat] = {
    gateway_pb2.PLAYLIST_FORMAT_FILE_M3U8: PlaylistFileFormat(
        "m3u8", "audio/x-mpegurl; charset=utf-8", write_m3u8
    ),
    gateway_pb2.PLAYLIST_FORMAT_FILE_XSPF: PlaylistFileFormat(
        "xspf", "application/xspf+xml", write_xspf
    ),
    # JSPF has no media type of its own: JSON's
    gateway_pb2.PLAYLIST_FORMAT_FILE_JSPF: PlaylistFileFormat(
        "jspf", "application/json", write_jspf
    ),
}


def file_format(value: int) -> PlaylistFileFormat:
    """The format a request names; INVALID_ARGUMENT, saying what to pass, for any other."""
    if value not in FORMATS:
        names = ", ".join(gateway_pb2.PlaylistFormat.Name(known) for known in FORMATS)
        raise InvalidArgument(f"format {value} is not one to export to: pass one of {names}")
    return FORMATS[value]


def spotify_playlist_name(prompt: str) -> str:
    """The Spotify playlist's name: the prompt as typed, one line, at most 100 characters."""
    return " ".join(prompt.split())[:100] or "Full-Circle playlist"


def file_name(prompt: str, extension: str) -> str:
    """A file name from the prompt: ASCII words joined by hyphens, at most 60 characters."""
    ascii_text = unicodedata.normalize("NFKD", prompt).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    stem = "-".join(words)[:60].strip("-") or "playlist"
    return f"{stem}.{extension}"


def playlist_file(
    playlist: common_pb2.Playlist, chosen: PlaylistFileFormat, made_at: datetime
) -> gateway_pb2.PlaylistFile:
    """The playlist written in the chosen format (`file_format`), made at `made_at` (to the
    second); FAILED_PRECONDITION for a playlist of no track (a file of nothing)."""
    if not playlist.tracks:
        raise FailedPrecondition(
            "the playlist has no track to write yet; ask again in a minute, or try other words"
        )
    return gateway_pb2.PlaylistFile(
        file_name=file_name(playlist.prompt, chosen.extension),
        media_type=chosen.media_type,
        content=chosen.write(playlist, made_at.replace(microsecond=0)),
        playlist=playlist,
    )
