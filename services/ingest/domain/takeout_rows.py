"""Google Takeout's `watch-history.json` (YouTube and YouTube Music) entries as plays.

An entry is a music play when it is a watch ("Watched <title>") of a YouTube Music entry, or of
a plain YouTube entry from an auto-generated "<Artist> - Topic" channel: the artist is the
channel's name without " - Topic", the track the title without "Watched ". Everything else
(other videos, visits, community posts, games, removed videos whose title is only their URL,
music entries with no channel) is set aside and counted by why. The history holds one time per
entry (when the watch began) and no duration or skip: each play counts as a full listen
(`FULL_LISTEN_MS`, skipped unknown).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.ingest.domain.history_rows import FileFault, SetAside, listened_play
from services.ingest.domain.plays import Play

MUSIC_HEADER = "YouTube Music"
_YOUTUBE_HEADERS = frozenset({"YouTube", MUSIC_HEADER})
WATCH_HISTORY = "YouTube watch history"
_WATCHED = "Watched "
_TOPIC = " - Topic"

NOT_A_WATCH = SetAside("not a watch (visits, community posts, games)")
NOT_MUSIC = SetAside("YouTube videos not from a music (Topic) channel")
REMOVED = SetAside("removed videos (the title is only a link)")
NO_CHANNEL = SetAside("YouTube Music entries with no channel")


def is_activity(row: Any) -> bool:
    """Whether a decoded JSON value looks like an entry of any Google Takeout activity file."""
    return isinstance(row, dict) and "header" in row and "title" in row and "time" in row


def is_watch_entry(row: dict[str, Any]) -> bool:
    """Whether an activity entry is one of YouTube's watch history (not its search history,
    nor another Google product's activity)."""
    controls = row.get("activityControls")
    if isinstance(controls, list):
        return WATCH_HISTORY in controls
    title = row.get("title")
    return (
        row.get("header") in _YOUTUBE_HEADERS
        and isinstance(title, str)
        and (title.startswith(_WATCHED))
    )


def product_of(row: Any) -> str:
    """What an activity entry is from, for a message: its products, or its header."""
    if not isinstance(row, dict):
        return "another product"
    products = row.get("products")
    if isinstance(products, list) and all(isinstance(name, str) for name in products):
        controls = row.get("activityControls")
        named = controls if isinstance(controls, list) and controls else products
        return ", ".join(str(name) for name in named)
    return str(row.get("header"))


def watch_play(row: Any) -> tuple[str, Play] | SetAside:
    """A watch-history entry as a keyed play, or why it is set aside; FileFault when it is
    not an entry of the file's layout (no header, title or time as text, a time that does
    not parse)."""
    if not isinstance(row, dict):
        raise FileFault("an entry that is not a JSON object")
    header, title, time = row.get("header"), row.get("title"), row.get("time")
    if not isinstance(header, str) or not isinstance(title, str) or not isinstance(time, str):
        raise FileFault("an entry without header, title and time as text")
    try:
        watched_at = datetime.fromisoformat(time)
    except ValueError:
        raise FileFault(f"the time {time[:40]!r} is not a date and time") from None
    if watched_at.tzinfo is None:
        raise FileFault(f"the time {time[:40]!r} has no time zone (Takeout writes UTC, Z)")
    if not title.startswith(_WATCHED):
        return NOT_A_WATCH
    name = title[len(_WATCHED) :]
    if name.startswith(("https://", "http://")):
        return REMOVED
    channel = _channel(row.get("subtitles"))
    if header == MUSIC_HEADER:
        if channel is None:
            return NO_CHANNEL
    elif channel is None or not channel.endswith(_TOPIC):
        return NOT_MUSIC
    return listened_play("youtube", watched_at.astimezone(UTC), channel.removesuffix(_TOPIC), name)


def _channel(subtitles: object) -> str | None:
    if isinstance(subtitles, list) and subtitles and isinstance(subtitles[0], dict):
        name = subtitles[0].get("name")
        if isinstance(name, str) and name:
            return name
    return None
