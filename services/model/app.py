"""Model's entry layer: a settled profile change -> (a retrained, gated model) -> a new
recommendation set -> the event naming the model version used; and the Recommender gRPC server.

Retraining policy (hybrid scorer):
- Debounced: a ProfilesUpdated waits `retrain_debounce_seconds`; if features has stored a newer
  profile of the listener by then (or before), the event is skipped and the newer one's event
  does the work, so a burst of profile changes makes one retrain and one set. Redelivered
  events find their set already made and publish it again (idempotent).
- Only changes that matter retrain: new plays or new tags (`changed` has "plays" or "tags"),
  or no model in use yet. Anything else (a cluster relabelling alone) makes a new set with the
  model in use.
- Gated: every trained model is stored with its version, parameters, features and metrics;
  it becomes the one in use only when its holdout NDCG@10 is not below the active model's on
  the same current holdout (learning.py); otherwise the active model makes the set.
- Feedback arrives on the bus only: each event is recorded once (by its id), then one remake
  with the model in use (the next revision) reflects every feedback event of the listener not
  yet reflected, so feedback arriving while a remake runs is coalesced into the next one; its
  `recommendations.updated` names those events (the gateway answers SubmitFeedback on it). The
  next retrain learns from it (liked and disliked artists label the classifier's examples).
- New candidate knowledge (`candidates.enriched`) remakes the newest set the same way, unless
  that set was made after the candidates were tagged: the listener's profile did not change,
  so nothing retrains. (A newer profile's set made before them is remade too: enrich finds
  them cached for that profile and announces nothing again.)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any
from uuid import UUID

from fullcircle.events import (
    CandidatesEnriched,
    FeedbackSubmitted,
    ProfilesUpdated,
    RecommendationsUpdated,
)
from fullcircle.service import ServiceRuntime
from fullcircle.v1 import model_pb2, model_pb2_grpc
from services.model.adapters import feedback, learning_store, store
from services.model.adapters.learning_store import CandidatePool, PoolLimits, StoredModel
from services.model.adapters.tastes import TastesClient
from services.model.domain.balance import balance_by_taste, taste_for
from services.model.domain.composite import composite_scores
from services.model.domain.explanation import explain
from services.model.domain.learning import (
    Holdout,
    ModelParams,
    TrainedModel,
    holdout_cutoff,
    holdout_score,
    not_worse,
    positives_after,
    serving_inputs,
    train_model,
)
from services.model.domain.liked import LabelRule
from services.model.domain.scoring import (
    CHANNELS,
    HybridWeights,
    ScoredArtist,
    score_candidates,
)
from services.model.servicer import RecommenderServicer
from services.model.settings import ModelSettings

log = logging.getLogger(__name__)

# What in a profile change can change the model: its inputs are plays and tags.
RETRAIN_ON = frozenset({"plays", "tags"})
FIXED_MODEL = "fixed"
TOP_ARTISTS_IN_EVENT = 20  # the page GetRecommendations answers by default
# Feedback handlers run side by side so feedback arriving during a remake is recorded at once
# and reflected, together, by the next one.
FEEDBACK_WORKERS = 8


class Retrainer:
    def __init__(self, runtime: ServiceRuntime, settings: ModelSettings) -> None:
        self.pool = runtime.pool
        self.bus = runtime.bus
        self.settings = settings
        self.limits = PoolLimits(
            settings.seed_artists,
            settings.candidate_tags,
            settings.co_listening_neighbours,
            settings.co_listening_candidates,
        )
        self._locks: dict[UUID, asyncio.Lock] = {}
        self.tastes = TastesClient(settings.features_address, settings.features_deadline_s)

    async def on_profile_updated(self, event: ProfilesUpdated) -> None:
        if self.settings.scorer == "hybrid":
            await self._on_profile_learned(event)
            return
        model_version = f"{self.settings.scorer}:{event.user_id.hex[:12]}:p{event.profile_version}"
        existing = await store.set_for_profile(self.pool, event.user_id, event.profile_version)
        if existing is None:
            set_id, count = await self._recommend(
                event.user_id, event.profile_version, model_version
            )
        else:
            set_id, count = existing
        await self._announce(event.user_id, set_id, model_version, count)

    async def on_feedback(self, event: FeedbackSubmitted) -> None:
        """Record the feedback once, then remake the set for all the listener's feedback no set
        reflects yet (none left: a remake that ran meanwhile took this one too)."""
        await feedback.record(self.pool, event)
        async with self._locks.setdefault(event.user_id, asyncio.Lock()):
            waiting = await feedback.pending(self.pool, event.user_id)
            if not waiting:
                return
            remade = await self._remake(event.user_id)
            if remade is None:
                return  # no set yet: the first one will be made with the feedback in force
            set_id, count, model_version = remade
            await self._announce(event.user_id, set_id, model_version, count, waiting)
            await feedback.mark_reflected(self.pool, waiting, set_id)

    async def on_candidates_enriched(self, event: CandidatesEnriched) -> None:
        """Candidates were tagged: remake the listener's newest set with the model in use,
        unless it was made after they were (it saw them) or is of an older profile than the
        event's (that profile's set, still to come, will see them)."""
        async with self._locks.setdefault(event.user_id, asyncio.Lock()):
            latest = await store.latest_set_made_at(self.pool, event.user_id)
            if latest is None or latest[0] < event.profile_version or latest[2] > event.occurred_at:
                return
            remade = await self._remake(event.user_id)
        if remade is not None:
            set_id, count, model_version = remade
            await self._announce(event.user_id, set_id, model_version, count)

    async def _remake(self, user_id: UUID) -> tuple[UUID, int, str] | None:
        """The listener's set made again with the model in use: the same profile, the next
        revision; None when the listener has no set yet."""
        latest = await store.latest_set_made_at(self.pool, user_id)
        if latest is None:
            return None
        profile_version, revision, _ = latest
        if self.settings.scorer == "hybrid":
            active = await learning_store.active_model(self.pool, user_id)
            used, params = (
                (active.model_version, active.params)
                if active
                else (self._fixed_version(user_id), self._fixed_params())
            )
            model_version = f"{used}:r{revision + 1}"
            set_id, count = await self._recommend_learned(
                user_id, profile_version, model_version, params, revision + 1
            )
        else:
            model_version = (
                f"{self.settings.scorer}:{user_id.hex[:12]}:p{profile_version}r{revision + 1}"
            )
            set_id, count = await self._recommend(
                user_id, profile_version, model_version, revision + 1
            )
        return set_id, count, model_version

    async def _announce(
        self,
        user_id: UUID,
        set_id: UUID,
        model_version: str,
        items: int,
        feedback_ids: list[UUID] | None = None,
    ) -> None:
        """recommendations.updated for a stored set, naming its top artists (enrich fetches
        their tracks from the event) and the feedback events it reflects."""
        await self.bus.publish(
            RecommendationsUpdated(
                user_id=user_id,
                set_id=set_id,
                model_version=model_version,
                items=items,
                top_artists=await store.set_top_artists(self.pool, set_id, TOP_ARTISTS_IN_EVENT),
                feedback_ids=feedback_ids or [],
            )
        )

    async def _on_profile_learned(self, event: ProfilesUpdated) -> None:
        """Debounce, retrain when the change matters, gate, make the set, name the model."""
        if await self._superseded(event):
            return
        if self.settings.retrain_debounce_seconds > 0:
            await asyncio.sleep(self.settings.retrain_debounce_seconds)
        user_id = event.user_id
        # The claimer redelivers a message idle for bus_claim_idle_ms, and a retrain can take
        # longer: the copy waits here, then finds the set made and publishes it again.
        async with self._locks.setdefault(user_id, asyncio.Lock()):
            if await self._superseded(event):
                return
            existing = await learning_store.existing_set(self.pool, user_id, event.profile_version)
            if existing is None:
                model_version, params = await self._model_for(event)
                set_id, count = await self._recommend_learned(
                    user_id, event.profile_version, model_version, params
                )
            else:
                set_id, count, model_version = existing
        await self._announce(user_id, set_id, model_version, count)

    async def _superseded(self, event: ProfilesUpdated) -> bool:
        latest = await learning_store.latest_profile_version(self.pool, event.user_id)
        if latest is not None and latest > event.profile_version:
            log.info(
                "profile v%d of %s superseded by v%d: no retrain for it",
                event.profile_version,
                event.user_id,
                latest,
            )
            return True
        return False

    async def _model_for(self, event: ProfilesUpdated) -> tuple[str, ModelParams]:
        """The model version and configuration to make this profile's set with: a newly
        trained one when the change matters and it passes the gate, else the one in use."""
        user_id = event.user_id
        active = await learning_store.active_model(self.pool, user_id)
        if active is not None and not RETRAIN_ON & set(event.changed):
            return active.model_version, active.params
        holdout = await self._holdout(user_id)
        model, accepted = await asyncio.to_thread(self._train_and_gate, holdout, active)
        model_version = await learning_store.save_trained_model(
            self.pool, user_id, event.profile_version, self.settings.scorer, model, accepted
        )
        log.info(
            "trained %s for %s: %s, %s",
            model_version,
            user_id,
            {k: model.metrics.get(k) for k in ("validated", "holdout_ndcg@10", "reason")},
            "in use" if accepted else f"kept {active.model_version if active else '-'}",
        )
        if accepted or active is None:
            return model_version, model.params
        return active.model_version, active.params

    async def _holdout(self, user_id: UUID) -> Holdout | str:
        """The listener's time-ordered holdout now, or why their history is too short."""
        first_listens = await learning_store.load_first_listens(self.pool, user_id)
        cutoff = holdout_cutoff(
            first_listens,
            self.settings.holdout_share,
            self.settings.min_holdout_positives,
            self.settings.min_training_artists,
        )
        if isinstance(cutoff, str):
            return cutoff
        past = await learning_store.load_as_of(self.pool, self.tastes, user_id, cutoff, self.limits)
        positives = positives_after(first_listens, cutoff) - past.played
        if len(positives) < self.settings.min_holdout_positives:
            return f"{len(positives)} artists newly played after {cutoff.isoformat()}"
        if not past.view.candidates:
            return f"no candidates before {cutoff.isoformat()} (no Last.fm knowledge yet)"
        return Holdout(cutoff, past.view, positives)

    def _train_and_gate(
        self, holdout: Holdout | str, active: StoredModel | None
    ) -> tuple[TrainedModel, bool]:
        """Train on the holdout and measure the active model on the same one (CPU-bound: runs
        in a worker thread)."""
        model = self._train(holdout)
        active_ndcg = (
            holdout_score(active.params, holdout)
            if active is not None and not isinstance(holdout, str)
            else None
        )
        if active is not None and isinstance(holdout, str):
            accepted = False  # nothing to measure either on: the model in use stays
        else:
            accepted = not_worse(model.holdout_ndcg, active_ndcg)
        gate = {
            "active_model": active.model_version if active else None,
            "active_holdout_ndcg@10": active_ndcg,
            "accepted": accepted,
        }
        return replace(model, metrics={**model.metrics, "gate": gate}), accepted

    def _train(self, holdout: Holdout | str) -> TrainedModel:
        return train_model(
            holdout, self._label_rule(), HybridWeights(), self.settings.train_budget_seconds
        )

    def _label_rule(self) -> LabelRule:
        return LabelRule(
            self.settings.liked_label, self.settings.liked_share, self.settings.max_skip_rate
        )

    def _fixed_params(self) -> ModelParams:
        return ModelParams(HybridWeights(), None, self._label_rule())

    def _fixed_version(self, user_id: UUID) -> str:
        return f"{self.settings.scorer}:{user_id.hex[:12]}:{FIXED_MODEL}"

    async def _recommend_learned(
        self,
        user_id: UUID,
        profile_version: int,
        model_version: str,
        params: ModelParams,
        revision: int = 0,
    ) -> tuple[UUID, int]:
        """Score the listener's candidates with a model's configuration, balance by taste,
        explain, store the set with each item's provenance."""
        feedback = await learning_store.feedback_by_kind(self.pool, user_id)
        liked = feedback.get("like", frozenset())
        disliked = feedback.get("dislike", frozenset())
        hidden = disliked | feedback.get("do_not_recommend", frozenset())
        candidates = await learning_store.load_now(
            self.pool,
            user_id,
            self.limits,
            excluded=hidden | liked,
            liked=liked,
            extra_artists=disliked,
        )
        scored = await asyncio.to_thread(self._rank, candidates, params, liked, disliked)
        metrics = {
            "candidates": len(candidates.view.candidates),
            "seeds": len(candidates.view.scoring.known_artists),
            "weights": dict(zip(CHANNELS, params.weights.mixing(), strict=True)),
        }
        set_id, count = await self._save(
            user_id, profile_version, model_version, scored, metrics, revision
        )
        await learning_store.save_sources(
            self.pool, set_id, {item.artist: item.sources for item in scored}
        )
        return set_id, count

    def _rank(
        self,
        candidates: CandidatePool,
        params: ModelParams,
        liked: frozenset[str],
        disliked: frozenset[str],
    ) -> list[ScoredArtist]:
        """The best candidates, more than are kept so every taste has some to balance with,
        named as the listener's data spells them, with their provenance."""
        inputs = serving_inputs(candidates.view, params, liked, disliked)
        ranked = score_candidates(inputs, candidates.view.candidates, params.weights)
        names = candidates.display_names
        return [
            ScoredArtist(
                artist=names.get(item.artist, item.artist),
                score=item.score,
                parts={_display_label(label, names): value for label, value in item.parts.items()},
                top_seed_artists=tuple(names.get(seed, seed) for seed in item.top_seed_artists),
                top_tags=item.top_tags,
                sources=candidates.sources.get(item.artist, ()),
            )
            for item in ranked[: self.settings.set_size * 5]
        ]

    async def _recommend(
        self, user_id: UUID, profile_version: int, model_version: str, revision: int = 0
    ) -> tuple[UUID, int]:
        """The seed composite's set (scorer = composite)."""
        hidden, _ = await store.feedback_keys(self.pool, user_id)
        taste = await store.load_taste_inputs(self.pool, user_id, self.settings.seed_artists)
        scored = composite_scores(taste, self.settings.set_size, exclude=frozenset(hidden))
        metrics = {"candidates": len(scored), "seeds": len(taste.endorsements)}
        return await self._save(user_id, profile_version, model_version, scored, metrics, revision)

    async def _save(
        self,
        user_id: UUID,
        profile_version: int,
        model_version: str,
        scored: list[ScoredArtist],
        metrics: dict[str, Any],
        revision: int,
    ) -> tuple[UUID, int]:
        """Balance by taste, explain and store a set."""
        tastes = await store.load_tastes(self.pool, user_id)
        taste_of = [
            taste_for(item.top_seed_artists, item.top_tags, tastes.artist_cluster, tastes.tags)
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
    runtime.bus.consume(FeedbackSubmitted, retrainer.on_feedback, workers=FEEDBACK_WORKERS)
    runtime.bus.consume(CandidatesEnriched, retrainer.on_candidates_enriched)
    runtime.on_stop(retrainer.tastes.close)
    runtime.grpc.add(
        model_pb2_grpc.add_RecommenderServicer_to_server,
        RecommenderServicer(runtime.pool),
        model_pb2.DESCRIPTOR.services_by_name["Recommender"].full_name,
    )
