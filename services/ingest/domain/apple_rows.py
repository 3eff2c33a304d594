"""Apple Music's privacy-export CSVs, recognised by their header, as plays.

- `Apple Music Play Activity.csv`, the older layout (`Artist Name`, `Content Name`): a row per
  playback event, ended at `Event End Timestamp`, for `Play Duration Milliseconds`, skipped
  when `End Reason Type` is TRACK_SKIPPED_FORWARDS. Rows with no artist or name (aggregated
  non-catalogue play time, ads, clips, streams) are set aside; a negative duration is
  rejected. The newer layout (`Song Name` and no artist column) is not read yet: its artist
  would have to come from another file of the export.
- `Apple Music - Track Play History.csv`: `Track Name` as "Artist - Title" (split on the first
  " - "), `Last Played Date` in Unix milliseconds. Nearly every play is there twice (once per
  `Is User Initiated` value): one key, one play.
- `Apple Music - Recently Played Tracks.csv`: `Track Description` as "Artist - Title" and
  `Last Modified` (ISO time): a recent-items list, each row a play.
The two play-history files hold no duration: each play counts as a full listen
(`FULL_LISTEN_MS`, skipped unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.ingest.domain.history_rows import (
    MAX_MS_PLAYED,
    FileFault,
    HistoryKind,
    RowRejected,
    SetAside,
    listened_play,
)
from services.ingest.domain.plays import Play

EXPECTED_FILES = (
    "Apple Music Play Activity.csv (with Artist Name and Content Name), "
    "Apple Music - Track Play History.csv or Apple Music - Recently Played Tracks.csv"
)
_PLAY_ACTIVITY = (
    "Artist Name",
    "Content Name",
    "Event End Timestamp",
    "Play Duration Milliseconds",
    "End Reason Type",
)
_TRACK_PLAY_HISTORY = ("Track Name", "Last Played Date")
_RECENTLY_PLAYED = ("Track Description", "Last Modified")
_SKIPPED_FORWARDS = "TRACK_SKIPPED_FORWARDS"
NOT_A_SONG = SetAside("not a song (no artist or name: aggregated play time, ads, clips)")
NO_ARTIST = SetAside("a track name without 'Artist - Title'")

RowToPlay = Callable[[list[str]], tuple[str, Play] | SetAside]


def is_newer_play_activity(header: list[str]) -> bool:
    """Whether a header is the newer Play Activity layout (`Song Name`, no artist column)."""
    return "Song Name" in header and "Artist Name" not in header


def apple_reader(header: list[str]) -> tuple[HistoryKind, RowToPlay] | None:
    """The kind and row reader of an Apple Music CSV from its header, or None."""
    if all(name in header for name in _PLAY_ACTIVITY):
        return HistoryKind.APPLE_PLAY_ACTIVITY, _play_activity_reader(header)
    if all(name in header for name in _TRACK_PLAY_HISTORY):
        return HistoryKind.APPLE_TRACK_PLAY_HISTORY, _history_reader(
            header, _TRACK_PLAY_HISTORY, _from_unix_ms
        )
    if all(name in header for name in _RECENTLY_PLAYED):
        return HistoryKind.APPLE_RECENTLY_PLAYED, _history_reader(
            header, _RECENTLY_PLAYED, _from_iso
        )
    return None


def _play_activity_reader(header: list[str]) -> RowToPlay:
    artist, content, ended, duration, reason = (header.index(name) for name in _PLAY_ACTIVITY)
    width = len(header)

    def activity_play(row: list[str]) -> tuple[str, Play] | SetAside:
        _check_width(row, width)
        if not row[artist] or not row[content]:
            return NOT_A_SONG
        ms_played = _milliseconds(row[duration])
        end_reason = row[reason] or None
        return listened_play(
            "apple_music",
            _from_iso(row[ended]),
            row[artist],
            row[content],
            ms_played=ms_played,
            skipped=None if end_reason is None else end_reason == _SKIPPED_FORWARDS,
            reason_end=end_reason,
        )

    return activity_play


def _history_reader(
    header: list[str], columns: tuple[str, str], moment: Callable[[str], datetime]
) -> RowToPlay:
    name_at, time_at = (header.index(name) for name in columns)
    width = len(header)

    def history_play(row: list[str]) -> tuple[str, Play] | SetAside:
        _check_width(row, width)
        artist, dash, title = row[name_at].partition(" - ")
        if not dash or not artist or not title:
            return NO_ARTIST
        return listened_play("apple_music", moment(row[time_at]), artist, title)

    return history_play


def _check_width(row: list[str], width: int) -> None:
    if len(row) != width:
        raise FileFault(f"{len(row)} columns under a header of {width}")


def _milliseconds(text: str) -> int:
    try:
        value = int(float(text))
    except (ValueError, OverflowError):
        raise FileFault(f"Play Duration Milliseconds {text[:40]!r} is not a number") from None
    if value < 0:
        raise RowRejected("Play Duration Milliseconds is negative")
    if value > MAX_MS_PLAYED:
        raise RowRejected("Play Duration Milliseconds is more than 24 days of playing")
    return value


def _from_iso(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FileFault(f"the time {text[:40]!r} is not a date and time") from None
    # Apple writes UTC (Z); a zone-less stamp is taken as UTC too.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_unix_ms(text: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise FileFault(f"the time {text[:40]!r} is not Unix milliseconds") from None
