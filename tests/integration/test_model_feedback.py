"""The model's bus-only inputs besides profiles, on a real PostgreSQL and Redis: feedback is
recorded once per event and feedback arriving during a remake is reflected by one remake that
names it; new candidate knowledge remakes the set with the model in use, without retraining,
unless a set made since saw it. Every announced set names its top artists (what enrich fetches
tracks for)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from fullcircle.bus import Bus, decode_entry
from fullcircle.events import (
    RECOMMENDATIONS_UPDATED,
    CandidatesEnriched,
    FeedbackSubmitted,
    ProfilesUpdated,
    RecommendationsUpdated,
)
from fullcircle.settings import FullCircleSettings
from services.features.domain.listener import ListenRules
from services.model.adapters import feedback, learning_store, store
from services.model.app import Retrainer
from services.model.training import TrainingPool
from tests.integration.test_model_versions import model_settings, seed_listener

pytestmark = pytest.mark.integration


async def _announced(bus: Bus, user_id: uuid.UUID) -> list[RecommendationsUpdated]:
    entries = await bus.redis.xrange(RECOMMENDATIONS_UPDATED)
    events = [decode_entry(fields, RecommendationsUpdated) for _, fields in entries]
    return [event for event in events if event.user_id == user_id]


async def _sets(pool: Any, user_id: uuid.UUID) -> list[tuple[int, int]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT profile_version, revision FROM model.recommendation_sets"
            " WHERE user_id = %s ORDER BY revision",
            (user_id,),
        )
        return [(int(p), int(r)) for p, r in await cur.fetchall()]


async def _recorded(pool: Any, user_id: uuid.UUID) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM model.feedback_events WHERE user_id = %s", (user_id,)
        )
        row = await cur.fetchone()
    return int(row[0])


async def _first_set(
    pool: Any, settings: FullCircleSettings, tastes_server: Any, training: TrainingPool
) -> tuple[Any, ...]:
    features_address = await tastes_server(ListenRules())
    user_id = uuid.uuid4()
    profile_version = await seed_listener(pool, user_id)
    bus = Bus(settings, "model")
    await bus.start()
    retrainer = Retrainer(
        SimpleNamespace(pool=pool, bus=bus),  # type: ignore[arg-type]
        model_settings(settings, features_address),
        training,
    )
    await retrainer.on_profile_updated(
        ProfilesUpdated(
            user_id=user_id,
            profile_version=profile_version,
            listens=1,
            artists=60,
            changed=["plays"],
        )
    )
    (first,) = await _announced(bus, user_id)
    return user_id, profile_version, bus, retrainer, first


async def test_feedback_during_a_remake_is_recorded_once_and_reflected_by_one_remake(
    pool: Any, settings: FullCircleSettings, tastes_server: Any, training: TrainingPool
) -> None:
    user_id, profile_version, bus, retrainer, first = await _first_set(
        pool, settings, tastes_server, training
    )
    try:
        assert 0 < len(first.top_artists) <= 20 and first.feedback_ids == []
        disliked = first.top_artists[:3]
        events = [
            FeedbackSubmitted(user_id=user_id, artist=artist, kind="dislike") for artist in disliked
        ]
        # a remake is running (it holds the listener's lock): the three arrive meanwhile (one
        # twice), and the sweep that finds them settled waits for the lock
        async with learning_store.listener_lock(pool, user_id):
            await asyncio.gather(*(retrainer.on_feedback(event) for event in [*events, events[0]]))
            assert await _recorded(pool, user_id) == 3
            sweep = asyncio.create_task(retrainer.reflect_settled_feedback())
            await asyncio.sleep(0.2)
            assert not sweep.done()
        await sweep
        assert await _sets(pool, user_id) == [(profile_version, 0), (profile_version, 1)]
        _, remade = await _announced(bus, user_id)
        assert sorted(remade.feedback_ids) == sorted(event.event_id for event in events)
        assert remade.model_version.endswith(":r1")
        assert not set(remade.top_artists) & set(disliked)
        feedback = await learning_store.feedback_by_kind(pool, user_id)
        assert feedback["dislike"] == {artist.lower() for artist in disliked}

        await retrainer.on_feedback(events[1])  # redelivered later: already reflected
        await retrainer.reflect_settled_feedback()
        assert len(await _sets(pool, user_id)) == 2
        assert len(await _announced(bus, user_id)) == 2
    finally:
        await bus.stop()


async def test_new_candidates_remake_the_set_once_with_the_model_in_use(
    pool: Any, settings: FullCircleSettings, tastes_server: Any, training: TrainingPool
) -> None:
    user_id, profile_version, bus, retrainer, first = await _first_set(
        pool, settings, tastes_server, training
    )
    try:
        models = len(await learning_store.trained_models(pool, user_id))
        tagged = CandidatesEnriched(
            user_id=user_id,
            profile_version=profile_version,
            artists=30,
            tagged=30,
            not_found=0,
            api_calls=30,
        )
        await retrainer.on_candidates_enriched(tagged)
        assert await _sets(pool, user_id) == [(profile_version, 0), (profile_version, 1)]
        _, remade = await _announced(bus, user_id)
        assert remade.model_version == f"{first.model_version}:r1"
        assert remade.top_artists
        assert len(await learning_store.trained_models(pool, user_id)) == models  # no retrain

        await retrainer.on_candidates_enriched(tagged)  # redelivered: the remade set saw them
        # of a profile whose set is still to come: that set will see them
        await retrainer.on_candidates_enriched(
            tagged.model_copy(update={"profile_version": profile_version + 1})
        )
        assert len(await _sets(pool, user_id)) == 2
        assert len(await _announced(bus, user_id)) == 2
        # tagged for an older profile after the newest set was made: it has not seen them
        await retrainer.on_candidates_enriched(
            CandidatesEnriched.model_validate(
                {
                    **tagged.model_dump(),
                    "event_id": uuid.uuid4(),
                    "occurred_at": datetime.now(UTC),
                    "profile_version": profile_version - 1,
                }
            )
        )
        assert (await _sets(pool, user_id))[-1] == (profile_version, 2)
    finally:
        await bus.stop()


async def _sweep_until_reflected(
    replicas: list[Retrainer], pool: Any, user_id: uuid.UUID, deadline_s: float = 60.0
) -> None:
    """Sweep on every replica at once, as their loops would, until no feedback is pending."""
    give_up = asyncio.get_running_loop().time() + deadline_s
    while await feedback.pending(pool, user_id):
        assert asyncio.get_running_loop().time() < give_up, "feedback never reflected"
        await asyncio.gather(*(replica.reflect_settled_feedback() for replica in replicas))
        await asyncio.sleep(0.05)


async def test_a_feedback_burst_settles_into_one_remake_on_two_replicas_after_a_crash(
    pool: Any, settings: FullCircleSettings, tastes_server: Any, training: TrainingPool
) -> None:
    user_id, profile_version, bus, crashed, first = await _first_set(
        pool, settings, tastes_server, training
    )
    debounced = crashed.settings.model_copy(update={"feedback_debounce_seconds": 1.0})
    replicas = [Retrainer(SimpleNamespace(pool=pool, bus=bus), debounced, training) for _ in "ab"]  # type: ignore[arg-type]
    try:
        burst = [
            FeedbackSubmitted(user_id=user_id, artist=artist, kind="dislike")
            for artist in first.top_artists[:5]
        ]
        # recorded by a replica that dies before any sweep of its own: nothing else of it runs
        await asyncio.gather(*(crashed.on_feedback(event) for event in burst))
        await asyncio.gather(*(replica.reflect_settled_feedback() for replica in replicas))
        assert await _sets(pool, user_id) == [(profile_version, 0)]  # not settled yet
        await _sweep_until_reflected(replicas, pool, user_id)
        assert await _sets(pool, user_id) == [(profile_version, 0), (profile_version, 1)]
        _, remade = await _announced(bus, user_id)
        assert sorted(remade.feedback_ids) == sorted(event.event_id for event in burst)
        assert not set(remade.top_artists) & set(first.top_artists[:5])

        # a second burst, received by both replicas: still one remake
        again = [
            FeedbackSubmitted(user_id=user_id, artist=artist, kind="like")
            for artist in remade.top_artists[:6]
        ]
        await asyncio.gather(*(replicas[n % 2].on_feedback(event) for n, event in enumerate(again)))
        await _sweep_until_reflected(replicas, pool, user_id)
        assert [revision for _, revision in await _sets(pool, user_id)] == [0, 1, 2]
        assert len(await _announced(bus, user_id)) == 3
    finally:
        await bus.stop()


async def test_sets_beyond_the_kept_history_are_deleted_with_their_items(
    pool: Any, settings: FullCircleSettings, tastes_server: Any, training: TrainingPool
) -> None:
    user_id, profile_version, bus, retrainer, first = await _first_set(
        pool, settings, tastes_server, training
    )
    retrainer.settings = retrainer.settings.model_copy(update={"recommendation_sets_kept": 3})
    try:
        for artist in first.top_artists[:4]:
            await retrainer.on_feedback(
                FeedbackSubmitted(user_id=user_id, artist=artist, kind="like")
            )
            await retrainer.reflect_settled_feedback()
        assert await _sets(pool, user_id) == [(profile_version, r) for r in (2, 3, 4)]
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM model.recommendations WHERE set_id = ANY(%s)",
                ([first.set_id],),
            )
            assert (await cur.fetchone())[0] == 0  # the first set's items went with it
        assert await store.load_set(pool, user_id, first.set_id, 20) is None
        newest = await store.load_set(pool, user_id, None, 20)
        assert newest is not None and newest.items
    finally:
        await bus.stop()
