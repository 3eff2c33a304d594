"""Rows of Spotify's two listening-history formats, recognised by their keys and turned into plays,
and what any source's row can come to besides a play (the other sources' rows are in
`lastfm_rows`, `listenbrainz_rows`, `takeout_rows` and `apple_rows`).

A row with a wrong value type raises `RowRejected` with a reason a user can read in the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec

from services.ingest.domain.plays import (
    FULL_LISTEN_MS,
    UNSTORABLE_TEXT,
    Play,
    PlaySource,
    known_key,
    storable,
)


class HistoryKind(StrEnum):
    """What one file of an export holds, judged by the keys of its rows (or its columns)."""

    EXTENDED = "extended"
    ACCOUNT_MUSIC = "account music"
    ACCOUNT_PODCAST = "account podcast"
    ACCOUNT_AUDIOBOOK = "account audiobook"
    LASTFM_TO_CSV = "lastfm scrobbles (lastfm-to-csv)"
    LASTFM_GHAN = "lastfm scrobbles (lastfm.ghan.nl)"
    LISTENBRAINZ = "listenbrainz listens"
    YOUTUBE_WATCHES = "youtube watch history"
    APPLE_PLAY_ACTIVITY = "apple music play activity"
    APPLE_TRACK_PLAY_HISTORY = "apple music track play history"
    APPLE_RECENTLY_PLAYED = "apple music recently played"


class RowRejected(ValueError):
    """One history row that cannot become a play; `reason` is counted in the file's report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FileFault(ValueError):
    """A row that shows the file is not what its layout promises (a date that does not parse,
    a listen without the fields its schema requires): the whole import is refused, naming the
    file and the row, rather than storing what a damaged or misread file seems to hold.
    `row` is set by whoever knows where the row is in its file."""

    row: int | None = None


@dataclass(frozen=True, slots=True)
class SetAside:
    """A row that is not a play (a video that is not music, the now-playing track that has
    no date yet): counted in the file's report under `reason`, not stored."""

    reason: str


# Spotify's placeholders for a stream it could not resolve: no artist or track to learn from.
UNKNOWN_ARTIST = "Unknown Artist"
UNKNOWN_TRACK = "Unknown Track"

_ROWS_SNIFFED = 20
_TEXT_TYPES: frozenset[type] = frozenset({str, type(None)})
_FLAG_TYPES: frozenset[type] = frozenset({bool, type(None)})
_EXTENDED_TEXT_KEYS = (
    "spotify_track_uri",
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "reason_start",
    "reason_end",
    "platform",
    "conn_country",
)
_EXTENDED_FLAG_KEYS = ("skipped", "shuffle", "offline", "incognito_mode")


def history_kind(rows: list[Any]) -> HistoryKind | None:
    """The format of a file's rows, from the keys of its first recognisable row or None."""
    for row in rows[:_ROWS_SNIFFED]:
        if not isinstance(row, dict):
            continue
        if "ts" in row and "ms_played" in row:
            return HistoryKind.EXTENDED
        if "endTime" in row and "msPlayed" in row:
            if "trackName" in row or "artistName" in row:
                return HistoryKind.ACCOUNT_MUSIC
            if "podcastName" in row or "episodeName" in row:
                return HistoryKind.ACCOUNT_PODCAST
            if any(key.startswith("audiobook") for key in row):
                return HistoryKind.ACCOUNT_AUDIOBOOK
    return None


# What a row that is not a music play is set aside as.
NotMusic = Literal["podcast", "audiobook"]


def extended_row_play(row: Any) -> tuple[str, Play] | NotMusic:
    """An Extended Streaming History row (a decoded JSON value) as a keyed play, or what it
    is set aside as; `RowRejected` when it cannot be either."""
    if not isinstance(row, dict):
        raise RowRejected("row is not a JSON object")
    track_uri = row.get("spotify_track_uri")
    if not track_uri:
        return _not_music(
            row.get("spotify_episode_uri"),
            row.get("audiobook_chapter_uri"),
            row.get("audiobook_uri"),
        )
    key, play = extended_play(row, track_uri)
    if not storable(play):
        raise RowRejected(UNSTORABLE_TEXT)
    return key, play


def _not_music(episode_uri: object, chapter_uri: object, audiobook_uri: object) -> NotMusic:
    if episode_uri:
        return "podcast"
    if chapter_uri or audiobook_uri:
        return "audiobook"
    raise RowRejected("no track, episode or audiobook URI")


class ExtendedRow(msgspec.Struct):
    """The typed view of an Extended Streaming History row: the fast path's decoding target.

    A file whose every row fits (both formats' types, `ts` and `ms_played` present) is decoded
    straight into these in C, about three times faster than json.loads plus the checks of
    `extended_play`; any row that does not fit sends the whole file down the checked path,
    which reports each bad row. Keys not listed here are skipped unread.
    """

    ts: str
    ms_played: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
    spotify_track_uri: str | None = None
    master_metadata_track_name: str | None = None
    master_metadata_album_artist_name: str | None = None
    master_metadata_album_album_name: str | None = None
    reason_start: str | None = None
    reason_end: str | None = None
    platform: str | None = None
    conn_country: str | None = None
    skipped: bool | None = None
    shuffle: bool | None = None
    offline: bool | None = None
    incognito_mode: bool | None = None
    spotify_episode_uri: str | None = None
    audiobook_chapter_uri: str | None = None
    audiobook_uri: str | None = None


_TYPED_EXTENDED = msgspec.json.Decoder(list[ExtendedRow])
# Escapes the fast path must not see: NUL and surrogates (a row holding one is rejected by the
# checked path; paired surrogates, which are valid, merely take the slower path).
_UNSAFE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def typed_extended_rows(data: bytes | bytearray) -> list[ExtendedRow] | None:
    """The rows of an extended-history JSON file when every one fits `ExtendedRow`, else None
    (not extended, not UTF-8, not valid JSON, a wrong type anywhere: the checked path decides)."""
    if _UNSAFE_ESCAPE.search(data):
        return None
    try:
        return _TYPED_EXTENDED.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, ValueError):
        return None


def typed_extended_play(row: ExtendedRow) -> tuple[str, Play] | NotMusic:
    """`extended_row_play` for a row whose types the decoder already checked."""
    track_uri = row.spotify_track_uri
    if not track_uri:
        return _not_music(row.spotify_episode_uri, row.audiobook_chapter_uri, row.audiobook_uri)
    ts = row.ts
    play = Play(
        _ended_at(ts, "ts"),
        row.ms_played,
        row.master_metadata_track_name,
        row.master_metadata_album_artist_name,
        row.master_metadata_album_album_name,
        track_uri,
        row.skipped,
        row.reason_start,
        row.reason_end,
        row.shuffle,
        row.offline,
        row.incognito_mode,
        row.platform,
        row.conn_country,
        "extended",
    )
    if _CANONICAL_TS.match(ts):
        key = f"{ts}|{track_uri}"
        return key, known_key(play, key)
    return play.play_key, play


def extended_play(row: Mapping[str, Any], track_uri: str) -> tuple[str, Play]:
    """The play of an Extended Streaming History row carrying `spotify_track_uri`, with its key.

    The key equals `play.play_key`; it is taken from the raw `ts` when that is already in Spotify's
    canonical "YYYY-MM-DDTHH:MM:SSZ" form, because formatting 140,000 datetimes is the slow part.
    """
    get = row.get
    ts = get("ts")
    track_name = get("master_metadata_track_name")
    artist_name = get("master_metadata_album_artist_name")
    album_name = get("master_metadata_album_album_name")
    reason_start = get("reason_start")
    reason_end = get("reason_end")
    platform = get("platform")
    country = get("conn_country")
    skipped = get("skipped")
    shuffle = get("shuffle")
    offline = get("offline")
    incognito = get("incognito_mode")
    # One C-level type check per group; the slow search for the culprit runs only on bad rows.
    if not _TEXT_TYPES.issuperset(
        map(
            type,
            (
                track_uri,
                track_name,
                artist_name,
                album_name,
                reason_start,
                reason_end,
                platform,
                country,
            ),
        )
    ):
        raise RowRejected(_first_mistyped(row, _EXTENDED_TEXT_KEYS, _TEXT_TYPES, "text"))
    if not _FLAG_TYPES.issuperset(map(type, (skipped, shuffle, offline, incognito))):
        raise RowRejected(_first_mistyped(row, _EXTENDED_FLAG_KEYS, _FLAG_TYPES, "true/false"))
    play = Play(
        _ended_at(ts, "ts"),
        _ms_played(get("ms_played"), "ms_played"),
        track_name,
        artist_name,
        album_name,
        track_uri,
        skipped,
        reason_start,
        reason_end,
        shuffle,
        offline,
        incognito,
        platform,
        country,
        "extended",
    )
    if isinstance(ts, str) and _CANONICAL_TS.match(ts):
        key = f"{ts}|{track_uri}"
        return key, known_key(play, key)
    return play.play_key, play


def account_row_play(row: Any) -> tuple[str, Play]:
    """An Account-data music row (a decoded JSON value) as a keyed play; `RowRejected` when
    it cannot be one."""
    if not isinstance(row, dict):
        raise RowRejected("row is not a JSON object")
    key, play = account_play(row)
    if not storable(play):
        raise RowRejected(UNSTORABLE_TEXT)
    return key, play


def account_play(row: Mapping[str, Any]) -> tuple[str, Play]:
    """The play of an Account-data music row (`endTime` "YYYY-MM-DD HH:MM" in UTC), with its key.

    Spotify's "Unknown Artist"/"Unknown Track" placeholders become None: nothing to learn from.
    The key equals `play.play_key`, taken from the raw `endTime` when it has the usual form.
    """
    get = row.get
    artist_name = get("artistName")
    track_name = get("trackName")
    if artist_name is not None and type(artist_name) is not str:
        raise RowRejected("artistName is not text")
    if track_name is not None and type(track_name) is not str:
        raise RowRejected("trackName is not text")
    play = Play(
        ended_at=_ended_at(get("endTime"), "endTime"),
        ms_played=_ms_played(get("msPlayed"), "msPlayed"),
        track_name=None if track_name == UNKNOWN_TRACK else track_name,
        artist_name=None if artist_name == UNKNOWN_ARTIST else artist_name,
        album_name=None,
        track_uri=None,
        skipped=None,
        reason_start=None,
        reason_end=None,
        shuffle=None,
        offline=None,
        incognito=None,
        platform=None,
        country=None,
        source="account",
    )
    end_time = row["endTime"]
    if _ACCOUNT_TIME.match(end_time):
        artist, track = play.artist_name or "", play.track_name or ""
        key = f"acct|{end_time[:10]}T{end_time[11:]}Z|{artist}|{track}"
        return key, known_key(play, key)
    return play.play_key, play


# The raw stamps that already read as the key's time, so the key is built without formatting.
_CANONICAL_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
_ACCOUNT_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d\Z")

# ms_played is stored as a 32-bit integer: 2^31 - 1 ms is 24.8 days, far beyond any stream.
MAX_MS_PLAYED = 2**31 - 1


def _ended_at(value: object, key: str) -> datetime:
    if type(value) is not str:
        raise RowRejected(f"{key} missing or not text")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RowRejected(f"{key} is not a date and time") from None
    if moment.tzinfo is UTC:
        return moment
    # Both formats write UTC; a zone-less stamp (the account format's) is UTC too.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise RowRejected(f"{key} is outside the years 1 to 9999 in UTC") from None


def _first_mistyped(
    row: Mapping[str, Any], keys: tuple[str, ...], allowed: frozenset[type], expected: str
) -> str:
    culprit = next(key for key in keys if type(row.get(key)) not in allowed)
    return f"{culprit} is not {expected}"


def _ms_played(value: object, key: str) -> int:
    # bool is an int subclass; true/false is a damaged row, not 1 or 0 ms.
    if type(value) is not int:
        raise RowRejected(f"{key} missing or not a whole number")
    if value < 0:
        raise RowRejected(f"{key} is negative")
    if value > MAX_MS_PLAYED:
        raise RowRejected(f"{key} is more than 24 days of playing")
    return value


def listened_play(
    source: PlaySource,
    ended_at: datetime,
    artist: str,
    track: str,
    album: str | None = None,
    *,
    ms_played: int = FULL_LISTEN_MS,
    skipped: bool | None = None,
    reason_end: str | None = None,
) -> tuple[str, Play]:
    """A play of a source other than Spotify (names only, no track URI or Spotify context),
    keyed; `RowRejected` when a name is missing or cannot be stored."""
    if not artist or not track:
        raise RowRejected(NO_NAME)
    play = Play(
        ended_at=ended_at,
        ms_played=ms_played,
        track_name=track,
        artist_name=artist,
        album_name=album or None,
        track_uri=None,
        skipped=skipped,
        reason_start=None,
        reason_end=reason_end,
        shuffle=None,
        offline=None,
        incognito=None,
        platform=None,
        country=None,
        source=source,
    )
    if not storable(play):
        raise RowRejected(UNSTORABLE_TEXT)
    return play.play_key, play


NO_NAME = "no artist or track name"
