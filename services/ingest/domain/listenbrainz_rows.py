"""ListenBrainz listens (the export zip's `listens/<year>/<month>.jsonl`, the older export's
JSON list, an API dump `{"listens": [...]}` or `{"payload": {"listens": [...]}}`) as plays.

A listen is `listened_at` (Unix seconds, when the track began) and `track_metadata` with
`artist_name`, `track_name` and maybe `release_name`. Its length is
`additional_info.duration_ms` (or `duration`, in seconds) when the player sent one, else
`FULL_LISTEN_MS`: ListenBrainz takes a listen only after half a track or 4 minutes, so it is
a full listen either way (skipped False). A listen that breaks this schema is a `FileFault`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.ingest.domain.history_rows import MAX_MS_PLAYED, FileFault, listened_play
from services.ingest.domain.plays import FULL_LISTEN_MS, Play


def is_listen(row: Any) -> bool:
    """Whether a decoded JSON value looks like a ListenBrainz listen."""
    return isinstance(row, dict) and "listened_at" in row and "track_metadata" in row


def dumped_listens(value: Any) -> list[Any] | None:
    """The listens of an API dump (`{"listens": [...]}`, maybe under `payload`), or None."""
    if isinstance(value, dict) and isinstance(value.get("payload"), dict):
        value = value["payload"]
    if isinstance(value, dict) and isinstance(value.get("listens"), list):
        return list(value["listens"])
    return None


def listen_play(row: Any) -> tuple[str, Play]:
    """A listen as a keyed play; FileFault when it breaks ListenBrainz's schema."""
    if not isinstance(row, dict):
        raise FileFault("a listen that is not a JSON object")
    listened_at = row.get("listened_at")
    if not isinstance(listened_at, int | float) or isinstance(listened_at, bool):
        raise FileFault("listened_at is missing or not a time in Unix seconds")
    meta = row.get("track_metadata")
    if not isinstance(meta, dict):
        raise FileFault("track_metadata is missing or not an object")
    artist, track = meta.get("artist_name"), meta.get("track_name")
    if not isinstance(artist, str) or not isinstance(track, str):
        raise FileFault("track_metadata lacks artist_name or track_name as text")
    release = meta.get("release_name")
    info = meta.get("additional_info")
    try:
        ended_at = datetime.fromtimestamp(int(listened_at), UTC)
    except (ValueError, OverflowError, OSError):
        raise FileFault(f"listened_at {listened_at!r} is not a time in Unix seconds") from None
    return listened_play(
        "listenbrainz",
        ended_at,
        artist,
        track,
        release if isinstance(release, str) else None,
        ms_played=_duration_ms(info if isinstance(info, dict) else {}),
        skipped=False,
    )


def _duration_ms(info: dict[str, Any]) -> int:
    """The track's length the player sent (`duration_ms`, or `duration` in seconds), or a
    full listen when it sent none that is a plausible length."""
    for key, scale in (("duration_ms", 1), ("duration", 1000)):
        value = info.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if 0 < value * scale <= MAX_MS_PLAYED:
            return int(value * scale)
    return FULL_LISTEN_MS
