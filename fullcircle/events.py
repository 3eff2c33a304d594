"""Every event on the bus: its stream name, its versioned pydantic model, and who consumes it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

IMPORTS_REQUESTED = "imports.requested.v1"
IMPORTS_PROGRESS = "imports.progress.v1"
PLAYS_INGESTED = "plays.ingested.v1"
ARTISTS_ENRICHED = "artists.enriched.v1"
PROFILES_UPDATED = "profiles.updated.v1"
RECOMMENDATIONS_UPDATED = "recommendations.updated.v1"
FEEDBACK_SUBMITTED = "feedback.submitted.v1"
SYNC_REQUESTED = "sync.requested.v1"

# stream -> the consumer groups (one per consuming service) that read it. Streams read
# without a group (by every gateway replica) are in UNGROUPED_READERS too.
CONSUMER_GROUPS: dict[str, tuple[str, ...]] = {
    IMPORTS_REQUESTED: ("ingest",),
    IMPORTS_PROGRESS: (),
    PLAYS_INGESTED: ("enrich", "features"),
    ARTISTS_ENRICHED: ("features",),
    PROFILES_UPDATED: ("model", "enrich"),
    RECOMMENDATIONS_UPDATED: ("enrich",),  # enrich: top tracks of the set's artists
    FEEDBACK_SUBMITTED: ("model",),
    SYNC_REQUESTED: ("ingest",),
}
# stream -> the service whose every replica reads it without a group (fan-out to clients).
UNGROUPED_READERS: dict[str, str] = {
    IMPORTS_PROGRESS: "gateway",
    RECOMMENDATIONS_UPDATED: "gateway",
}


def dead_letter_stream(stream: str) -> str:
    """Where messages of `stream` go after too many failed deliveries."""
    return f"{stream}.dlq"


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event: a unique id and when it happened."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    stream: ClassVar[str]

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime = Field(default_factory=_now)


class ImportRequested(Event):
    """A listener uploaded an export; its bytes wait in the gateway's upload store (claim check)."""

    stream: ClassVar[str] = IMPORTS_REQUESTED
    user_id: UUID
    import_id: UUID
    upload_id: UUID
    file_name: str
    size_bytes: int


ImportStage = Literal["queued", "parsing", "storing", "done", "failed"]


class ImportProgress(Event):
    """How far one import has got; the last one of an import has stage done or failed."""

    stream: ClassVar[str] = IMPORTS_PROGRESS
    user_id: UUID
    import_id: UUID
    stage: ImportStage
    plays_read: int = 0
    plays_stored: int = 0
    plays_new: int = 0
    duplicates: int = 0
    set_aside: int = 0
    rejected: int = 0
    message: str = ""
    files: list[dict[str, Any]] = Field(default_factory=list, description="per-file report")

    @property
    def finished(self) -> bool:
        return self.stage in ("done", "failed")


class PlaysIngested(Event):
    """New plays of one listener were stored; one event per batch, never one per play."""

    stream: ClassVar[str] = PLAYS_INGESTED
    user_id: UUID
    import_id: UUID | None = None
    source: str
    new_plays: int
    first_played_at: datetime | None = None
    last_played_at: datetime | None = None
    artists: list[str] = Field(default_factory=list, description="distinct artists in the batch")
    top_tracks: list[tuple[str, str]] = Field(
        default_factory=list, description="(artist, track) most listened to, at most 100"
    )
    batch: int = 1
    batches: int = 1


class ArtistsEnriched(Event):
    """Last.fm knowledge (tags, similar artists, top tracks) was stored for some artists."""

    stream: ClassVar[str] = ARTISTS_ENRICHED
    user_id: UUID | None = None
    artists: int
    tagged: int
    not_found: int
    api_calls: int


class ProfilesUpdated(Event):
    """A listener's taste profile was recomputed; says what changed so the model can skip no-ops."""

    stream: ClassVar[str] = PROFILES_UPDATED
    user_id: UUID
    profile_version: int
    listens: int
    artists: int
    changed: list[str] = Field(default_factory=list)
    top_artists: list[str] = Field(default_factory=list, description="at most 100, by weight")
    top_tags: list[str] = Field(default_factory=list, description="at most 20, by weight")


class RecommendationsUpdated(Event):
    """A new recommendation set of one listener was stored (by model), or top tracks were
    attached to the artists of a stored one (by enrich, `tracks_attached`): either way the
    answer for that set changed, so caches drop it and subscribers get it again."""

    stream: ClassVar[str] = RECOMMENDATIONS_UPDATED
    user_id: UUID
    set_id: UUID
    model_version: str
    items: int
    tracks_attached: bool = False


class FeedbackSubmitted(Event):
    """A listener liked, disliked or blocked an artist."""

    stream: ClassVar[str] = FEEDBACK_SUBMITTED
    user_id: UUID
    artist: str
    kind: Literal["like", "dislike", "do_not_recommend"]
    expires_at: datetime | None = None


class SyncRequested(Event):
    """A listener asked for their recent Spotify plays now, not at the next scheduled sync."""

    stream: ClassVar[str] = SYNC_REQUESTED
    user_id: UUID


ALL_EVENTS: tuple[type[Event], ...] = (
    ImportRequested,
    ImportProgress,
    PlaysIngested,
    ArtistsEnriched,
    ProfilesUpdated,
    RecommendationsUpdated,
    FeedbackSubmitted,
    SyncRequested,
)
