"""How an import is announced on the bus: a handful of batch events, never one per play."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fullcircle.events import PlaysIngested
from services.ingest.domain.exports import ParsedExport
from services.ingest.domain.plays import Play


@dataclass(frozen=True)
class ArtistDelta:
    """New plays of one artist in one import."""

    artist: str
    new_plays: int
    first_played_at: datetime
    last_played_at: datetime


def plays_ingested_batches(
    user_id: UUID,
    import_id: UUID | None,
    source: str,
    deltas: Sequence[ArtistDelta],
    artists_per_event: int,
) -> list[PlaysIngested]:
    """One `plays.ingested` per `artists_per_event` artists with new plays (none if nothing new).

    `deltas` come most-played first, so the first batch carries the listener's heaviest
    artists and enrich tags those first."""
    chunks = [
        deltas[start : start + artists_per_event]
        for start in range(0, len(deltas), artists_per_event)
    ]
    return [
        PlaysIngested(
            user_id=user_id,
            import_id=import_id,
            source=source,
            new_plays=sum(delta.new_plays for delta in chunk),
            first_played_at=min(delta.first_played_at for delta in chunk),
            last_played_at=max(delta.last_played_at for delta in chunk),
            artists=[delta.artist for delta in chunk if delta.artist],
            batch=number,
            batches=len(chunks),
        )
        for number, chunk in enumerate(chunks, start=1)
    ]


def artist_deltas(plays: Sequence[Play]) -> list[ArtistDelta]:
    """New plays per artist (no artist: ""), most-played first, as the SQL path reports them."""
    tally = ArtistTally()
    tally.add(plays)
    return tally.deltas()


class ArtistTally:
    """`artist_deltas` of plays that come in batches (an import stored as it is parsed)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.first: dict[str, datetime] = {}
        self.last: dict[str, datetime] = {}

    def add(self, plays: Sequence[Play]) -> None:
        counts, first, last = self.counts, self.first, self.last
        for play in plays:
            artist = play.artist_name or ""
            counts[artist] += 1
            if artist not in first or play.ended_at < first[artist]:
                first[artist] = play.ended_at
            if artist not in last or play.ended_at > last[artist]:
                last[artist] = play.ended_at

    def deltas(self) -> list[ArtistDelta]:
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return [
            ArtistDelta(artist, count, self.first[artist], self.last[artist])
            for artist, count in ranked
        ]


def rejected_summary(reasons: Mapping[str, int]) -> str:
    """The rejected rows by reason, the most frequent first: "12 rows rejected: 10 dated
    before Spotify existed, 2 dated in the future" ("0 rows rejected" when there is none)."""
    total = sum(reasons.values())
    counted = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    because = ", ".join(f"{count:,} {reason}" for reason, count in counted)
    return f"{total:,} {'row' if total == 1 else 'rows'} rejected" + (
        f": {because}" if because else ""
    )


def done_summary(
    plays_read: int, plays_new: int, set_aside: int, rejected_reasons: Mapping[str, int]
) -> str:
    """The one-line summary a finished import ends with."""
    return (
        f"{plays_read} plays read, {plays_new} new, {plays_read - plays_new} already stored, "
        f"{set_aside} rows set aside (podcasts, audiobooks, videos that are not music), "
        f"{rejected_summary(rejected_reasons)}"
    )


def import_report(export: ParsedExport) -> dict[str, Any]:
    """The per-file report kept with the import and shown to the listener."""
    return {
        "format": export.format,
        "rows_read": export.rows_read,
        "music_plays": export.music_plays,
        "duplicates_merged": export.duplicates_merged,
        "set_aside": export.podcasts + export.audiobooks + sum(export.set_aside.values()),
        "set_aside_reasons": export.set_aside,
        "podcasts": export.podcasts,
        "audiobooks": export.audiobooks,
        "rejected": sum(export.rejected.values()),
        "rejected_reasons": export.rejected,
        "files": [
            {
                "name": report.name,
                "kind": report.kind,
                "rows_read": report.rows_read,
                "music_plays": report.music_plays,
                "duplicates_merged": report.duplicates_merged,
                "podcasts": report.podcasts,
                "audiobooks": report.audiobooks,
                "rejected": report.rejected,
                "set_aside": report.set_aside,
            }
            for report in export.files
        ],
        "ignored_files": export.ignored_files,
    }
