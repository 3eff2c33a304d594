"""SQL adapter of the learned model: the listener as of now or as of a holdout cutoff (histories,
candidates with their provenance, co-listening of other users of the instance), and the
versioned trained models with the one in use; the per-listener retrain lock.

Reads features (artist stats, tag profile, profiles) and enrich (tags, similar artists, tag
top artists, listeners) as published read models, and the listener as of a cutoff from
features' Tastes API; writes only the model schema.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.model.adapters.store import _artist_tags, _similar_artists
from services.model.adapters.tastes import TastesClient
from services.model.domain.colistening import co_listening_causes
from services.model.domain.habits import seed_habits
from services.model.domain.learning import ListenerView, ModelParams, TrainedModel, pool_inputs
from services.model.domain.liked import ArtistHistory

SIMILAR = "similar"
TAG_TOP = "tag_top"
CO_LISTENING = "co_listening"


@dataclass(frozen=True)
class CandidatePool:
    """A listener view with what the view alone does not say: how the listener's data spells
    each artist, where each candidate came from, and every artist they have played at all."""

    view: ListenerView
    display_names: dict[str, str]
    sources: dict[str, tuple[str, ...]]
    played: frozenset[str]


@dataclass(frozen=True)
class StoredModel:
    model_version: str
    version: int
    params: ModelParams
    metrics: dict[str, Any]


@dataclass(frozen=True)
class PoolLimits:
    seed_artists: int
    candidate_tags: int
    co_listening_neighbours: int
    co_listening_candidates: int


async def load_now(
    pool: AsyncConnectionPool,
    user_id: UUID,
    limits: PoolLimits,
    excluded: frozenset[str] = frozenset(),
    liked: frozenset[str] = frozenset(),
    extra_artists: frozenset[str] = frozenset(),
) -> CandidatePool:
    """The listener now (features' artist stats); a liked recommendation counts among their
    artists as strongly as their strongest one; `extra_artists` get tags and popularity too
    (the classifier learns from disliked artists the listener never played)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_name, plays, listens, skips, decayed_weight, recent_listens, hour_band"
            " FROM features.artist_stats WHERE user_id = %s",
            (user_id,),
        )
        rows = await cur.fetchall()
        histories, display = _merge_histories([row[:5] for row in rows])
        habits = seed_habits([(row[0], row[2], row[5], row[6]) for row in rows])
        cur = await conn.execute(
            "SELECT tag FROM features.tag_profile WHERE user_id = %s"
            " ORDER BY weight DESC, tag LIMIT %s",
            (user_id, limits.candidate_tags),
        )
        top_tags = [tag for (tag,) in await cur.fetchall()]
        known = {h.artist: h.decayed_weight for h in histories if h.decayed_weight > 0}
        strongest = max(known.values(), default=1.0)
        for key in liked:
            known[key] = max(known.get(key, 0.0), strongest)
        played = frozenset({h.artist for h in histories} | liked)
        return await _candidate_pool(
            conn,
            user_id,
            histories,
            known,
            played,
            display,
            top_tags,
            limits,
            excluded,
            extra_artists,
            habits,
        )


async def load_as_of(
    pool: AsyncConnectionPool,
    tastes: TastesClient,
    user_id: UUID,
    cutoff: datetime,
    limits: PoolLimits,
) -> CandidatePool:
    """The listener as they were just before `cutoff`, as features' Tastes computes it (its
    listen threshold, skip rule, decay and tag profile), with the candidates of that past."""
    view = await tastes.training_view(user_id, cutoff, limits.candidate_tags)
    histories, display = _merge_histories(
        [(s.artist, s.plays, s.listens, s.skips, s.decayed_weight) for s in view.artist_stats]
    )
    known = {h.artist: h.decayed_weight for h in histories if h.decayed_weight > 0}
    habits = seed_habits(
        [(s.artist, s.listens, s.recent_listens, s.hour_band) for s in view.artist_stats]
    )
    async with pool.connection() as conn:
        return await _candidate_pool(
            conn,
            user_id,
            histories,
            known,
            frozenset(h.artist for h in histories),
            display,
            [tag.tag for tag in view.top_tags],
            limits,
            seed_habits=habits,
        )


async def load_first_listens(pool: AsyncConnectionPool, user_id: UUID) -> dict[str, datetime]:
    """Artist key -> the listener's first listen of it (artists only ever skipped have none)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT lower(artist_name), min(first_listen) FROM features.artist_stats"
            " WHERE user_id = %s AND first_listen IS NOT NULL GROUP BY lower(artist_name)",
            (user_id,),
        )
        return {key: first for key, first in await cur.fetchall()}


async def latest_profile_version(pool: AsyncConnectionPool, user_id: UUID) -> int | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT version FROM features.profiles WHERE user_id = %s", (user_id,)
        )
        row = await cur.fetchone()
    return int(row[0]) if row else None


async def feedback_by_kind(pool: AsyncConnectionPool, user_id: UUID) -> dict[str, frozenset[str]]:
    """Kind (like, dislike, do_not_recommend) -> artist keys, for the feedback in force now."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT kind, artist_key FROM model.feedback WHERE user_id = %s"
            " AND (expires_at IS NULL OR expires_at > now())",
            (user_id,),
        )
        by_kind: dict[str, set[str]] = defaultdict(set)
        for kind, key in await cur.fetchall():
            by_kind[kind].add(key)
    return {kind: frozenset(keys) for kind, keys in by_kind.items()}


async def excluded_artists(pool: AsyncConnectionPool, user_id: UUID) -> frozenset[str]:
    """Artist keys the listener excluded from their taste outright (features' read model):
    left out of what is learned, they are not recommended back as new either."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT DISTINCT lower(artist) FROM features.taste_exclusions"
            " WHERE user_id = %s AND removed_at IS NULL AND artist <> '' AND track = ''"
            " AND window_text = '' AND platform = '' AND hours_text = ''",
            (user_id,),
        )
        return frozenset(str(row[0]) for row in await cur.fetchall())


async def active_model(pool: AsyncConnectionPool, user_id: UUID) -> StoredModel | None:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT model_version, version, params, metrics FROM model.trained_models"
            " WHERE user_id = %s AND active",
            (user_id,),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return StoredModel(row[0], int(row[1]), ModelParams.from_json(row[2]), row[3])


async def save_trained_model(
    pool: AsyncConnectionPool,
    user_id: UUID,
    profile_version: int,
    method: str,
    model: TrainedModel,
    activate: bool,
) -> str:
    """Store a trained model as the listener's next version (active when `activate`, which
    retires the active one); returns its model version, "<method>:<user>:m<version>"."""
    async with pool.connection() as conn, conn.transaction():
        # one retrain per listener at a time takes the next version number
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 6))", (str(user_id),))
        cur = await conn.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM model.trained_models WHERE user_id = %s",
            (user_id,),
        )
        row = await cur.fetchone()
        assert row is not None
        version = int(row[0])
        model_version = f"{method}:{user_id.hex[:12]}:m{version}"
        if activate:
            await conn.execute(
                "UPDATE model.trained_models SET active = false WHERE user_id = %s AND active",
                (user_id,),
            )
        await conn.execute(
            """INSERT INTO model.trained_models (model_id, user_id, version, model_version,
                   profile_version, method, params, features, metrics, active)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                uuid.uuid4(),
                user_id,
                version,
                model_version,
                profile_version,
                method,
                json.dumps(model.params.to_json()),
                json.dumps(model.features),
                json.dumps(model.metrics),
                activate,
            ),
        )
    return model_version


async def trained_models(pool: AsyncConnectionPool, user_id: UUID) -> list[dict[str, Any]]:
    """Every trained model of the listener, oldest first."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT model_version, version, profile_version, created_at, params, features,"
            " metrics, active FROM model.trained_models WHERE user_id = %s ORDER BY version",
            (user_id,),
        )
        names = [column.name for column in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def existing_set(
    pool: AsyncConnectionPool, user_id: UUID, profile_version: int, revision: int = 0
) -> tuple[UUID, int, str] | None:
    """The set already made for this profile version and revision: id, size, model version."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT s.set_id, count(r.rank), s.model_version FROM model.recommendation_sets s"
            " LEFT JOIN model.recommendations r ON r.set_id = s.set_id"
            " WHERE s.user_id = %s AND s.profile_version = %s AND s.revision = %s"
            " GROUP BY s.set_id",
            (user_id, profile_version, revision),
        )
        row = await cur.fetchone()
    return (row[0], int(row[1]), row[2]) if row else None


def _merge_histories(
    rows: Sequence[tuple[Any, ...]],
) -> tuple[list[ArtistHistory], dict[str, str]]:
    """(name, plays, listens, skips, decayed weight) rows -> histories keyed lower-case (one
    artist spelled two ways is one artist) and the first spelling of each key."""
    merged: dict[str, list[float]] = {}
    display: dict[str, str] = {}
    for name, plays, listens, skips, weight in rows:
        key = name.lower()
        display.setdefault(key, name)
        totals = merged.setdefault(key, [0.0, 0.0, 0.0, 0.0])
        for i, value in enumerate((plays, listens, skips, weight)):
            totals[i] += float(value)
    histories = [
        ArtistHistory(key, int(plays), int(listens), int(skips), weight)
        for key, (plays, listens, skips, weight) in sorted(merged.items())
    ]
    return histories, display


async def _candidate_pool(
    conn: AsyncConnection,
    user_id: UUID,
    histories: list[ArtistHistory],
    known: dict[str, float],
    played: frozenset[str],
    display: dict[str, str],
    top_tags: Sequence[str],
    limits: PoolLimits,
    excluded: frozenset[str] = frozenset(),
    extra_artists: frozenset[str] = frozenset(),
    seed_habits: Mapping[str, str] | None = None,
) -> CandidatePool:
    """Candidates from the seeds' similar artists, the top tags' top artists and co-listening,
    each with its sources; tags and listener counts of everyone involved."""
    seeds = sorted(known, key=lambda key: (-known[key], key))[: limits.seed_artists]
    similar = await _similar_artists(conn, seeds, display)
    cur = await conn.execute(
        "SELECT artist_key, name FROM enrich.tag_top_artists WHERE tag = ANY(%s)",
        (list(top_tags),),
    )
    by_tag = await cur.fetchall()
    for key, name in by_tag:
        display.setdefault(key, name)
    co_listening = await _co_listening(conn, user_id, known, limits)
    sources: dict[str, set[str]] = defaultdict(set)
    for pairs in similar.values():
        for candidate, _ in pairs:
            sources[candidate].add(SIMILAR)
    for key, _ in by_tag:
        sources[key].add(TAG_TOP)
    for key in co_listening:
        sources[key].add(CO_LISTENING)
    candidates = sorted(set(sources) - played - excluded)
    everyone = sorted({*known, *candidates, *extra_artists})
    artist_tags = await _artist_tags(conn, everyone)
    cur = await conn.execute(
        "SELECT artist_key, name, listeners FROM enrich.artists"
        " WHERE artist_key = ANY(%s) AND listeners IS NOT NULL",
        (everyone,),
    )
    listeners: dict[str, float] = {}
    for key, name, count in await cur.fetchall():
        listeners[key] = float(count)
        display.setdefault(key, name)
    scoring = pool_inputs(
        known,
        artist_tags,
        similar,
        listeners,
        everyone,
        {key: co_listening[key] for key in candidates if key in co_listening},
        seed_habits,
    )
    return CandidatePool(
        view=ListenerView(scoring, histories, candidates),
        display_names=display,
        sources={key: tuple(sorted(sources[key])) for key in candidates},
        played=played,
    )


async def _co_listening(
    conn: AsyncConnection, user_id: UUID, known: Mapping[str, float], limits: PoolLimits
) -> dict[str, dict[str, float]]:
    """Co-listening scores, each by the listener's artists that carry it, from the other
    listeners who share the most artists with these (four times the neighbours, by shared
    count; the domain keeps the nearest by cosine)."""
    if not known or limits.co_listening_candidates == 0:
        return {}
    cur = await conn.execute(
        """WITH nearest AS (
               SELECT user_id FROM features.artist_stats
               WHERE user_id <> %(user)s AND listens > 0 AND lower(artist_name) = ANY(%(own)s)
               GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT %(nearest)s)
           SELECT s.user_id, lower(s.artist_name) FROM features.artist_stats s
           JOIN nearest USING (user_id) WHERE s.listens > 0""",
        {"user": user_id, "own": list(known), "nearest": 4 * limits.co_listening_neighbours},
    )
    others: dict[str, set[str]] = defaultdict(set)
    for other, artist in await cur.fetchall():
        others[str(other)].add(artist)
    return co_listening_causes(
        known, others, limits.co_listening_neighbours, limits.co_listening_candidates
    )


# Retraining a listener, as opposed to numbering their models (save_trained_model's lock).
_RETRAIN_LOCK_SEED = 12
LOCK_POLL_SECONDS = 0.2


async def wait_for_listener_lock(conn: AsyncConnection, user_id: UUID) -> None:
    """Take the listener's retrain lock in `conn`'s transaction, waiting for a retrain that
    holds it: an account erased meanwhile would get the retrain's set back after it."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))",
        (str(user_id), _RETRAIN_LOCK_SEED),
    )


@asynccontextmanager
async def listener_lock(
    pool: AsyncConnectionPool, user_id: UUID, poll_seconds: float = LOCK_POLL_SECONDS
) -> AsyncIterator[None]:
    """Hold the listener's retrain lock, shared by every model replica on this database.

    A transaction-scoped advisory lock: the end of the transaction (also a crash or a lost
    connection) frees it, so no pooled connection goes back holding it. A waiter polls with
    pg_try_advisory_xact_lock instead of blocking in pg_advisory_xact_lock, so waiting never
    ties up a pooled connection the lock's holder may need."""
    while True:
        async with pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, %s))",
                (str(user_id), _RETRAIN_LOCK_SEED),
            )
            row = await cur.fetchone()
            if row is not None and row[0]:
                yield
                return
        await asyncio.sleep(poll_seconds)
