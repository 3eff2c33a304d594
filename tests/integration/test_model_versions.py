"""Trained models on a real PostgreSQL and Redis: every retrain is stored as the listener's next
version with its parameters, features and holdout metrics; a new model is used only when it is
not worse than the active one on the same current holdout; each set and each
recommendations.updated names the model version that made it; candidates keep their sources,
written with the set; two replicas given the same profile change make one model and one set.

The listener is generated (plays over a year, Last.fm-like tags and similar artists in the
enrich tables): the checks are about the SQL and the policy, the learning itself is covered by
tests/unit/test_model_learning.py and real histories by the e2e tier."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from redis.asyncio import Redis

from fullcircle.bus import Bus
from fullcircle.db import open_pool
from fullcircle.events import RECOMMENDATIONS_UPDATED, ProfilesUpdated
from fullcircle.settings import FullCircleSettings
from services.features.adapters import store as features_store
from services.features.domain.listener import ListenRules
from services.features.domain.taste import PlayColumns, artist_stats, tag_profile
from services.model.adapters import learning_store, store
from services.model.app import Retrainer
from services.model.domain.explanation import explain
from services.model.domain.learning import (
    ModelParams,
    TrainedModel,
    TrainingJob,
    gate,
    holdout_score,
    train_model,
)
from services.model.domain.scoring import HybridWeights, ScoredArtist
from services.model.settings import ModelSettings
from services.model.training import TrainingPool

pytestmark = pytest.mark.integration

START = datetime(2024, 1, 1, tzinfo=UTC)


async def seed_listener(pool: Any, user_id: uuid.UUID) -> int:
    """60 artists first played 5 days apart (jazz every third, rarely skipped; the rest metal,
    mostly skipped), 40 never played; similar artists link the played ones to the newer and the
    unplayed ones. Stores plays, the features profile and the enrich knowledge."""
    rng = np.random.default_rng(5)
    played = [f"Artist {i:02d}" for i in range(60)]
    unplayed = [f"Stranger {i:02d}" for i in range(40)]
    rows: list[tuple[Any, ...]] = []
    for i, name in enumerate(played):
        jazz = i % 3 == 0
        first = START + timedelta(days=5 * i)
        for k in range(20 if jazz else 10):
            skipped = (k % 10 == 0) if jazz else (k % 10 < 6)
            rows.append(
                (
                    user_id,
                    f"{name}-{k}",
                    first + timedelta(hours=7 * k),
                    12_000 if skipped else 200_000,
                    f"Song {k}",
                    name,
                    skipped,
                    "extended",
                )
            )
    tags = {
        name: {("jazz" if i % 3 == 0 else "metal"): 100, f"mood {i % 4}": 40}
        for i, name in enumerate(played)
    }
    tags.update(
        {
            name: {("jazz" if i % 2 == 0 else "metal"): 100, "mood 1": 30}
            for i, name in enumerate(unplayed)
        }
    )
    everyone = [*played, *unplayed]
    async with pool.connection() as conn, conn.transaction():
        cur = conn.cursor()
        await cur.executemany(
            "INSERT INTO ingest.plays (user_id, play_key, ended_at, ms_played, track_name,"
            " artist_name, skipped, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        await cur.executemany(
            "INSERT INTO enrich.artists (artist_key, name, status, listeners)"
            " VALUES (%s, %s, 'ok', %s) ON CONFLICT DO NOTHING",
            [(n.lower(), n, int(rng.integers(1_000, 1_000_000))) for n in everyone],
        )
        await cur.executemany(
            "INSERT INTO enrich.artist_tags (artist_key, tag, weight) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            [(n.lower(), tag, w) for n in everyone for tag, w in tags[n].items()],
        )
        similar_rows = []
        for name in played:
            for j in rng.choice(len(everyone), 8, replace=False):
                if everyone[j] != name:
                    target = everyone[j]
                    similar_rows.append(
                        (name.lower(), target.lower(), target, float(rng.uniform(0.1, 1.0)))
                    )
        await cur.executemany(
            "INSERT INTO enrich.similar_artists (artist_key, similar_key, similar_name, match)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            similar_rows,
        )
    plays = PlayColumns(
        artist=[row[5] for row in rows],
        ended_at_s=np.array([row[2].timestamp() for row in rows]),
        ms_played=np.array([row[3] for row in rows], dtype=np.int64),
        skipped=np.array([row[6] for row in rows]),
    )
    as_of = max(row[2] for row in rows)
    stats = artist_stats(plays, as_of.timestamp())
    return await features_store.save_profile(
        pool,
        user_id,
        computed_at=as_of,
        as_of=as_of,
        half_life_days=90.0,
        stats=stats,
        tags=tag_profile(
            {s.artist: s.endorsement for s in stats},
            {n: {t: float(w) for t, w in tags[n].items()} for n in played},
        ),
    )


def model_settings(settings: FullCircleSettings, features_address: str) -> ModelSettings:
    return ModelSettings(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        features_address=features_address,
        retrain_debounce_seconds=0.0,
        feedback_debounce_seconds=0.0,
        set_size=20,
    )


def uninformed_train_and_gate(job: TrainingJob) -> tuple[TrainedModel, bool]:
    """Trains as usual, then swaps in the single-part ranking (similar artists only, tags
    only, popularity only) that does worst on the holdout: a model the gate must judge on its
    honest holdout score. (Module-level: it runs in a training process.)"""
    holdout = job.holdout
    assert not isinstance(holdout, str)
    model = train_model(holdout, job.label, job.fixed, job.search)
    single_parts = [
        replace(model.params, weights=weights, classifier=None)
        for weights in (
            HybridWeights(similar=1.0, tags=0.0),
            HybridWeights(similar=0.0, tags=1.0),
            HybridWeights(similar=0.0, tags=0.0, popularity=1.0),
        )
    ]
    params = min(single_parts, key=lambda params: holdout_score(params, holdout))
    uninformed = replace(
        model,
        params=params,
        metrics={**model.metrics, "holdout_ndcg@10": holdout_score(params, holdout)},
    )
    return gate(uninformed, holdout, job.active)


class UninformedRetrainer(Retrainer):
    train_and_gate = staticmethod(uninformed_train_and_gate)


async def test_every_retrain_is_versioned_and_only_a_not_worse_model_is_used(
    pool: Any, settings: FullCircleSettings, tastes_server: Any, training: TrainingPool
) -> None:
    features_address = await tastes_server(ListenRules())
    user_id = uuid.uuid4()
    profile_version = await seed_listener(pool, user_id)
    bus = Bus(settings, "model")
    await bus.start()
    try:
        runtime = SimpleNamespace(pool=pool, bus=bus)
        retrainer = Retrainer(
            runtime,  # type: ignore[arg-type]
            model_settings(settings, features_address),
            training,
        )
        event = ProfilesUpdated(
            user_id=user_id,
            profile_version=profile_version,
            listens=1,
            artists=60,
            changed=["plays"],
        )
        first_version, _ = await retrainer._model_for(event)
        second_version, _ = await retrainer._model_for(event)
        models = await learning_store.trained_models(pool, user_id)
        assert [m["model_version"] for m in models] == [first_version, second_version]
        assert first_version.endswith(":m1") and second_version.endswith(":m2")
        first, second = models
        assert first["metrics"]["validated"], first["metrics"]
        assert first["metrics"]["positives"] >= 5 and first["metrics"]["training_artists"] >= 20
        assert {"similar", "tags"} & set(first["features"]["parts"])
        assert first["params"]["label"]["rule"] == "skips"
        # the same data and settings train the same model: not worse, so it replaces the first
        gate = second["metrics"]["gate"]
        assert gate["active_model"] == first_version and gate["accepted"]
        assert gate["active_holdout_ndcg@10"] == pytest.approx(first["metrics"]["holdout_ndcg@10"])
        assert [m["active"] for m in models] == [False, True]

        # a change that does not touch the model's inputs retrains nothing
        relabelled = event.model_copy(update={"changed": ["clusters"]})
        assert (await retrainer._model_for(relabelled))[0] == second_version
        assert len(await learning_store.trained_models(pool, user_id)) == 2

        worse = UninformedRetrainer(
            runtime,  # type: ignore[arg-type]
            model_settings(settings, features_address),
            training,
        )
        kept_version, kept_params = await worse._model_for(event)
        models = await learning_store.trained_models(pool, user_id)
        rejected = models[-1]
        assert rejected["metrics"]["holdout_ndcg@10"] < second["metrics"]["holdout_ndcg@10"]
        assert not rejected["metrics"]["gate"]["accepted"] and not rejected["active"]
        # the model in use keeps serving, with its own weights (which parts they favour depends
        # on who else is in the database: other tests' listeners are this one's co-listeners)
        assert kept_version == second_version
        assert kept_params == ModelParams.from_json(second["params"])
        assert [m["active"] for m in models] == [False, True, False]

        # the event retrains (m4, the same as m2: in use); the set and the event name it
        await retrainer.on_profile_updated(event)
        active = await learning_store.active_model(pool, user_id)
        assert active is not None and active.model_version.endswith(":m4")
        redis = Redis.from_url(settings.redis_url)
        try:
            entries = await redis.xrange(RECOMMENDATIONS_UPDATED)
        finally:
            await redis.aclose()
        published = [e for e in entries if str(user_id).encode() in e[1][b"__data__"]]
        assert len(published) == 1
        assert f'"model_version":"{active.model_version}"'.encode() in published[0][1][b"__data__"]
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT s.model_version, r.sources FROM model.recommendation_sets s"
                " JOIN model.recommendations r USING (set_id) WHERE s.user_id = %s",
                (user_id,),
            )
            rows = await cur.fetchall()
        assert len(rows) == 20 and {version for version, _ in rows} == {active.model_version}
        assert all(
            sources and set(sources) <= {"similar", "tag_top", "co_listening"}
            for _, sources in rows
        )
    finally:
        await bus.stop()


async def test_a_burst_of_profile_changes_makes_one_set(
    pool: Any, settings: FullCircleSettings, tastes_server: Any, training: TrainingPool
) -> None:
    features_address = await tastes_server(ListenRules())
    user_id = uuid.uuid4()
    profile_version = await seed_listener(pool, user_id)
    bus = Bus(settings, "model")
    await bus.start()
    try:
        retrainer = Retrainer(
            SimpleNamespace(pool=pool, bus=bus),  # type: ignore[arg-type]
            model_settings(settings, features_address).model_copy(
                update={"retrain_debounce_seconds": 0.5}
            ),
            training,
        )
        older = ProfilesUpdated(
            user_id=user_id,
            profile_version=profile_version,
            listens=1,
            artists=60,
            changed=["plays"],
        )
        newer_version = await seed_newer_profile(pool, user_id)
        newer = older.model_copy(update={"profile_version": newer_version})
        # the older change, the newer one and a redelivered copy of it, all at once
        await asyncio.gather(
            retrainer.on_profile_updated(older),
            retrainer.on_profile_updated(newer),
            retrainer.on_profile_updated(newer),
        )
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT profile_version, model_version FROM model.recommendation_sets"
                " WHERE user_id = %s",
                (user_id,),
            )
            sets = await cur.fetchall()
        models = await learning_store.trained_models(pool, user_id)
        assert [profile for profile, _ in sets] == [newer_version]
        assert [m["model_version"] for m in models] == [sets[0][1]]
        redis = Redis.from_url(settings.redis_url)
        try:
            entries = await redis.xrange(RECOMMENDATIONS_UPDATED)
        finally:
            await redis.aclose()
        published = [
            e[1][b"__data__"] for e in entries if str(user_id).encode() in e[1][b"__data__"]
        ]
        assert len(published) == 2  # the copy announces the same set again
        assert all(sets[0][1].encode() in data for data in published)
    finally:
        await bus.stop()


async def test_two_replicas_given_the_same_change_make_one_model_and_one_set(
    pool: Any, settings: FullCircleSettings, tastes_server: Any, training: TrainingPool
) -> None:
    features_address = await tastes_server(ListenRules())
    user_id = uuid.uuid4()
    profile_version = await seed_listener(pool, user_id)
    event = ProfilesUpdated(
        user_id=user_id, profile_version=profile_version, listens=1, artists=60, changed=["plays"]
    )
    # the second replica: its own database pool, bus and training processes
    other_pool = await open_pool(settings.database_url, max_size=4)
    other_training = TrainingPool(1)
    buses = [Bus(settings, "model"), Bus(settings, "model")]
    for bus in buses:
        await bus.start()
    try:
        replicas = [
            Retrainer(
                SimpleNamespace(pool=db, bus=bus),  # type: ignore[arg-type]
                model_settings(settings, features_address),
                processes,
            )
            for db, bus, processes in zip(
                (pool, other_pool), buses, (training, other_training), strict=True
            )
        ]
        await asyncio.gather(*(replica.on_profile_updated(event) for replica in replicas))
        models = await learning_store.trained_models(pool, user_id)
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT set_id, model_version FROM model.recommendation_sets"
                " WHERE user_id = %s AND profile_version = %s",
                (user_id, profile_version),
            )
            sets = await cur.fetchall()
        assert len(models) == 1 and len(sets) == 1
        assert sets[0][1] == models[0]["model_version"]
        redis = Redis.from_url(settings.redis_url)
        try:
            entries = await redis.xrange(RECOMMENDATIONS_UPDATED)
        finally:
            await redis.aclose()
        published = [
            e[1][b"__data__"] for e in entries if str(user_id).encode() in e[1][b"__data__"]
        ]
        assert len(published) == 2  # each replica announces the one set
        assert all(str(sets[0][0]).encode() in data for data in published)
    finally:
        for bus in buses:
            await bus.stop()
        await other_training.stop()
        await other_pool.close()


async def test_a_set_is_stored_with_its_sources(pool: Any) -> None:
    user_id = uuid.uuid4()
    scored = ScoredArtist("Ghetts", 1.0, {"similar to Kano": 1.0}, ("Kano",), (), ("similar",))
    both = replace(scored, artist="Feid", sources=("tag_top", "co_listening"))
    items = [(item, *explain(item.parts), "") for item in (scored, both)]
    set_id = await store.save_set(
        pool, user_id, 1, f"hybrid:{user_id.hex[:12]}:m1", "hybrid", {}, items
    )
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist, sources FROM model.recommendations WHERE set_id = %s ORDER BY rank",
            (set_id,),
        )
        assert await cur.fetchall() == [
            ("Ghetts", ["similar"]),
            ("Feid", ["tag_top", "co_listening"]),
        ]


async def seed_newer_profile(pool: Any, user_id: uuid.UUID) -> int:
    """Features recomputing the same listener again: the next profile version."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE features.profiles SET version = version + 1 WHERE user_id = %s"
            " RETURNING version",
            (user_id,),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])
