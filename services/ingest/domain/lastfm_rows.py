"""Rows of Last.fm scrobble exports (CSV), recognised by their columns and turned into plays.

Two layouts are read:
- lastfm-to-csv (benjaminbenben): no header, `artist,album,track,date`, the date like
  `20 Nov 2020 09:35` in UTC (minute resolution). The now-playing track that Last.fm puts on
  top of every page is copied in with an empty date: set aside, counted.
- lastfm.ghan.nl: header `uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid`,
  every field quoted; `uts` (Unix seconds, UTC) is the time read.

A scrobble has no duration and no skip flag: Last.fm scrobbles a track only once half of it
(or 4 minutes) has played, so it is a full listen (`FULL_LISTEN_MS`, skipped False). Its time
is when the track began.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from services.ingest.domain.history_rows import FileFault, HistoryKind, SetAside, listened_play
from services.ingest.domain.plays import Play

LASTFM_TO_CSV_COLUMNS = ("artist", "album", "track", "date")
GHAN_COLUMNS = (
    "uts",
    "utc_time",
    "artist",
    "artist_mbid",
    "album",
    "album_mbid",
    "track",
    "track_mbid",
)
# The columns of the ghan layout a play is read from; the others may be missing.
_GHAN_NEEDED = ("uts", "artist", "album", "track")
NOW_PLAYING = SetAside("the now-playing track (no date: not scrobbled yet)")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_ROWS_SNIFFED = 20

RowToPlay = Callable[[list[str]], tuple[str, Play] | SetAside]


def lastfm_csv_kind(rows: Sequence[list[str]]) -> HistoryKind | None:
    """The Last.fm layout of a CSV file from its first rows, or None when it is neither.

    lastfm-to-csv is recognised by its shape: a first row of four columns and, in the first
    rows, a date in its format in the fourth (the now-playing row before it has none); a
    later row that breaks the layout is then a `FileFault` of that row."""
    if rows and rows[0] and rows[0][0] == "uts":
        return HistoryKind.LASTFM_GHAN
    if not rows or len(rows[0]) != 4:
        return None
    for row in rows[:_ROWS_SNIFFED]:
        if len(row) == 4 and row[3]:
            try:
                lastfm_to_csv_time(row[3])
            except FileFault:
                return None
            return HistoryKind.LASTFM_TO_CSV
    return None


def lastfm_to_csv_time(text: str) -> datetime:
    """`20 Nov 2020 09:35` (UTC, English month names whatever the locale) as a datetime."""
    try:
        day, month, year, clock = text.split(" ")
        hour, minute = clock.split(":")
        return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute), tzinfo=UTC)
    except (ValueError, KeyError):
        raise FileFault(
            f"the date {text[:40]!r} is not a Last.fm date like '20 Nov 2020 09:35'"
        ) from None


def lastfm_to_csv_play(row: list[str]) -> tuple[str, Play] | SetAside:
    """A lastfm-to-csv row (artist, album, track, date) as a keyed play, or the now-playing
    row set aside."""
    if len(row) != 4:
        raise FileFault(
            f"{len(row)} columns where lastfm-to-csv writes 4 ({','.join(LASTFM_TO_CSV_COLUMNS)})"
        )
    artist, album, track, date = row
    if not date:
        return NOW_PLAYING
    return _scrobble(lastfm_to_csv_time(date), artist, album, track)


def ghan_reader(header: list[str]) -> RowToPlay:
    """The reader of the rows under a lastfm.ghan.nl header; FileFault when a column a play
    needs is missing from it."""
    missing = [name for name in _GHAN_NEEDED if name not in header]
    if missing:
        raise FileFault(
            f"the header lacks {', '.join(missing)}; lastfm.ghan.nl writes {','.join(GHAN_COLUMNS)}"
        )
    at = {name: header.index(name) for name in _GHAN_NEEDED}
    uts, artist, album, track = (at[name] for name in _GHAN_NEEDED)
    width = len(header)

    def ghan_play(row: list[str]) -> tuple[str, Play] | SetAside:
        if len(row) != width:
            raise FileFault(f"{len(row)} columns under a header of {width}")
        seconds = row[uts]
        if not seconds:
            return NOW_PLAYING
        try:
            ended_at = datetime.fromtimestamp(int(seconds), UTC)
        except (ValueError, OverflowError, OSError):
            raise FileFault(f"uts {seconds[:40]!r} is not a time in Unix seconds") from None
        return _scrobble(ended_at, row[artist], row[album], row[track])

    return ghan_play


def _scrobble(ended_at: datetime, artist: str, album: str, track: str) -> tuple[str, Play]:
    return listened_play("lastfm", ended_at, artist, track, album, skipped=False)
