"""Every event on the bus: its stream name, its versioned pydantic model, and the topology
(who produces each stream, who consumes it, what each handler may publish)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

IMPORTS_REQUESTED = "imports.requested.v1"
IMPORTS_PROGRESS = "imports.progress.v1"
PLAYS_INGESTED = "plays.ingested.v1"
ARTISTS_ENRICHED = "artists.enriched.v1"
CANDIDATES_ENRICHED = "candidates.enriched.v1"
PROFILES_UPDATED = "profiles.updated.v1"
RECOMMENDATIONS_UPDATED = "recommendations.updated.v1"
TRACKS_ENRICHED = "tracks.enriched.v1"
FEEDBACK_SUBMITTED = "feedback.submitted.v1"
SYNC_REQUESTED = "sync.requested.v1"
PLAYS_DELETION_REQUESTED = "plays.deletion.requested.v1"
PLAYS_DELETED = "plays.deleted.v1"
ACCOUNT_DELETION_REQUESTED = "account.deletion.requested.v1"
# one stream per service that owns rows of a listener (each stream has one producer)
INGEST_ACCOUNT_ERASED = "ingest.account.erased.v1"
FEATURES_ACCOUNT_ERASED = "features.account.erased.v1"
MODEL_ACCOUNT_ERASED = "model.account.erased.v1"


@dataclass(frozen=True)
class Topology:
    """Who produces each stream, what each consuming handler may publish, who reads a stream
    without a group. The bus enforces it and the AsyncAPI document states it, so the causality
    graph (stream consumed -> streams its handler publishes) is checked to be acyclic."""

    producers: Mapping[str, str]  # stream -> the one service that produces it
    handlers: Mapping[tuple[str, str], tuple[str, ...]]  # (service, stream) -> it may publish
    ungrouped: Mapping[str, str]  # stream -> the service every replica of which reads it

    def consumer_groups(self) -> dict[str, tuple[str, ...]]:
        """stream -> the consumer groups (one per consuming service) that read it."""
        return {
            stream: tuple(service for service, consumed in self.handlers if consumed == stream)
            for stream in self.producers
        }

    def publishes(self, service: str, stream: str) -> tuple[str, ...]:
        """The streams `service`'s handler of `stream` may publish."""
        return self.handlers.get((service, stream), ())


TOPOLOGY = Topology(
    producers={
        IMPORTS_REQUESTED: "gateway",
        IMPORTS_PROGRESS: "ingest",
        PLAYS_INGESTED: "ingest",
        ARTISTS_ENRICHED: "enrich",
        CANDIDATES_ENRICHED: "enrich",
        PROFILES_UPDATED: "features",
        RECOMMENDATIONS_UPDATED: "model",
        TRACKS_ENRICHED: "enrich",
        FEEDBACK_SUBMITTED: "gateway",
        SYNC_REQUESTED: "gateway",
        PLAYS_DELETION_REQUESTED: "gateway",
        PLAYS_DELETED: "ingest",
        ACCOUNT_DELETION_REQUESTED: "gateway",
        INGEST_ACCOUNT_ERASED: "ingest",
        FEATURES_ACCOUNT_ERASED: "features",
        MODEL_ACCOUNT_ERASED: "model",
    },
    handlers={
        ("ingest", IMPORTS_REQUESTED): (IMPORTS_PROGRESS, PLAYS_INGESTED),
        ("ingest", SYNC_REQUESTED): (PLAYS_INGESTED,),
        # how each import ended: the gateway deletes the upload's bytes it no longer needs
        ("gateway", IMPORTS_PROGRESS): (),
        # the listener's own artists: the only enrichment that changes their profile
        ("enrich", PLAYS_INGESTED): (ARTISTS_ENRICHED,),
        ("features", PLAYS_INGESTED): (PROFILES_UPDATED,),
        ("features", ARTISTS_ENRICHED): (PROFILES_UPDATED,),
        # candidate expansion: knowledge the model scores with, not the listener's profile
        ("enrich", PROFILES_UPDATED): (CANDIDATES_ENRICHED,),
        ("model", PROFILES_UPDATED): (RECOMMENDATIONS_UPDATED,),
        ("model", CANDIDATES_ENRICHED): (RECOMMENDATIONS_UPDATED,),
        ("model", FEEDBACK_SUBMITTED): (RECOMMENDATIONS_UPDATED,),
        # top tracks of the set's top artists, named in the event: no call back to the model
        ("enrich", RECOMMENDATIONS_UPDATED): (TRACKS_ENRICHED,),
        # fewer plays are a profile change like more plays: recompute, then a new set
        ("ingest", PLAYS_DELETION_REQUESTED): (PLAYS_DELETED,),
        ("features", PLAYS_DELETED): (PROFILES_UPDATED,),
        # every owner of a listener's rows erases its own and says what it removed
        ("ingest", ACCOUNT_DELETION_REQUESTED): (INGEST_ACCOUNT_ERASED,),
        ("features", ACCOUNT_DELETION_REQUESTED): (FEATURES_ACCOUNT_ERASED,),
        ("model", ACCOUNT_DELETION_REQUESTED): (MODEL_ACCOUNT_ERASED,),
    },
    # fan-out to the gateway's clients: sinks of the graph, they publish nothing
    ungrouped={
        IMPORTS_PROGRESS: "gateway",
        RECOMMENDATIONS_UPDATED: "gateway",
        TRACKS_ENRICHED: "gateway",
        # the answer of a DeletePlays / DeleteAccount call, on whichever replica it is
        PLAYS_DELETED: "gateway",
        INGEST_ACCOUNT_ERASED: "gateway",
        FEATURES_ACCOUNT_ERASED: "gateway",
        MODEL_ACCOUNT_ERASED: "gateway",
    },
)
CONSUMER_GROUPS: dict[str, tuple[str, ...]] = TOPOLOGY.consumer_groups()
UNGROUPED_READERS: Mapping[str, str] = TOPOLOGY.ungrouped


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
    upload_kept: bool = Field(
        default=False, description="failed on our side: the gateway keeps the upload for a retry"
    )

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
    batch: int = 1
    batches: int = 1


class ArtistsEnriched(Event):
    """Last.fm knowledge (tags, similar artists) was stored for some of a listener's own artists,
    the ones in their plays: their profile changes with it."""

    stream: ClassVar[str] = ARTISTS_ENRICHED
    user_id: UUID | None = None
    artists: int
    tagged: int
    not_found: int
    api_calls: int


class CandidatesEnriched(Event):
    """Last.fm tags were stored for candidates of a listener (similar artists of their top
    artists, top artists of their top tags): the set may change, their profile does not."""

    stream: ClassVar[str] = CANDIDATES_ENRICHED
    user_id: UUID
    profile_version: int
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
    top_tracks: list[tuple[str, str]] = Field(
        default_factory=list, description="(artist, track) most listened to, at most 100"
    )


class RecommendationsUpdated(Event):
    """A new recommendation set of one listener was stored. Names the set's artists, best
    first (so enrich fetches their top tracks without asking the model) and the feedback
    events the set reflects (so the gateway answers a feedback call once its effect is
    visible)."""

    stream: ClassVar[str] = RECOMMENDATIONS_UPDATED
    user_id: UUID
    set_id: UUID
    model_version: str
    items: int
    top_artists: list[str] = Field(
        default_factory=list, description="the set's artists, best first (at most 100)"
    )
    feedback_ids: list[UUID] = Field(
        default_factory=list, description="feedback.submitted event ids the set reflects"
    )


class TracksEnriched(Event):
    """Top tracks were fetched for the top artists of a stored set: the set is the same, the
    answer for it (its tracks to play) is not, so caches drop it."""

    stream: ClassVar[str] = TRACKS_ENRICHED
    user_id: UUID
    set_id: UUID
    artists: int
    with_tracks: int
    not_found: int


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


class PlaysDeletionRequested(Event):
    """A listener asked to delete some of their plays: exactly one of one import's, those that
    ended in [played_from, played_to), one artist's (case-insensitive), or all of them."""

    stream: ClassVar[str] = PLAYS_DELETION_REQUESTED
    user_id: UUID
    import_id: UUID | None = None
    played_from: datetime | None = None
    played_to: datetime | None = None
    artist: str | None = None
    everything: bool = False


class PlaysDeleted(Event):
    """Ingest's answer to one deletion request: rows removed per kind (plays, imports), or why
    nothing was (`refused`: not_found, running; `message` says what to do)."""

    stream: ClassVar[str] = PLAYS_DELETED
    user_id: UUID
    request_id: UUID
    removed: dict[str, int] = Field(default_factory=dict)
    refused: Literal["", "not_found", "running"] = ""
    message: str = ""


class AccountDeletionRequested(Event):
    """A listener asked for their account to go: every service owning rows of theirs erases
    them and answers with its own `*.account.erased` event."""

    stream: ClassVar[str] = ACCOUNT_DELETION_REQUESTED
    user_id: UUID


class AccountErased(Event):
    """What one service removed of a listener for one account deletion: rows per table."""

    service: ClassVar[str]
    user_id: UUID
    request_id: UUID
    removed: dict[str, int] = Field(default_factory=dict)


class IngestAccountErased(AccountErased):
    stream: ClassVar[str] = INGEST_ACCOUNT_ERASED
    service: ClassVar[str] = "ingest"


class FeaturesAccountErased(AccountErased):
    stream: ClassVar[str] = FEATURES_ACCOUNT_ERASED
    service: ClassVar[str] = "features"


class ModelAccountErased(AccountErased):
    stream: ClassVar[str] = MODEL_ACCOUNT_ERASED
    service: ClassVar[str] = "model"


ACCOUNT_ERASED_EVENTS: tuple[type[AccountErased], ...] = (
    IngestAccountErased,
    FeaturesAccountErased,
    ModelAccountErased,
)

ALL_EVENTS: tuple[type[Event], ...] = (
    ImportRequested,
    ImportProgress,
    PlaysIngested,
    ArtistsEnriched,
    CandidatesEnriched,
    ProfilesUpdated,
    RecommendationsUpdated,
    TracksEnriched,
    FeedbackSubmitted,
    SyncRequested,
    PlaysDeletionRequested,
    PlaysDeleted,
    AccountDeletionRequested,
    *ACCOUNT_ERASED_EVENTS,
)
