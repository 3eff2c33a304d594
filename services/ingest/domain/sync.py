"""Spotify Web API sync, the pure part: recently-played items to plays, cursors, gaps, schedule.

`played_at` marks when a play STARTED (see `play_from_recently_played`), so a play ends
`duration_ms` later; the API never says how long a track actually played.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from services.ingest.domain.plausible import play_window
from services.ingest.domain.plays import Play, PlaySource, storable

RECENTLY_PLAYED_LIMIT = 50
"""The most items one `GET /me/player/recently-played` answers (and all Spotify remembers)."""

DEFAULT_SYNC_CRON = "0 8,14,22 * * *"
"""08:00, 14:00 and 22:00 in the listener's own time zone."""

DEFAULT_MIN_SYNC_INTERVAL_S = 900.0
"""15 minutes: Spotify remembers the last 50 plays (about three hours of music), so a sync
every few minutes buys nothing but load on Spotify's API and ours."""

# How far ahead a schedule is read for its shortest gap: a week holds every weekday, and a
# day's gaps (minute and hour fields) repeat on every day the schedule runs.
_SCHEDULE_HORIZON = timedelta(days=8)

# `Play.source` is typed Literal["extended", "account"]; "api" has to join that Literal.
API_SOURCE: PlaySource = "api"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_END_OF_CALENDAR = datetime.max.replace(microsecond=0, tzinfo=UTC)


class RecentlyPlayedError(ValueError):
    """A recently-played item without the fields a play needs."""


class ScheduleError(ValueError):
    """A sync schedule (cron string or time zone) that cannot be used; says what would work."""


def parse_played_at(played_at: str) -> datetime:
    """`2023-09-22T15:43:33.750Z` (milliseconds optional) as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(played_at.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise RecentlyPlayedError(f"played_at {played_at!r} is not an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise RecentlyPlayedError(f"played_at {played_at!r} has no time zone")
    return moment.astimezone(UTC)


def unix_ms(moment: datetime) -> int:
    """Unix milliseconds of an aware datetime, exactly (no float rounding), as cursors use."""
    return (moment - _EPOCH) // _ONE_MS


def from_unix_ms(milliseconds: int) -> datetime:
    """The UTC datetime of a Unix-milliseconds cursor."""
    return _EPOCH + timedelta(milliseconds=milliseconds)


def play_from_recently_played(item: Mapping[str, Any]) -> Play:
    """One play history item (`{track, played_at, context}`) as a `Play` with source "api".

    Why `ended_at = played_at + duration_ms`: in the recorded responses (zmb3, 2017) the time
    between two consecutive `played_at` matches the EARLIER track's full length four times
    within 1.3 s (Alive 224.0 s -> 225.0 s, November Rain 537.5 s -> 536.7 s, ...), and four
    gaps are longer than the LATER track, impossible if `played_at` were its end. So
    `played_at` is when the play started, unlike the export's `ts` (the end). Spotify has also
    been seen stamping the end on some clients (spotify/web-api#613, #1083), so the same play
    from an export and from the API cannot be promised one `play_key` to the second.

    The API gives no time actually played, only the track's `duration_ms`: it stands in for
    `ms_played`, and it only lists plays over 30 s, so none of these is a short skip.
    """
    track = item.get("track")
    if not isinstance(track, Mapping):
        raise RecentlyPlayedError("recently-played item has no track")
    played_at = item.get("played_at")
    if not isinstance(played_at, str):
        raise RecentlyPlayedError("recently-played item has no played_at")
    duration_ms = track.get("duration_ms")
    if not isinstance(duration_ms, int) or duration_ms < 0:
        raise RecentlyPlayedError(f"track {track.get('uri')!r} has no duration_ms")
    started_at = parse_played_at(played_at)
    try:
        ended_at = (started_at + timedelta(milliseconds=duration_ms)).replace(microsecond=0)
    except OverflowError:
        # Started at the calendar's end (a 9999-12-31 placeholder): it cannot end later than
        # that, and `plausible_batch` rejects it as dated in the future.
        ended_at = _END_OF_CALENDAR
    artists = track.get("artists") or []
    album = track.get("album") or {}
    return Play(
        ended_at=ended_at,
        ms_played=duration_ms,
        track_name=track.get("name"),
        artist_name=artists[0].get("name") if artists else None,
        album_name=album.get("name"),
        track_uri=track.get("uri"),
        skipped=None,
        reason_start=None,
        reason_end=None,
        shuffle=None,
        offline=None,
        incognito=None,
        platform=None,
        country=None,
        source=API_SOURCE,
    )


def plays_from_recently_played(items: Iterable[Mapping[str, Any]]) -> list[Play]:
    """The plays of recently-played items, oldest first; items without a track are left out,
    and so are those whose names PostgreSQL text cannot hold (see `storable`)."""
    plays = [play_from_recently_played(item) for item in items if item.get("track") is not None]
    plays = [play for play in plays if storable(play)]
    return sorted(plays, key=lambda play: play.ended_at)


@dataclass(frozen=True, slots=True)
class SyncBatch:
    """What one sync brought: new plays (oldest first), the cursor to keep, a possible gap."""

    plays: tuple[Play, ...]
    cursor_ms: int | None
    """Newest `played_at` seen, in Unix ms: the `after` of the next sync (the old one if none)."""
    possible_gap: bool
    """More plays may have happened since the previous cursor than Spotify still remembers."""
    pages: int = 1
    rejected: dict[str, int] = field(default_factory=dict)
    """Plays left out, by reason (see `plausible_batch`)."""


def plausible_batch(batch: SyncBatch, synced_at: datetime) -> SyncBatch:
    """`batch` without the plays dated outside the plausible window of a sync at `synced_at`,
    counted by reason in `rejected`; the cursor is kept at most at `synced_at`, so a play
    stamped years ahead cannot push it past every real play still to come."""
    window = play_window(API_SOURCE, synced_at)
    rejected: Counter[str] = Counter()
    kept = []
    for play in batch.plays:
        reason = window.rejection(play.ended_at)
        if reason is None:
            kept.append(play)
        else:
            rejected[reason] += 1
    cursor_ms = batch.cursor_ms
    if cursor_ms is not None:
        cursor_ms = min(cursor_ms, unix_ms(synced_at))
    return replace(batch, plays=tuple(kept), cursor_ms=cursor_ms, rejected=dict(rejected))


def newest_cursor_ms(page: Mapping[str, Any]) -> int | None:
    """The `after` cursor that follows `page`: the newest `played_at`, or `cursors.after`.

    The larger of the two, because recorded cursors can trail the newest `played_at` by 1 ms
    (zmb3: 1495915674720 for 20:07:54.721Z), which would hand the newest play back again.
    """
    candidates = [unix_ms(parse_played_at(item["played_at"])) for item in page.get("items") or []]
    cursors = page.get("cursors") or {}
    if cursors.get("after") is not None:
        candidates.append(int(cursors["after"]))
    return max(candidates, default=None)


def has_possible_gap(
    pages: Sequence[Mapping[str, Any]],
    after_ms: int | None,
    page_limit: int = RECENTLY_PLAYED_LIMIT,
) -> bool:
    """True when a full page came back, all newer than `after_ms`, and nothing older followed.

    Spotify keeps only the last 50 qualifying plays: a single full page whose oldest play is
    newer than the previous cursor means more than 50 plays may have happened since, and the
    ones in between are gone. Pages that continue past the first show the API paged forward
    from the cursor itself, so nothing was skipped. No previous cursor means no gap to report.
    """
    if after_ms is None:
        return False
    filled = [page for page in pages if page.get("items")]
    if len(filled) != 1 or len(filled[0]["items"]) < page_limit:
        return False
    oldest_ms = min(unix_ms(parse_played_at(item["played_at"])) for item in filled[0]["items"])
    return oldest_ms > after_ms


def sync_batch_from_pages(
    pages: Sequence[Mapping[str, Any]],
    after_ms: int | None,
    page_limit: int = RECENTLY_PLAYED_LIMIT,
) -> SyncBatch:
    """The `SyncBatch` of the pages one sync fetched with `after=after_ms` (oldest page first)."""
    items = [
        item
        for page in pages
        for item in page.get("items") or []
        if after_ms is None or unix_ms(parse_played_at(item["played_at"])) > after_ms
    ]
    cursors = [cursor for page in pages if (cursor := newest_cursor_ms(page)) is not None]
    if after_ms is not None:
        cursors.append(after_ms)
    return SyncBatch(
        plays=tuple(plays_from_recently_played(items)),
        cursor_ms=max(cursors, default=None),
        possible_gap=has_possible_gap(pages, after_ms, page_limit),
        pages=len(pages),
    )


def listener_zone(tz: str) -> ZoneInfo:
    """The IANA time zone `tz` (e.g. "Europe/Berlin"), or a `ScheduleError` saying what is valid."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"unknown time zone {tz!r}: use an IANA name such as 'Europe/Berlin', "
            "'America/New_York' or 'UTC'"
        ) from None


def validate_cron(cron: str) -> str:
    """`cron` when it is a valid five-field cron expression, else a `ScheduleError`."""
    fields = cron.split()
    if len(fields) != 5 or not croniter.is_valid(cron):
        raise ScheduleError(
            f"invalid sync schedule {cron!r}: give five cron fields 'minute hour day month "
            f"weekday', e.g. {DEFAULT_SYNC_CRON!r} for 08:00, 14:00 and 22:00"
        )
    return cron


def next_sync_times(
    cron: str = DEFAULT_SYNC_CRON,
    tz: str = "UTC",
    after: datetime | None = None,
    count: int = 3,
) -> list[datetime]:
    """The next `count` sync times after `after`, read on the wall clock of `tz`, in UTC.

    Wall-clock times that a DST change skips move to the first valid instant after the gap;
    times that repeat in autumn fire once.
    """
    if count < 1:
        raise ScheduleError(f"count must be at least 1, got {count}")
    times = _sync_times(cron, tz, after if after is not None else datetime.now(UTC))
    return [next(times) for _ in range(count)]


def _sync_times(cron: str, tz: str, after: datetime) -> Iterator[datetime]:
    """Every sync time after `after`, in UTC (see `next_sync_times`)."""
    validate_cron(cron)
    zone = listener_zone(tz)
    if after.utcoffset() is None:
        raise ScheduleError(f"`after` must be timezone-aware, got {after!r}")
    schedule = croniter(cron, after.astimezone(zone))
    wall_clock_seen: set[datetime] = set()
    while True:
        local = schedule.get_next(datetime)
        wall_clock = local.replace(tzinfo=None, fold=0)
        if wall_clock in wall_clock_seen:
            continue
        wall_clock_seen.add(wall_clock)
        yield local.astimezone(UTC)


def check_sync_interval(cron: str, tz: str, minimum_s: float, after: datetime) -> None:
    """A `ScheduleError` naming the minimum when the schedule would sync twice within
    `minimum_s` seconds anywhere in the week after `after` (a cron every minute, say)."""
    times = _sync_times(cron, tz, after)
    previous = next(times)  # a bad cron or time zone is refused even with no minimum
    if minimum_s <= 0:
        return
    minimum = timedelta(seconds=minimum_s)
    while previous - after < _SCHEDULE_HORIZON:
        current = next(times)
        if current - previous < minimum:
            raise ScheduleError(
                f"sync schedule {cron!r} syncs {_duration(current - previous)} apart; syncs "
                f"must be at least {_duration(minimum)} apart (SPOTIFY_MIN_SYNC_INTERVAL_S on "
                f"this server): use a sparser schedule, e.g. {DEFAULT_SYNC_CRON!r} for 08:00, "
                "14:00 and 22:00"
            )
        previous = current


def next_sync_at(cron: str, tz: str, now: datetime, minimum_s: float) -> datetime:
    """When an account syncs next after a sync at `now`: its next scheduled time at least
    `minimum_s` seconds away (a schedule stored before the minimum was raised is held to it)."""
    return next_sync_times(cron, tz, now + timedelta(seconds=minimum_s), 1)[0]


def _duration(span: timedelta) -> str:
    seconds = round(span.total_seconds())
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600} hour{'s' * (seconds != 3600)}"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60} minute{'s' * (seconds != 60)}"
    return f"{seconds} second{'s' * (seconds != 1)}"
