"""Features' entry layer: new plays or new tags -> a recomputed taste profile -> profiles.updated;
and the Tastes gRPC server (taste profiles, training views).

Bursts coalesce: a recompute reads everything stored when it starts, so an event that occurred
before the last recompute started is already reflected and is skipped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from uuid import UUID

from fullcircle.erasure import AccountEraser
from fullcircle.events import (
    AccountDeletionRequested,
    ArtistsEnriched,
    FeaturesAccountErased,
    PlaysDeleted,
    PlaysIngested,
    ProfilesUpdated,
)
from fullcircle.service import ServiceRuntime
from fullcircle.v1 import features_pb2, features_pb2_grpc
from services.features.adapters import store
from services.features.adapters.store import StoredExclusion
from services.features.adapters.worker import ListenerWorkers
from services.features.domain.details import clusters_changed
from services.features.domain.exclusions import Exclusion, ExclusionError
from services.features.domain.time_zones import ZoneChoice
from services.features.listener_plays import listener_zone, taste_rules
from services.features.servicer import TastesServicer
from services.features.settings import FeaturesSettings

log = logging.getLogger(__name__)

TOP_ARTISTS_IN_EVENT = 100
TOP_TAGS_IN_EVENT = 20
TOP_TRACKS_IN_EVENT = 100


class ProfileBuilder:
    def __init__(
        self,
        runtime: ServiceRuntime,
        settings: FeaturesSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        workers: ListenerWorkers | None = None,
    ) -> None:
        self.pool = runtime.pool
        self.bus = runtime.bus
        self.settings = settings
        self.clock = clock
        self._background: set[asyncio.Task[None]] = set()
        self.workers = workers or ListenerWorkers(
            settings.database_url, settings.recompute_workers, settings.recompute_timeout_s
        )

    async def on_plays_ingested(self, event: PlaysIngested) -> None:
        await self.refresh(event.user_id, event.occurred_at, "plays")

    async def on_plays_deleted(self, event: PlaysDeleted) -> None:
        """Fewer plays change the profile as more plays do (a refused deletion, or one that
        found nothing to delete, changed none)."""
        if event.removed.get("plays"):
            await self.refresh(event.user_id, event.occurred_at, "plays")

    async def on_artists_enriched(self, event: ArtistsEnriched) -> None:
        if event.user_id is not None:
            await self.refresh(event.user_id, event.occurred_at, "tags")

    async def set_time_zone(self, user_id: UUID, time_zone: str | None) -> ZoneChoice:
        """Keep the zone the listener set (None: infer it again) and recompute their profile
        in it, in the background; answers the zone the recompute uses."""
        set_at = self.clock()
        await store.save_time_zone(self.pool, user_id, time_zone, set_at)
        self._recompute_soon(user_id, set_at, "time zone")
        return await listener_zone(self.pool, user_id)

    async def exclude(self, user_id: UUID, rule: Exclusion) -> StoredExclusion:
        """Keep an exclusion that matches some of the listener's plays (ExclusionError when
        it matches none: nothing stored) and recompute their profile without them."""
        zone = await listener_zone(self.pool, user_id)
        matched = await self.workers.matching(user_id, rule, zone.time_zone)
        if not matched:
            raise ExclusionError(
                f"{rule.describe()}: none of your plays match it, so nothing was excluded; "
                "check the spelling against `fullcircle profile`, or import your history first"
            )
        made_at = self.clock()
        await store.save_exclusion(self.pool, user_id, rule, matched, made_at)
        self._recompute_soon(user_id, made_at, "exclusion")
        return StoredExclusion(rule, matched, made_at)

    async def unexclude(self, user_id: UUID, exclusion_id: UUID) -> StoredExclusion | None:
        """Undo one of the listener's exclusions (None: no such one in force) and recompute."""
        removed_at = self.clock()
        removed = await store.remove_exclusion(self.pool, user_id, exclusion_id, removed_at)
        if removed is not None:
            self._recompute_soon(user_id, removed_at, "exclusion")
        return removed

    async def exclusions(self, user_id: UUID) -> list[StoredExclusion]:
        return await store.load_exclusions(self.pool, user_id)

    def _recompute_soon(self, user_id: UUID, changed_at: datetime, reason: str) -> None:
        """Recompute in the background; a features stopped before it ran recomputes at its
        next start (`recompute_changed_settings`)."""
        task = asyncio.create_task(self.refresh(user_id, changed_at, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def recompute_changed_settings(self) -> None:
        """Listeners whose zone or exclusions changed after their profile was computed."""
        for user_id, set_at in await store.listeners_with_new_time_zones(self.pool):
            await self.refresh(user_id, set_at, "time zone")
        for user_id, changed_at in await store.listeners_with_new_exclusions(self.pool):
            await self.refresh(user_id, changed_at, "exclusion")

    async def refresh(self, user_id: UUID, occurred_at: datetime, reason: str) -> None:
        last = await store.profile_computed_at(self.pool, user_id)
        if last is not None and last >= occurred_at:
            return
        computed_at = self.clock()
        zone, exclusions = await taste_rules(self.pool, user_id)
        # The same function the model's training views come from (servicer.py), as of now,
        # in a worker process: a long history must not stop the event loop (worker.py).
        listener, plays = await self.workers.listener(
            user_id,
            computed_at,
            self.settings.listen_rules(),
            with_details=True,
            time_zone=zone.time_zone,
            exclusions=exclusions,
        )
        if last is None and not plays:
            # nothing to profile and no profile to empty: a listener whose account was erased
            # (enrich's tags for their artists can arrive later) is not brought back
            log.info("no plays and no profile of %s: nothing to compute", user_id)
            return
        stats, tags, details = listener.stats, listener.tags, listener.details
        assert details is not None  # asked for with the platforms
        previous_clusters = await store.load_clusters(self.pool, user_id)
        await store.save_details(self.pool, user_id, details, computed_at, time_zone=asdict(zone))
        changed = [reason]
        if clusters_changed(previous_clusters, details["clusters"]):
            changed.append("clusters")
        version = await store.save_profile(
            self.pool,
            user_id,
            computed_at=computed_at,
            as_of=computed_at,
            half_life_days=self.settings.half_life_days,
            stats=stats,
            tags=tags,
            tracks=listener.tracks or (),
            recency=listener.recency.describe() if listener.recency else "",
            recency_fitted=bool(listener.recency and listener.recency.fitted),
        )
        await store.forget_removed_exclusions(self.pool, user_id, computed_at)
        await self.bus.publish(
            ProfilesUpdated(
                user_id=user_id,
                profile_version=version,
                listens=sum(s.listens for s in stats),
                artists=len(stats),
                changed=changed,
                top_artists=[s.artist for s in stats[:TOP_ARTISTS_IN_EVENT]],
                top_tags=list(tags)[:TOP_TAGS_IN_EVENT],
                top_tracks=[
                    (track.artist, track.track)
                    for track in (listener.tracks or [])[:TOP_TRACKS_IN_EVENT]
                ],
            )
        )
        log.info("profile v%d of %s: %d artists, %d tags", version, user_id, len(stats), len(tags))


async def setup(runtime: ServiceRuntime) -> None:
    settings = FeaturesSettings()
    workers = ListenerWorkers(
        settings.database_url, settings.recompute_workers, settings.recompute_timeout_s
    )
    runtime.on_stop(lambda: asyncio.to_thread(workers.close))
    builder = ProfileBuilder(runtime, settings, workers=workers)
    runtime.bus.consume(PlaysIngested, builder.on_plays_ingested)
    runtime.bus.consume(ArtistsEnriched, builder.on_artists_enriched)
    runtime.bus.consume(PlaysDeleted, builder.on_plays_deleted)
    eraser = AccountEraser(runtime.pool, runtime.bus, FeaturesAccountErased)
    runtime.bus.consume(AccountDeletionRequested, eraser.on_account_deletion)
    runtime.grpc.add(
        features_pb2_grpc.add_TastesServicer_to_server,
        TastesServicer(runtime.pool, settings.listen_rules(), workers, builder),
        features_pb2.DESCRIPTOR.services_by_name["Tastes"].full_name,
    )
    runtime.background(builder.recompute_changed_settings)
