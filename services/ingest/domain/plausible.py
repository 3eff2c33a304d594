"""When a play can have happened: not before the service it came from existed, and not more
than a day after the import (or sync) that brought it was requested.

A stamp outside that window is damage, not listening (a `9999-12-31T23:59:59Z` placeholder, an
epoch-0 default, a device clock years off). Stored, it would skew every decayed weight of the
listener and no later import could take it back, so it is rejected and counted by reason, like
a row with a wrong type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.ingest.domain.plays import PlaySource

# The day each source's service began, the floor of its plays. Spotify (the extended export,
# the account-data export, the Web API): Spotify AB was founded on 2006-04-23, its closed beta
# streamed from 2007 and it opened on 2008-10-07, so the founding day is the floor that no
# genuine stream predates. Last.fm grew out of Audioscrobbler, which began scrobbling in 2002.
# ListenBrainz holds listens imported from Last.fm too; it refuses any listened_at before
# 2002-10-01 itself (its LISTEN_MINIMUM_TS). YouTube went online on 2005-02-14 and Apple
# Music on 2015-06-30.
SERVICE_OF_SOURCE: Mapping[PlaySource, str] = {
    "extended": "Spotify",
    "account": "Spotify",
    "api": "Spotify",
    "lastfm": "Last.fm",
    "listenbrainz": "ListenBrainz",
    "youtube": "YouTube",
    "apple_music": "Apple Music",
}
SERVICE_BEGAN: Mapping[str, datetime] = {
    "Spotify": datetime(2006, 4, 23, tzinfo=UTC),
    "Last.fm": datetime(2002, 1, 1, tzinfo=UTC),
    "ListenBrainz": datetime(2002, 10, 1, tzinfo=UTC),
    "YouTube": datetime(2005, 2, 14, tzinfo=UTC),
    "Apple Music": datetime(2015, 6, 30, tzinfo=UTC),
}

# How far past the request a play may be dated: device clocks drift and a time zone mistaken
# for UTC shifts a stamp by up to 14 hours, but nothing real ends a day after it was exported.
FUTURE_TOLERANCE = timedelta(days=1)

DATED_IN_THE_FUTURE = "dated in the future"


def dated_before(service: str) -> str:
    """The rejection reason of a play older than `service`."""
    return f"dated before {service} existed"


@dataclass(frozen=True, slots=True)
class PlayWindow:
    """The plausible `ended_at` of the plays of one source brought by one request."""

    service: str
    earliest: datetime
    latest: datetime

    def rejection(self, ended_at: datetime) -> str | None:
        """Why a play ending at `ended_at` cannot be real, or None when it can."""
        if ended_at < self.earliest:
            return dated_before(self.service)
        if ended_at > self.latest:
            return DATED_IN_THE_FUTURE
        return None


def play_window(source: PlaySource, requested_at: datetime) -> PlayWindow:
    """The window of plays from `source` in an import or sync requested at `requested_at`
    (an aware time: the request's, so a redelivered request judges its rows the same way)."""
    if requested_at.utcoffset() is None:
        raise ValueError(f"requested_at must be timezone-aware, got {requested_at!r}")
    service = SERVICE_OF_SOURCE[source]
    return PlayWindow(service, SERVICE_BEGAN[service], requested_at + FUTURE_TOLERANCE)
