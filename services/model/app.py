"""Model's entry layer: a settled profile change -> a new recommendation set -> the event;
and the Recommender gRPC server."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from fullcircle.events import FeedbackSubmitted, ProfilesUpdated, RecommendationsUpdated
from fullcircle.service import ServiceRuntime
from fullcircle.v1 import model_pb2, model_pb2_grpc
from services.model.adapters import store
from services.model.domain.balance import balance_by_taste
from services.model.domain.composite import composite_scores
from services.model.domain.explanation import explain
from services.model.domain.scoring import HybridWeights, ScoredArtist, score_candidates
from services.model.servicer import RecommenderServicer
from services.model.settings import ModelSettings

log = logging.getLogger(__name__)


class Retrainer:
    def __init__(self, runtime: ServiceRuntime, settings: ModelSettings) -> None:
        self.pool = runtime.pool
        self.bus = runtime.bus
        self.settings = settings

    async def on_profile_updated(self, event: ProfilesUpdated) -> None:
        model_version = f"{self.settings.scorer}:{event.user_id.hex[:12]}:p{event.profile_version}"
        existing = await store.set_for_profile(self.pool, event.user_id, event.profile_version)
        if existing is None:
            set_id, count = await self._recommend(
                event.user_id, event.profile_version, model_version
            )
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

    async def on_feedback(self, event: FeedbackSubmitted) -> None:
        """Feedback changes the next set too: the same profile, the next revision."""
        latest = await store.latest_revision(self.pool, event.user_id)
        if latest is None:
            return
        profile_version, revision = latest
        model_version = (
            f"{self.settings.scorer}:{event.user_id.hex[:12]}:p{profile_version}r{revision + 1}"
        )
        set_id, count = await self._recommend(
            event.user_id, profile_version, model_version, revision + 1
        )
        await self.bus.publish(
            RecommendationsUpdated(
                user_id=event.user_id, set_id=set_id, model_version=model_version, items=count
            )
        )

    async def _recommend(
        self, user_id: UUID, profile_version: int, model_version: str, revision: int = 0
    ) -> tuple[UUID, int]:
        scored, metrics = await self._score(user_id)
        tastes = await store.load_tastes(self.pool, user_id)
        taste_of = [
            tastes.artist_cluster.get(item.top_seed_artists[0].lower())
            if item.top_seed_artists
            else None
            for item in scored
        ]
        balanced = balance_by_taste(scored, taste_of, tastes.recent_shares, self.settings.set_size)
        items = [
            (item, *explain(item.parts), tastes.names.get(taste, "") if taste is not None else "")
            for item, taste in balanced
        ]
        set_id = await store.save_set(
            self.pool,
            user_id,
            profile_version,
            model_version,
            self.settings.scorer,
            metrics,
            items,
            revision,
        )
        log.info("set %s for %s: %d items", set_id, user_id, len(items))
        return set_id, len(items)

    async def _score(self, user_id: UUID) -> tuple[list[ScoredArtist], dict[str, Any]]:
        """The best new artists for the listener, by the configured scorer, with their names
        as the listener's data spells them."""
        limit = self.settings.set_size
        hidden, liked = await store.feedback_keys(self.pool, user_id)
        if self.settings.scorer == "composite":
            taste = await store.load_taste_inputs(self.pool, user_id, self.settings.seed_artists)
            scored = composite_scores(taste, limit, exclude=frozenset(hidden))
            return scored, {"candidates": len(scored), "seeds": len(taste.endorsements)}
        inputs = await store.load_hybrid_inputs(
            self.pool,
            user_id,
            self.settings.seed_artists,
            self.settings.candidate_tags,
            excluded=frozenset(hidden | liked),
            liked=frozenset(liked),
        )
        # rank more than are kept, so that every taste has candidates to balance with
        ranked = score_candidates(inputs.scoring, inputs.candidates, HybridWeights())[: limit * 5]
        names = inputs.display_names
        scored = [
            ScoredArtist(
                artist=names.get(item.artist, item.artist),
                score=item.score,
                parts={_display_label(label, names): value for label, value in item.parts.items()},
                top_seed_artists=tuple(names.get(seed, seed) for seed in item.top_seed_artists),
                top_tags=item.top_tags,
            )
            for item in ranked
        ]
        return scored, {
            "candidates": len(inputs.candidates),
            "seeds": len(inputs.scoring.known_artists),
        }


def _display_label(label: str, names: dict[str, str]) -> str:
    """'similar to kano' -> 'similar to Kano': parts name artists as the listener spells them."""
    if label.startswith("similar to "):
        key = label.removeprefix("similar to ")
        return f"similar to {names.get(key, key)}"
    return label


async def setup(runtime: ServiceRuntime) -> None:
    settings = ModelSettings()
    retrainer = Retrainer(runtime, settings)
    runtime.bus.consume(ProfilesUpdated, retrainer.on_profile_updated)
    runtime.bus.consume(FeedbackSubmitted, retrainer.on_feedback)
    runtime.grpc.add(
        model_pb2_grpc.add_RecommenderServicer_to_server,
        RecommenderServicer(runtime.pool),
        model_pb2.DESCRIPTOR.services_by_name["Recommender"].full_name,
    )
