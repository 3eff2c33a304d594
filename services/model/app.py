"""Model's entry layer: a settled profile change -> a new recommendation set -> the event;
and the Recommender gRPC server."""

from __future__ import annotations

import logging
from uuid import UUID

from fullcircle.events import ProfilesUpdated, RecommendationsUpdated
from fullcircle.service import ServiceRuntime
from fullcircle.v1 import model_pb2, model_pb2_grpc
from services.model.adapters import store
from services.model.domain.composite import composite_scores
from services.model.domain.explanation import explain
from services.model.servicer import RecommenderServicer
from services.model.settings import ModelSettings

log = logging.getLogger(__name__)

METHOD = "composite"


class Retrainer:
    def __init__(self, runtime: ServiceRuntime, settings: ModelSettings) -> None:
        self.pool = runtime.pool
        self.bus = runtime.bus
        self.settings = settings

    async def on_profile_updated(self, event: ProfilesUpdated) -> None:
        model_version = f"{METHOD}:{event.user_id.hex[:12]}:p{event.profile_version}"
        existing = await store.set_for_profile(self.pool, event.user_id, event.profile_version)
        if existing is None:
            set_id, count = await self._recommend(event, model_version)
        else:
            set_id, count = existing
        await self.bus.publish(
            RecommendationsUpdated(
                user_id=event.user_id,
                set_id=set_id,
                model_version=model_version,
                items=count,
            )
        )

    async def _recommend(self, event: ProfilesUpdated, model_version: str) -> tuple[UUID, int]:
        inputs = await store.load_taste_inputs(self.pool, event.user_id, self.settings.seed_artists)
        scored = composite_scores(inputs, self.settings.set_size)
        items = [(item, *explain(item.parts)) for item in scored]
        set_id = await store.save_set(
            self.pool,
            event.user_id,
            event.profile_version,
            model_version,
            METHOD,
            {"candidates": len(scored), "seeds": len(inputs.endorsements)},
            items,
        )
        log.info("set %s for %s: %d items", set_id, event.user_id, len(items))
        return set_id, len(items)


async def setup(runtime: ServiceRuntime) -> None:
    settings = ModelSettings()
    retrainer = Retrainer(runtime, settings)
    runtime.bus.consume(ProfilesUpdated, retrainer.on_profile_updated)
    runtime.grpc.add(
        model_pb2_grpc.add_RecommenderServicer_to_server,
        RecommenderServicer(runtime.pool),
        model_pb2.DESCRIPTOR.services_by_name["Recommender"].full_name,
    )
