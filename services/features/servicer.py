"""The internal Tastes gRPC API: the listener's taste profile for the gateway, the listener as
of a cutoff for the model's training (the same `listener_as_of` and `taste_rules` the profile is
built with), and what the listener changes of it (time zone, exclusions)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

import grpc
from psycopg_pool import AsyncConnectionPool

from fullcircle.errors import FailedPrecondition, InvalidArgument, NotFound
from fullcircle.grpc_server import rpc_errors
from fullcircle.v1 import common_pb2, features_pb2, features_pb2_grpc
from services.features.adapters import store
from services.features.adapters.store import StoredExclusion
from services.features.adapters.worker import ListenerWorkers
from services.features.domain.exclusions import Exclusion, ExclusionError, build_exclusion
from services.features.domain.listener import Listener, ListenRules
from services.features.domain.taste import ArtistStats
from services.features.domain.time_zones import ZoneChoice, valid_time_zone
from services.features.listener_plays import listener_zone, taste_rules

# A training view holds every artist of most histories; past this many (by decayed weight) the
# rest are artists barely listened to, and the reply stays well inside gRPC's 4 MiB.
MAX_VIEW_ARTISTS = 20_000


class ListenerSettings(Protocol):
    """What the listener may change of how their taste is learned (features' ProfileBuilder);
    each change recomputes their profile."""

    async def set_time_zone(self, user_id: UUID, time_zone: str | None) -> ZoneChoice: ...
    async def exclude(self, user_id: UUID, rule: Exclusion) -> StoredExclusion: ...
    async def unexclude(self, user_id: UUID, exclusion_id: UUID) -> StoredExclusion | None: ...
    async def exclusions(self, user_id: UUID) -> list[StoredExclusion]: ...


class TastesServicer(features_pb2_grpc.TastesServicer):
    def __init__(
        self,
        pool: AsyncConnectionPool,
        rules: ListenRules,
        workers: ListenerWorkers,
        settings: ListenerSettings | None = None,
    ) -> None:
        """Without `settings` the server only reads (a benchmark's, a test's)."""
        self.pool = pool
        self.rules = rules
        self.workers = workers
        self._settings = settings

    @property
    def settings(self) -> ListenerSettings:
        if self._settings is None:
            raise FailedPrecondition("this Tastes server only reads; change settings in features")
        return self._settings

    @rpc_errors
    async def ExcludeFromTaste(
        self, request: features_pb2.ListenerExclusionRule, context: grpc.aio.ServicerContext
    ) -> common_pb2.TasteExclusion:
        user_id = _uuid(request.user_id, "user_id")
        settings = self.settings
        given = request.rule
        try:
            zone = await listener_zone(self.pool, user_id)
            rule = build_exclusion(
                uuid4(),
                artist=given.artist,
                track=given.track,
                window=given.played_between,
                platform=given.platform,
                hours=given.hours,
                time_zone=zone.time_zone,
            )
            return exclusion_message(await settings.exclude(user_id, rule))
        except ExclusionError as exc:
            raise InvalidArgument(str(exc)) from None

    @rpc_errors
    async def ListExclusions(
        self, request: features_pb2.TasteProfileRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.TasteExclusions:
        user_id = _uuid(request.user_id, "user_id")
        stored = await self.settings.exclusions(user_id)
        return common_pb2.TasteExclusions(exclusions=[exclusion_message(s) for s in stored])

    @rpc_errors
    async def RemoveExclusion(
        self, request: features_pb2.ListenerExclusion, context: grpc.aio.ServicerContext
    ) -> common_pb2.TasteExclusion:
        user_id = _uuid(request.user_id, "user_id")
        exclusion_id = _uuid(request.exclusion_id, "exclusion_id")
        removed = await self.settings.unexclude(user_id, exclusion_id)
        if removed is None:
            raise NotFound(
                f"no exclusion {exclusion_id} of yours in force; `fullcircle exclude list` "
                "shows yours"
            )
        return exclusion_message(removed)

    @rpc_errors
    async def SetTimeZone(
        self, request: features_pb2.SetListenerTimeZoneRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.TimeZone:
        user_id = _uuid(request.user_id, "user_id")
        settings = self.settings
        time_zone = None
        if request.time_zone.strip():
            try:
                time_zone = valid_time_zone(request.time_zone)
            except ValueError as exc:
                raise InvalidArgument(str(exc)) from None
        return time_zone_message(await settings.set_time_zone(user_id, time_zone))

    @rpc_errors
    async def GetTrainingView(
        self, request: features_pb2.TrainingViewRequest, context: grpc.aio.ServicerContext
    ) -> features_pb2.TrainingView:
        user_id = _uuid(request.user_id, "user_id")
        cutoff = _cutoff(request.cutoff)
        listener = await training_listener(self.pool, self.workers, user_id, cutoff, self.rules)
        max_artists = min(request.max_artists or MAX_VIEW_ARTISTS, MAX_VIEW_ARTISTS)
        tags = list(listener.tags.items())
        return features_pb2.TrainingView(
            cutoff=cutoff.isoformat(),
            half_life_days=self.rules.half_life_days,
            recency=listener.recency.describe() if listener.recency else "",
            recency_fitted=bool(listener.recency and listener.recency.fitted),
            min_listen_ms=self.rules.min_listen_ms,
            artists=len(listener.stats),
            artist_stats=[_artist_stat(s) for s in listener.stats[:max_artists]],
            top_tags=[
                common_pb2.TagWeight(tag=tag, weight=weight)
                for tag, weight in tags[: request.max_tags or len(tags)]
            ],
        )

    @rpc_errors
    async def GetTasteProfile(
        self, request: features_pb2.TasteProfileRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.TasteProfile:
        user_id = _uuid(request.user_id, "user_id")
        summary = await store.load_profile_summary(self.pool, user_id)
        if summary is None:
            raise NotFound("no taste profile yet: import a listening history first")
        return common_pb2.TasteProfile(
            plays=summary.plays,
            listens=summary.listens,
            artists=summary.artists,
            top_artists=[
                common_pb2.ArtistWeight(artist=a, weight=w, listens=n)
                for a, w, n in summary.top_artists
            ],
            top_tags=[common_pb2.TagWeight(tag=t, weight=w) for t, w in summary.top_tags],
            computed_at=summary.computed_at.isoformat(),
            half_life_days=summary.half_life_days,
            recency=summary.recency,
            recency_fitted=summary.recency_fitted,
            clusters=[
                common_pb2.TasteCluster(
                    cluster_id=c["cluster_id"],
                    name=c["name"],
                    artists=c["artists"],
                    size=c["size"],
                    all_time_share=c["all_time_share"],
                    recent_share=c["recent_share"],
                    trend=c["trend"],
                    top_tags=[common_pb2.TagWeight(tag=t, weight=w) for t, w in c["top_tags"]],
                )
                for c in summary.details.get("clusters", [])
            ],
            contexts=[
                common_pb2.ContextProfile(
                    kind=c["kind"],
                    context=c["context"],
                    listens=c["listens"],
                    cluster_shares={int(k): v for k, v in c["cluster_shares"].items()},
                    top_artists=c["top_artists"],
                    **_context_mood(c.get("mood")),
                )
                for c in summary.details.get("contexts", [])
            ],
            time_zone=time_zone_message(ZoneChoice(**summary.details["time_zone"]))
            if summary.details.get("time_zone")
            else None,
            mood_coverage=common_pb2.MoodCoverage(**summary.details["mood_coverage"])
            if summary.details.get("mood_coverage")
            else None,
            evolution=[
                common_pb2.MonthlyTaste(
                    month=m["month"],
                    listens=m["listens"],
                    cluster_shares={int(k): v for k, v in m["cluster_shares"].items()},
                    top_artists=m["top_artists"],
                )
                for m in summary.details.get("evolution", [])
            ],
            clock=[
                common_pb2.ClockHour(
                    weekday=h["weekday"],
                    hour=h["hour"],
                    listens=h["listens"],
                    cluster_shares={int(k): v for k, v in h["cluster_shares"].items()},
                )
                for h in summary.details.get("clock", [])
            ],
            years=[
                common_pb2.YearTops(
                    year=y["year"],
                    listens=y["listens"],
                    top_artists=[
                        common_pb2.ArtistWeight(artist=a, listens=n, weight=n / y["listens"])
                        for a, n in y["top_artists"]
                    ],
                    top_tags=[common_pb2.TagWeight(tag=t, weight=w) for t, w in y["top_tags"]],
                )
                for y in summary.details.get("years", [])
            ],
        )


async def training_listener(
    pool: AsyncConnectionPool,
    workers: ListenerWorkers,
    user_id: UUID,
    cutoff: datetime,
    rules: ListenRules,
) -> Listener:
    """The listener just before `cutoff`: their plays before it through `listener_as_of`, the
    function the served profile is computed with (app.py) at t = now, in a worker process,
    with the listener's zone and exclusions."""
    zone, exclusions = await taste_rules(pool, user_id)
    listener, _ = await workers.listener(
        user_id, cutoff, rules, before=cutoff, time_zone=zone.time_zone, exclusions=exclusions
    )
    return listener


def time_zone_message(zone: ZoneChoice) -> common_pb2.TimeZone:
    return common_pb2.TimeZone(
        time_zone=zone.time_zone,
        source=zone.source,
        country=zone.country,
        country_share=zone.country_share,
        description=zone.describe(),
    )


def exclusion_message(stored: StoredExclusion) -> common_pb2.TasteExclusion:
    rule = stored.exclusion
    return common_pb2.TasteExclusion(
        exclusion_id=str(rule.exclusion_id),
        description=rule.describe(),
        plays=stored.plays,
        created_at=stored.created_at.astimezone(UTC).isoformat(),
        rule=common_pb2.ExclusionRule(
            artist=rule.artist,
            track=rule.track,
            played_between=rule.window,
            platform=rule.platform,
            hours=rule.hours,
        ),
    )


def _artist_stat(stats: ArtistStats) -> features_pb2.ArtistStat:
    return features_pb2.ArtistStat(
        artist=stats.artist,
        plays=stats.plays,
        listens=stats.listens,
        skips=stats.skips,
        ms_played=stats.ms_played,
        decayed_weight=stats.decayed_weight,
        endorsement=stats.endorsement,
        first_listen=stats.first_listen.isoformat() if stats.first_listen else "",
        last_listen=stats.last_listen.isoformat() if stats.last_listen else "",
        recent_listens=stats.recent_listens,
        hour_band=stats.hour_band,
    )


def _context_mood(mood: dict[str, Any] | None) -> dict[str, Any]:
    """ContextProfile's mood fields from the stored context (none before tags are known)."""
    if not mood:
        return {}
    return {
        "mood_coverage": mood["coverage"],
        "energy": mood["energy"],
        "valence": mood["valence"],
        "acoustic": mood["acoustic"],
        "energy_shares": mood["energy_shares"],
        "valence_shares": mood["valence_shares"],
    }


def _cutoff(value: str) -> datetime:
    try:
        cutoff = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            f"cutoff is not an RFC 3339 time (like 2024-06-01T00:00:00+00:00): {value[:64]!r}"
        ) from None
    if cutoff.tzinfo is None:
        raise InvalidArgument(f"cutoff needs a UTC offset (like +00:00): {value[:64]!r}")
    return cutoff.astimezone(UTC)


def _uuid(value: str, field_name: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidArgument(f"{field_name} is not a valid id: {value[:64]!r}") from None
