"""One listening event, as every source (a Spotify export or Web API sync, a Last.fm or
ListenBrainz export, YouTube's watch history, Apple Music's privacy files) is reduced to it.

`play_key` is the natural key `ingest.plays` is unique on, so a re-import stores nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Literal

import msgspec

PlaySource = Literal[
    "extended", "account", "api", "lastfm", "listenbrainz", "youtube", "apple_music"
]

# How long a play of a source that records that a track was played but not for how long
# (a Last.fm scrobble, a YouTube watch, an Apple Music play-history row, a ListenBrainz listen
# without a duration) is taken to have lasted: three minutes, a full listen. Last.fm and
# ListenBrainz count a track as played only once half of it (or 4 minutes) has played, so such
# a play is a listen in every taste measure (features' 30 s listen threshold) and, with
# `skipped` False or unknown, never a skip.
FULL_LISTEN_MS = 180_000

_NO_OFFSET = timedelta(0)


class Play(msgspec.Struct, frozen=True, dict=True):
    """A track that played for `ms_played` milliseconds and stopped at `ended_at` (UTC).

    Spotify and Apple Music's Play Activity give the end of a play. Last.fm, ListenBrainz and
    YouTube give only the moment the source recorded it (when the track started or was
    scrobbled): `ended_at` holds that moment, a track's length early at most, which no daily
    or hourly taste measure notices.

    A msgspec Struct rather than a frozen dataclass: building 140,000 of them is four times
    faster (a frozen dataclass sets each field through object.__setattr__), and it is the
    larger part of parsing an export. `dict=True` lets `play_key` be computed once and kept.
    """

    ended_at: datetime
    ms_played: int
    track_name: str | None
    artist_name: str | None
    album_name: str | None
    track_uri: str | None
    skipped: bool | None
    reason_start: str | None
    reason_end: str | None
    shuffle: bool | None
    offline: bool | None
    incognito: bool | None
    platform: str | None
    country: str | None
    source: PlaySource

    def __post_init__(self) -> None:
        # A naive or non-UTC time would make the same play produce two keys.
        if self.ended_at.tzinfo is not UTC and self.ended_at.utcoffset() != _NO_OFFSET:
            raise ValueError(f"ended_at must be a UTC datetime, got {self.ended_at!r}")

    @cached_property
    def play_key(self) -> str:
        """`{ended_at, seconds}Z|{track_uri}`, or `acct|{ended_at, minute}Z|{artist}|{track}`
        (Spotify's account data), or `{source}|{ended_at, milliseconds}Z|{artist}|{track}|{album}`
        for the other sources (a row repeated exactly in their files is one play)."""
        if self.track_uri is not None:
            return f"{self.ended_at.isoformat()[:19]}Z|{self.track_uri}"
        if self.source == "account":
            minute = self.ended_at.isoformat()[:16]
            return f"acct|{minute}Z|{self.artist_name or ''}|{self.track_name or ''}"
        moment = self.ended_at.isoformat(timespec="milliseconds")[:23]
        return (
            f"{self.source}|{moment}Z|{self.artist_name or ''}"
            f"|{self.track_name or ''}|{self.album_name or ''}"
        )

    def copy_row(self) -> tuple[object, ...]:
        """The values in `COPY_COLUMNS` order, for the SQL adapter's COPY."""
        return (
            self.play_key,
            self.ended_at,
            self.ms_played,
            self.track_name,
            self.artist_name,
            self.album_name,
            self.track_uri,
            self.skipped,
            self.reason_start,
            self.reason_end,
            self.shuffle,
            self.offline,
            self.incognito,
            self.platform,
            self.country,
            self.source,
        )


COPY_COLUMNS: tuple[str, ...] = (
    "play_key",
    "ended_at",
    "ms_played",
    "track_name",
    "artist_name",
    "album_name",
    "track_uri",
    "skipped",
    "reason_start",
    "reason_end",
    "shuffle",
    "offline",
    "incognito",
    "platform",
    "country",
    "source",
)

# PostgreSQL types of COPY_COLUMNS, for a binary COPY (no text parsing on the server).
COPY_TYPES: tuple[str, ...] = (
    "text",
    "timestamptz",
    "int4",
    "text",
    "text",
    "text",
    "text",
    "bool",
    "text",
    "text",
    "bool",
    "bool",
    "bool",
    "text",
    "text",
    "text",
)


def known_key(play: Play, key: str) -> Play:
    """`play` with `play_key` already known: a parser that reads the key's text straight off a
    canonical raw timestamp saves formatting 140,000 datetimes. `key` must equal what
    `play_key` computes (the exports tests check that it does for every parsed play)."""
    play.__dict__["play_key"] = key
    return play


# PostgreSQL text holds neither NUL nor an unpaired surrogate (JSON can spell both as escapes):
# such a row is rejected and counted, never stored altered.
UNSTORABLE_TEXT = "a name holds a NUL character or a broken Unicode escape, which cannot be stored"
_TEXT_FIELDS = (
    "track_name",
    "artist_name",
    "album_name",
    "track_uri",
    "reason_start",
    "reason_end",
    "platform",
    "country",
)


def storable(play: Play) -> bool:
    """Whether PostgreSQL text can hold every name of the play."""
    for field in _TEXT_FIELDS:
        value = getattr(play, field)
        if value is not None and (
            "\x00" in value or (not value.isascii() and _has_surrogate(value))
        ):
            return False
    return True


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
