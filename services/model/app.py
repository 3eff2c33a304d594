"""Model's entry layer: a settled profile change -> (a retrained, gated model) -> a new
recommendation set -> the event naming the model version used; and the Recommender gRPC server.

Retraining policy:
- Debounced: a ProfilesUpdated waits `retrain_debounce_seconds`; if features has stored a newer
  profile of the listener by then (or before), the event is skipped and the newer one's event
  does the work, so a burst of profile changes makes one retrain and one set. Redelivered
  events find their set already made and publish it again (idempotent).
- One retrain per listener at a time across every replica: the check for a set, the training
  and the saving run under the listener's Postgres advisory lock, so two replicas given the
  same event make one model and one set.
- Training and ranking run in the service's training processes (training.py), not on the
  event loop that serves Recommender.
- Only changes that matter retrain: new plays or new tags (`changed` has "plays" or "tags"),
  or no model in use yet. Anything else (a cluster relabelling alone) makes a new set with the
  model in use.
- Gated: every trained model is stored with its version, parameters, features and metrics;
  it becomes the one in use only when its holdout NDCG@10 is not below the active model's on
  the same current holdout (learning.py); otherwise the active model makes the set.
- Feedback arrives on the bus only: each event is recorded once (by its id) and is in force at
  once (hidden artists are filtered when answering). Debounced like retraining, by the same
  rule (a newer change makes the older one's work moot), but judged over the recorded events
  rather than by a sleeping handler, since one key may send 50 a second: once the listener's
  unreflected feedback has been quiet for `feedback_debounce_seconds` (or its oldest has waited
  1.5 times that), a sweep that every replica runs makes one remake with the model in use (the
  next revision) reflecting all of it, under the listener's lock. Its `recommendations.updated`
  names those events (the gateway answers each SubmitFeedback of the burst on it). Unreflected
  events stay in Postgres, so a crash loses no remake: the next sweep of any replica makes it.
  The next retrain learns from feedback (liked and disliked artists label its examples).
- Sets are pruned: storing a set deletes the listener's sets beyond the newest
  `recommendation_sets_kept`, in the same transaction.
- New candidate knowledge (`candidates.enriched`) remakes the newest set the same way, unless
  that set was made after the candidates were tagged: the listener's profile did not change,
  so nothing retrains. (A newer profile's set made before them is remade too: enrich finds
  them cached for that profile and announces nothing again.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError

from fullcircle.erasure import AccountEraser
from fullcircle.events import (
    AccountDeletionRequested,
    CandidatesEnriched,
    FeedbackSubmitted,
    ModelAccountErased,
    ProfilesUpdated,
    RecommendationsUpdated,
)
from fullcircle.service import ServiceRuntime
from fullcircle.v1 import model_pb2, model_pb2_grpc
from services.model.adapters import feedback, learning_store, store
from services.model.adapters.learning_store import PoolLimits
from services.model.adapters.tastes import TastesClient
from services.model.domain.balance import balance_by_taste, taste_for
from services.model.domain.explanation import explain
from services.model.domain.learning import (
    ActiveModel,
    Holdout,
    ModelParams,
    SearchSettings,
    TrainingJob,
    holdout_cutoff,
    positives_after,
    ranked_for_set,
    train_and_gate,
)
from services.model.domain.liked import LabelRule
from services.model.domain.scoring import CHANNELS, HybridWeights, ScoredArtist
from services.model.servicer import RecommenderServicer
from services.model.settings import ModelSettings
from services.model.training import TrainingPool

log = logging.getLogger(__name__)

# What in a profile change can change the model: its inputs are plays and tags.
RETRAIN_ON = frozenset({"plays", "tags"})
FIXED_MODEL = "fixed"
METHOD = "hybrid"  # model versions read "hybrid:<user>:m<version>"
# Feedback handlers run side by side so feedback arriving during a remake is recorded at once
# and reflected, together, by the next one; as many listeners are remade at once by a sweep.
FEEDBACK_WORKERS = 8
# A listener who sends feedback without a pause still gets a set once their oldest unreflected
# feedback has waited this many debounce periods (the gateway's FEEDBACK_WAIT_S covers it).
FEEDBACK_LONGEST_WAIT = 1.5
FEEDBACK_POLL_MIN_S = 0.1
FEEDBACK_POLL_MAX_S = 1.0


class Retrainer:
    # What a retrain runs in a training process: a module-level function of plain data.
    train_and_gate = staticmethod(train_and_gate)

    def __init__(
        self, runtime: ServiceRuntime, settings: ModelSettings, training: TrainingPool
    ) -> None:
        self.pool = runtime.pool
        self.bus = runtime.bus
        self.settings = settings
        self.training = training
        self.limits = PoolLimits(
            settings.seed_artists,
            settings.candidate_tags,
            settings.co_listening_neighbours,
            settings.co_listening_candidates,
        )
        self.tastes = TastesClient(settings.features_address, settings.features_deadline_s)

    async def on_feedback(self, event: FeedbackSubmitted) -> None:
        """Record the feedback once (in force from then on); the remake that reflects it is the
        feedback sweep's, once the listener's feedback has settled."""
        await feedback.record(self.pool, event)

    async def sweep_feedback(self, stopping: asyncio.Event) -> None:
        """Reflect settled feedback until the service stops. The recorded, unreflected events
        are the work list, so feedback a crashed replica recorded is remade by any replica."""
        quiet_s = self.settings.feedback_debounce_seconds
        poll_s = min(FEEDBACK_POLL_MAX_S, max(FEEDBACK_POLL_MIN_S, quiet_s / 4))
        while not stopping.is_set():
            try:
                await self.reflect_settled_feedback()
            except (psycopg.Error, PoolTimeout, RedisError) as exc:
                log.warning("feedback sweep could not run (%s); trying again", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), poll_s)

    async def reflect_settled_feedback(self) -> None:
        """One sweep: every listener whose feedback has settled gets one remake reflecting all
        of it, a few listeners at a time."""
        settled = await self._settled_feedback()
        slots = asyncio.Semaphore(FEEDBACK_WORKERS)

        async def reflect(user_id: UUID) -> None:
            async with slots:
                try:
                    await self._reflect_feedback(user_id)
                except Exception:
                    # one listener's failure must not stop the others' remakes; theirs is
                    # still pending, so the next sweep tries again
                    log.exception("feedback remake of %s failed; retried next sweep", user_id)

        await asyncio.gather(*(reflect(user_id) for user_id in settled))

    async def _reflect_feedback(self, user_id: UUID) -> None:
        """Remake the set for all the listener's feedback no set reflects yet, unless another
        replica did meanwhile or new feedback came (the next sweep then takes it all)."""
        async with learning_store.listener_lock(self.pool, user_id):
            if not await self._settled_feedback(user_id):
                return
            waiting = await feedback.pending(self.pool, user_id)
            remade = await self._remake(user_id)
            if remade is None:
                return  # the set is gone (account erased meanwhile)
            set_id, count, model_version = remade
            await self._announce(user_id, set_id, model_version, count, waiting)
            await feedback.mark_reflected(self.pool, waiting, set_id)

    async def _settled_feedback(self, of: UUID | None = None) -> list[UUID]:
        quiet_s = self.settings.feedback_debounce_seconds
        return await feedback.settled_listeners(
            self.pool, quiet_s, quiet_s * FEEDBACK_LONGEST_WAIT, of
        )

    async def on_candidates_enriched(self, event: CandidatesEnriched) -> None:
        """Candidates were tagged: remake the listener's newest set with the model in use,
        unless it was made after they were (it saw them) or is of an older profile than the
        event's (that profile's set, still to come, will see them)."""
        async with learning_store.listener_lock(self.pool, event.user_id):
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
                # the whole set: enrich fetches every artist's tracks (and so its popularity)
                top_artists=await store.set_top_artists(self.pool, set_id, self.settings.set_size),
                feedback_ids=feedback_ids or [],
            )
        )

    async def on_profile_updated(self, event: ProfilesUpdated) -> None:
        """Debounce, retrain when the change matters, gate, make the set, name the model."""
        if await self._superseded(event):
            return
        if self.settings.retrain_debounce_seconds > 0:
            await asyncio.sleep(self.settings.retrain_debounce_seconds)
        user_id = event.user_id
        # Another replica (or a copy the claimer redelivered after bus_claim_idle_ms) may be
        # retraining this listener: it waits here, then finds the set made and publishes it.
        async with learning_store.listener_lock(self.pool, user_id):
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
        """A newer profile makes the event's work moot, and so does none: features stores a
        profile before announcing it, so none means it was erased with the account (a set
        made now, after the model's own erasure, would outlive the listener)."""
        latest = await learning_store.latest_profile_version(self.pool, event.user_id)
        if latest is None:
            log.info("profile of %s is gone (account deleted): no set for it", event.user_id)
            return True
        if latest > event.profile_version:
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
        job = TrainingJob(
            holdout,
            self._label_rule(),
            HybridWeights(),
            self._search(),
            ActiveModel(active.model_version, active.params) if active else None,
        )
        started = time.perf_counter()
        model, accepted = await self.training.run(self.train_and_gate, job)
        model = replace(
            model, metrics={**model.metrics, "seconds": round(time.perf_counter() - started, 3)}
        )
        model_version = await learning_store.save_trained_model(
            self.pool, user_id, event.profile_version, METHOD, model, accepted
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

    def _search(self) -> SearchSettings:
        return SearchSettings(
            self.settings.train_seed,
            self.settings.classifier_settings,
            self.settings.weight_trials,
            self.settings.refine_passes,
        )

    def _label_rule(self) -> LabelRule:
        return LabelRule(
            self.settings.liked_label, self.settings.liked_share, self.settings.max_skip_rate
        )

    def _fixed_params(self) -> ModelParams:
        return ModelParams(HybridWeights(), None, self._label_rule(), self.settings.train_seed)

    def _fixed_version(self, user_id: UUID) -> str:
        return f"{METHOD}:{user_id.hex[:12]}:{FIXED_MODEL}"

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
        hidden |= await learning_store.excluded_artists(self.pool, user_id)
        candidates = await learning_store.load_now(
            self.pool,
            user_id,
            self.limits,
            excluded=hidden | liked,
            liked=liked,
            extra_artists=disliked,
        )
        # more than are kept, so every taste has some to balance with
        scored = await self.training.run(
            ranked_for_set,
            candidates.view,
            candidates.display_names,
            candidates.sources,
            params,
            liked,
            disliked,
            self.settings.set_size * 5,
        )
        metrics = {
            "candidates": len(candidates.view.candidates),
            "seeds": len(candidates.view.scoring.known_artists),
            "weights": dict(zip(CHANNELS, params.weights.mixing(), strict=True)),
        }
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
        """Balance by taste, explain and store a set with each item's provenance."""
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
            METHOD,
            metrics,
            items,
            revision,
            self.settings.recommendation_sets_kept,
        )
        log.info("set %s for %s: %d items", set_id, user_id, len(items))
        return set_id, len(items)


async def setup(runtime: ServiceRuntime) -> None:
    settings = ModelSettings()
    training = TrainingPool(settings.training_processes, settings.training_job_timeout_s)
    runtime.on_stop(training.stop)
    retrainer = Retrainer(runtime, settings, training)
    runtime.bus.consume(ProfilesUpdated, retrainer.on_profile_updated)
    runtime.bus.consume(FeedbackSubmitted, retrainer.on_feedback, workers=FEEDBACK_WORKERS)
    runtime.bus.consume(CandidatesEnriched, retrainer.on_candidates_enriched)
    runtime.background(lambda: retrainer.sweep_feedback(runtime.stopping))
    eraser = AccountEraser(
        runtime.pool, runtime.bus, ModelAccountErased, learning_store.wait_for_listener_lock
    )
    runtime.bus.consume(AccountDeletionRequested, eraser.on_account_deletion)
    runtime.on_stop(retrainer.tastes.close)
    runtime.grpc.add(
        model_pb2_grpc.add_RecommenderServicer_to_server,
        RecommenderServicer(runtime.pool),
        model_pb2.DESCRIPTOR.services_by_name["Recommender"].full_name,
    )
