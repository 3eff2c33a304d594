"""What the listener excludes from their taste: an artist, a track, a time window ("2020-03-01..
2020-06-30", "before 2019"), a platform (the living-room speaker), an hour band ("night",
"22-06"), or several of those together (all must match: the kids' songs on the living-room
speaker). Excluded plays are left out of everything learned from the listener, now and at every
training cutoff; they stay stored, and undoing the exclusion brings them back.

Dates and hours are the listener's own (their time zone); a window's dates are whole days,
both ends included: "2020-03-01..2020-06-30" is 1 March 00:00 to 1 July 00:00 local time. A
window end may be a month ("2020-06") or a year ("2019"): "before 2019" ends on 1 January 2019,
"after 2021-05" starts on 1 June 2021, "2020" alone is that year."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from services.features.domain.contexts import HOUR_BANDS
from services.features.domain.taste import PlayColumns

_DAY = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
_HOURS = re.compile(r"^(\d{1,2})\s*-\s*(\d{1,2})$")
_BANDS = {name: (start, end) for name, start, end in HOUR_BANDS}


class ExclusionError(ValueError):
    """A request the listener can fix: the message says what to pass."""


@dataclass(frozen=True, slots=True)
class Exclusion:
    """One rule; every condition given must match a play for it to be left out."""

    exclusion_id: UUID
    artist: str = ""
    track: str = ""
    played_from: datetime | None = None  # UTC, included
    played_until: datetime | None = None  # UTC, not included
    platform: str = ""
    hour_from: int | None = None  # local hours [from, to), wrapping past midnight
    hour_to: int | None = None
    window: str = ""  # as the listener wrote them, for the description
    hours: str = ""

    def describe(self) -> str:
        """In words: "plays of Baby Shark on living room", "plays before 2019 at night"."""
        parts = ["plays"]
        if self.track:
            parts.append(f"of “{self.track}”" + (f" by {self.artist}" if self.artist else ""))
        elif self.artist:
            parts.append(f"of {self.artist}")
        if self.window:
            starts_with_word = self.window.lower().startswith(("before", "after", "since"))
            parts.append(self.window if starts_with_word else f"in {self.window}")
        if self.platform:
            parts.append(f"on {self.platform}")
        if self.hours:
            parts.append(f"at {self.hours}" if "-" not in self.hours else f"at {self.hours} h")
        return " ".join(parts)


def build_exclusion(
    exclusion_id: UUID,
    *,
    artist: str = "",
    track: str = "",
    window: str = "",
    platform: str = "",
    hours: str = "",
    time_zone: str = "UTC",
) -> Exclusion:
    """The rule a request asks for, or ExclusionError saying what was wrong."""
    artist, track, window = artist.strip(), track.strip(), window.strip()
    platform, hours = platform.strip(), hours.strip().lower()
    if not any((artist, track, window, platform, hours)):
        raise ExclusionError(
            "say what to exclude: an artist, a track, a time window (2020-03-01..2020-06-30, "
            "before 2019), a platform or hours (night, 22-06)"
        )
    for name, value in (("artist", artist), ("track", track), ("platform", platform)):
        if len(value) > 500 or "\x00" in value:
            raise ExclusionError(f"{name} is a name of at most 500 characters without NUL")
    played_from, played_until = parse_window(window, time_zone) if window else (None, None)
    hour_from, hour_to = parse_hours(hours) if hours else (None, None)
    return Exclusion(
        exclusion_id,
        artist=artist,
        track=track,
        played_from=played_from,
        played_until=played_until,
        platform=platform,
        hour_from=hour_from,
        hour_to=hour_to,
        window=window,
        hours=hours,
    )


def parse_window(text: str, time_zone: str) -> tuple[datetime | None, datetime | None]:
    """[from, until) in UTC for "A..B", "before X", "after X"/"since X" or one day, month or
    year, read in `time_zone`."""
    cleaned = text.strip().lower()
    zone = ZoneInfo(time_zone)
    for word, is_start in (("before ", False), ("after ", True), ("since ", True)):
        if cleaned.startswith(word):
            start, end = _period(cleaned[len(word) :].strip(), text)
            moment = _local(end if word == "after " else start, zone)
            return (moment, None) if is_start else (None, moment)
    if ".." in cleaned:
        first, _, last = cleaned.partition("..")
        start, end = _period(first.strip(), text)[0], _period(last.strip(), text)[1]
    else:
        start, end = _period(cleaned, text)
    if end <= start:
        raise ExclusionError(
            f"the window {text[:64]!r} ends before it starts; give it as FIRST..LAST, "
            "e.g. 2020-03-01..2020-06-30"
        )
    return _local(start, zone), _local(end, zone)


def _period(part: str, text: str) -> tuple[date, date]:
    """The days [first, after last) a date, month or year names."""
    match = _DAY.match(part)
    if not match:
        raise ExclusionError(
            f"{text[:64]!r} is not a time window; give dates as YYYY-MM-DD (or a month, "
            "YYYY-MM, or a year): 2020-03-01..2020-06-30, before 2019, after 2021-05"
        )
    year, month, day = (int(g) if g else None for g in match.groups())
    assert year is not None
    try:
        if month is None:
            return date(year, 1, 1), date(year + 1, 1, 1)
        if day is None:
            first = date(year, month, 1)
            return first, (first + pd.offsets.MonthBegin(1)).date()
        first = date(year, month, day)
        return first, (pd.Timestamp(first) + pd.Timedelta(days=1)).date()
    except (ValueError, OverflowError):
        raise ExclusionError(f"{part!r} in {text[:64]!r} is not a date of the calendar") from None


def _local(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def parse_hours(text: str) -> tuple[int, int]:
    """A band (night, morning, afternoon, evening) or "FROM-TO" local hours, 0-24."""
    if text in _BANDS:
        return _BANDS[text]
    match = _HOURS.match(text)
    if match:
        start, end = int(match.group(1)), int(match.group(2))
        if 0 <= start <= 24 and 0 <= end <= 24 and start % 24 != end % 24:
            return start % 24, end if end == 24 else end % 24
    raise ExclusionError(
        f"hours {text[:32]!r}: give a band ({', '.join(_BANDS)}) or local hours FROM-TO, "
        "e.g. 22-06 (not empty: from and to differ)"
    )


def excluded_plays(
    plays: PlayColumns,
    platforms: Sequence[str | None],
    exclusions: Sequence[Exclusion],
    time_zone: str = "UTC",
) -> np.ndarray:
    """Per play, whether some exclusion leaves it out."""
    out = np.zeros(len(plays.artist), dtype=bool)
    if not exclusions or not len(plays.artist):
        return out
    artists = np.char.lower(np.asarray(plays.artist, dtype=str))
    tracks = (
        np.char.lower(np.asarray([t or "" for t in plays.track], dtype=str))
        if len(plays.track)
        else np.full(len(plays.artist), "")
    )
    on = np.char.lower(np.asarray([p or "" for p in platforms], dtype=str))
    hours = (
        pd.to_datetime(plays.ended_at_s, unit="s", utc=True).tz_convert(time_zone).hour.to_numpy()
    )
    for rule in exclusions:
        match = np.ones(len(plays.artist), dtype=bool)
        if rule.artist:
            match &= artists == rule.artist.lower()
        if rule.track:
            match &= tracks == rule.track.lower()
        if rule.played_from is not None:
            match &= plays.ended_at_s >= rule.played_from.timestamp()
        if rule.played_until is not None:
            match &= plays.ended_at_s < rule.played_until.timestamp()
        if rule.platform:
            match &= np.char.find(on, rule.platform.lower()) >= 0
        if rule.hour_from is not None and rule.hour_to is not None:
            if rule.hour_from < rule.hour_to:
                match &= (hours >= rule.hour_from) & (hours < rule.hour_to)
            else:
                match &= (hours >= rule.hour_from) | (hours < rule.hour_to)
        out |= match
    return out


def keep_plays(
    plays: PlayColumns, platforms: Sequence[str | None], keep: np.ndarray
) -> tuple[PlayColumns, list[str | None]]:
    """The plays (and their platforms) where `keep` is true."""
    if keep.all():
        return plays, list(platforms)
    picked = [int(i) for i in np.flatnonzero(keep)]
    return PlayColumns(
        artist=[plays.artist[i] for i in picked],
        ended_at_s=plays.ended_at_s[keep],
        ms_played=plays.ms_played[keep],
        skipped=plays.skipped[keep],
        track=[plays.track[i] for i in picked] if len(plays.track) else (),
        track_uri=[plays.track_uri[i] for i in picked] if len(plays.track_uri) else (),
    ), [platforms[i] for i in picked]
