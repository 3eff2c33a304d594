"""Taking a listener's data back out, per service, on a real PostgreSQL and Redis: ingest
deletes the plays a request names (one artist, a time range, one import) and answers once
however often the request arrives; another listener's import is not found and loses nothing;
features recomputes the profile without the deleted plays; and each service's account erasure
leaves no row of the listener in its schema while other listeners keep every row."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from psycopg import sql

from fullcircle.bus import Bus, decode_entry
from fullcircle.erasure import AccountEraser
from fullcircle.events import (
    AccountDeletionRequested,
    AccountErased,
    ArtistsEnriched,
    FeaturesAccountErased,
    IngestAccountErased,
    ModelAccountErased,
    PlaysDeleted,
    PlaysDeletionRequested,
    ProfilesUpdated,
)
from fullcircle.settings import FullCircleSettings
from services.features.app import ProfileBuilder
from services.features.settings import FeaturesSettings
from services.gateway.adapters import accounts
from services.ingest.adapters import store
from services.ingest.deletions import PlayDeleter
from services.ingest.domain.announce import import_report
from services.ingest.domain.exports import ParsedExport, read_export_path
from services.model.adapters.learning_store import wait_for_listener_lock
from services.model.app import Retrainer
from services.model.settings import ModelSettings
from services.model.training import TrainingPool

pytestmark = pytest.mark.integration

HISTORY = "spotify-history-efrrowini"


def _history(shared_data: Path, year: int) -> ParsedExport:
    return read_export_path(shared_data / HISTORY / f"Streaming_History_Audio_{year}.json")


async def _stored(pool: Any, user_id: uuid.UUID, export: ParsedExport) -> uuid.UUID:
    """One finished import of `export` for the listener; its id."""
    import_id = uuid.uuid4()
    await store.start_import(pool, import_id, user_id, "history.json")

    async def unwatched(_: int) -> None:
        return None

    await store.store_export(
        pool, user_id, import_id, lambda _hand: export,
        chunk_rows=5_000, report_of=import_report, on_chunk=unwatched,
    )  # fmt: skip
    return import_id


async def _rows_of(pool: Any, user_id: uuid.UUID, schema: str) -> dict[str, int]:
    """Rows of the listener in every table of `schema` with a uuid column holding their id."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND data_type = 'uuid'",
            (schema,),
        )
        rows: Counter[str] = Counter()
        for table, column in await cur.fetchall():
            count = await conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                    sql.Identifier(schema, table), sql.Identifier(column)
                ),
                (user_id,),
            )
            found = await count.fetchone()
            if found and found[0]:
                rows[table] += found[0]
    return dict(rows)


async def _plays(pool: Any, user_id: uuid.UUID, condition: str = "true", *values: Any) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT count(*) FROM ingest.plays WHERE user_id = %s AND {condition}",
            (user_id, *values),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _answers(bus: Bus, answer: type[Any]) -> list[Any]:
    return [decode_entry(fields, answer) for _, fields in await bus.redis.xrange(answer.stream)]


@pytest.fixture
async def bus_of(settings: FullCircleSettings) -> Any:
    """Starts a service's bus (each once); every one is stopped after the test."""
    started: dict[str, Bus] = {}

    async def start(service: str) -> Bus:
        if service not in started:
            started[service] = Bus(settings, service)
            await started[service].start()
        return started[service]

    yield start
    for bus in started.values():
        await bus.stop()


@pytest.fixture
async def ingest_bus(bus_of: Any) -> Bus:
    bus: Bus = await bus_of("ingest")
    return bus


async def _profiled(
    pool: Any, settings: FullCircleSettings, bus_of: Any, shared_data: Path
) -> tuple[uuid.UUID, ProfileBuilder]:
    """A new listener with a year of real history and the profile features made of it."""
    listener = uuid.uuid4()
    await _stored(pool, listener, _history(shared_data, 2022))
    builder = _builder(pool, settings, await bus_of("features"))
    await builder.refresh(listener, datetime.now(UTC), "plays")
    return listener, builder


def _builder(pool: Any, settings: FullCircleSettings, bus: Bus) -> ProfileBuilder:
    return ProfileBuilder(
        SimpleNamespace(pool=pool, bus=bus),  # type: ignore[arg-type]
        FeaturesSettings(database_url=settings.database_url, redis_url=settings.redis_url),
    )


async def test_one_artist_goes_case_insensitively_and_is_answered_once(
    pool: Any, ingest_bus: Bus, shared_data: Path
) -> None:
    export = _history(shared_data, 2023)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    await _stored(pool, alice, export)
    await _stored(pool, bob, export)
    artist, in_export = Counter(p.artist_name for p in export.plays if p.artist_name).most_common(
        1
    )[0]
    total = await _plays(pool, alice)
    assert await _plays(pool, alice, "artist_name = %s", artist) == in_export > 0

    deleter = PlayDeleter(SimpleNamespace(pool=pool, bus=ingest_bus))  # type: ignore[arg-type]
    request = PlaysDeletionRequested(user_id=alice, artist=artist.upper())
    await deleter.on_deletion_requested(request)
    await deleter.on_deletion_requested(request)  # redelivered: nothing more, no second answer

    (answer,) = await _answers(ingest_bus, PlaysDeleted)
    assert answer.request_id == request.event_id and answer.refused == ""
    assert answer.removed == {"plays": in_export}
    assert await _plays(pool, alice, "lower(artist_name) = lower(%s)", artist) == 0
    assert await _plays(pool, alice) == total - in_export
    assert await _plays(pool, bob) == total


async def test_a_time_range_and_one_import_go_and_nothing_else(
    pool: Any, ingest_bus: Bus, shared_data: Path
) -> None:
    earlier, later = _history(shared_data, 2023), _history(shared_data, 2024)
    alice = uuid.uuid4()
    await _stored(pool, alice, earlier)
    later_import = await _stored(pool, alice, later)
    later_stored = await _plays(pool, alice, "import_id = %s", later_import)
    middle = sorted(p.ended_at for p in earlier.plays)[len(earlier.plays) // 2]
    played_from = middle.replace(hour=0, minute=0, second=0, microsecond=0)
    played_to = played_from + timedelta(days=7)
    in_range = sum(played_from <= p.ended_at < played_to for p in earlier.plays)
    total = await _plays(pool, alice)
    deleter = PlayDeleter(SimpleNamespace(pool=pool, bus=ingest_bus))  # type: ignore[arg-type]

    await deleter.on_deletion_requested(
        PlaysDeletionRequested(user_id=alice, played_from=played_from, played_to=played_to)
    )
    await deleter.on_deletion_requested(
        PlaysDeletionRequested(user_id=alice, import_id=later_import)
    )

    by_range, by_import = await _answers(ingest_bus, PlaysDeleted)
    assert by_range.removed == {"plays": in_range} and in_range > 0
    assert by_import.removed == {"plays": later_stored, "imports": 1} and later_stored > 0
    assert (
        await _plays(pool, alice, "ended_at >= %s AND ended_at < %s", played_from, played_to) == 0
    )
    assert await _plays(pool, alice) == total - in_range - later_stored
    assert await store.get_import(pool, later_import) is None


async def test_another_listeners_import_is_not_found_and_loses_nothing(
    pool: Any, ingest_bus: Bus, shared_data: Path
) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    alices_import = await _stored(pool, alice, _history(shared_data, 2022))
    plays = await _plays(pool, alice)
    running = uuid.uuid4()
    await store.start_import(pool, running, bob, "still-importing.json")
    deleter = PlayDeleter(SimpleNamespace(pool=pool, bus=ingest_bus))  # type: ignore[arg-type]

    await deleter.on_deletion_requested(
        PlaysDeletionRequested(user_id=uuid.uuid4(), import_id=alices_import)
    )
    await deleter.on_deletion_requested(PlaysDeletionRequested(user_id=bob, everything=True))

    probe, while_importing = await _answers(ingest_bus, PlaysDeleted)
    assert probe.refused == "not_found" and probe.removed == {}
    assert str(alice) not in probe.message
    assert while_importing.refused == "running" and str(running) in while_importing.message
    assert await _plays(pool, alice) == plays > 0
    assert (await store.get_import(pool, alices_import)) is not None


async def test_features_recompute_without_the_deleted_artist(
    pool: Any, settings: FullCircleSettings, bus_of: Any, ingest_bus: Bus, shared_data: Path
) -> None:
    export = _history(shared_data, 2023)
    alice = uuid.uuid4()
    await _stored(pool, alice, export)
    artist = Counter(p.artist_name for p in export.plays if p.artist_name).most_common(1)[0][0]
    features_bus = await bus_of("features")
    builder = _builder(pool, settings, features_bus)
    await builder.refresh(alice, datetime.now(UTC), "plays")
    assert artist in await _profile_artists(pool, alice)
    deleter = PlayDeleter(SimpleNamespace(pool=pool, bus=ingest_bus))  # type: ignore[arg-type]
    await deleter.on_deletion_requested(PlaysDeletionRequested(user_id=alice, artist=artist))
    (answer,) = await _answers(ingest_bus, PlaysDeleted)
    await builder.on_plays_deleted(answer)
    first, second = await _answers(features_bus, ProfilesUpdated)
    artists = await _profile_artists(pool, alice)
    assert artist not in artists and artists
    assert second.profile_version > first.profile_version
    assert second.artists == first.artists - 1 and artist not in second.top_artists


async def _profile_artists(pool: Any, user_id: uuid.UUID) -> set[str]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_name FROM features.artist_stats WHERE user_id = %s", (user_id,)
        )
        return {row[0] for row in await cur.fetchall()}


async def _erase(
    pool: Any, bus: Bus, answer: type[AccountErased], user_id: uuid.UUID, lock: Any = None
) -> list[AccountErased]:
    """The service's account erasure run for the listener, the request delivered twice."""
    eraser = AccountEraser(pool, bus, answer, lock)
    request = AccountDeletionRequested(user_id=user_id)
    await eraser.on_account_deletion(request)
    await eraser.on_account_deletion(request)
    return await _answers(bus, answer)


async def test_ingest_erases_every_row_of_the_listener_only(
    pool: Any, ingest_bus: Bus, shared_data: Path
) -> None:
    export = _history(shared_data, 2022)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    for listener in (alice, bob):
        await _stored(pool, listener, export)
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO ingest.spotify_link_requests (state, user_id, user_name,"
                " sealed_verifier, time_zone, sync_cron) VALUES (%s, %s, 'x', '\\x00', 'UTC', '')",
                (uuid.uuid4().hex, listener),
            )
    before, bobs = await _rows_of(pool, alice, "ingest"), await _rows_of(pool, bob, "ingest")
    assert set(before) == {"plays", "imports", "spotify_link_requests"}

    (answer,) = await _erase(pool, ingest_bus, IngestAccountErased, alice)

    assert answer.removed == before
    assert await _rows_of(pool, alice, "ingest") == {}
    assert await _rows_of(pool, bob, "ingest") == bobs


async def test_features_erase_every_row_of_the_listener_only(
    pool: Any, settings: FullCircleSettings, bus_of: Any, shared_data: Path
) -> None:
    export = _history(shared_data, 2022)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    features_bus = await bus_of("features")
    builder = _builder(pool, settings, features_bus)
    for listener in (alice, bob):
        await _stored(pool, listener, export)
        await builder.refresh(listener, datetime.now(UTC), "plays")
    before, bobs = await _rows_of(pool, alice, "features"), await _rows_of(pool, bob, "features")
    assert {"profiles", "artist_stats"} <= set(before)

    (answer,) = await _erase(pool, features_bus, FeaturesAccountErased, alice)

    assert answer.removed == before
    assert await _rows_of(pool, alice, "features") == {}
    assert await _rows_of(pool, bob, "features") == bobs


async def _seed_model(pool: Any, user_id: uuid.UUID) -> uuid.UUID:
    """A model version, a set made with it (two recommendations), feedback; the set's id."""
    version, set_id = f"hybrid:{user_id}:m1", uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO model.model_versions (model_version, user_id, method)"
            " VALUES (%s, %s, 'hybrid')",
            (version, user_id),
        )
        await conn.execute(
            "INSERT INTO model.recommendation_sets (set_id, user_id, profile_version,"
            " model_version) VALUES (%s, %s, 1, %s)",
            (set_id, user_id, version),
        )
        for rank, artist in enumerate(("Caribou", "Bonobo")):
            await conn.execute(
                "INSERT INTO model.recommendations (set_id, rank, artist, mode, score, because,"
                " parts, similar_to, top_tags) VALUES (%s, %s, %s, 'discovery', 0.5, '', '[]',"
                " '{}', '{}')",
                (set_id, rank, artist),
            )
        await conn.execute(
            "INSERT INTO model.feedback (user_id, artist_key, artist, kind)"
            " VALUES (%s, 'four tet', 'Four Tet', 'like')",
            (user_id,),
        )
    return set_id


async def test_model_erases_every_row_of_the_listener_only(pool: Any, bus_of: Any) -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    alices_set = await _seed_model(pool, alice)
    await _seed_model(pool, bob)
    bobs = await _rows_of(pool, bob, "model")

    # sets reference the model version: erased in the order the foreign keys need
    model_bus = await bus_of("model")
    (answer,) = await _erase(pool, model_bus, ModelAccountErased, alice, wait_for_listener_lock)

    assert answer.removed == {"model_versions": 1, "recommendation_sets": 1, "feedback": 1}
    assert await _rows_of(pool, alice, "model") == {}
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM model.recommendations WHERE set_id = %s", (alices_set,)
        )
        assert await cur.fetchone() == (0,)
    assert await _rows_of(pool, bob, "model") == bobs


async def test_gateway_erases_the_user_keys_and_uploads(pool: Any) -> None:
    async with pool.connection() as conn:
        alice, _ = await accounts.create_user(conn, f"alice-{uuid.uuid4().hex[:8]}")
        bob, _ = await accounts.create_user(conn, f"bob-{uuid.uuid4().hex[:8]}")
    for listener in (alice, bob):
        await accounts.store_upload(pool, listener, "history.json", b"[]")
    bobs = await _rows_of(pool, bob, "gateway")

    removed = await accounts.erase_account(pool, alice)

    assert removed == {"users": 1, "api_keys": 1, "uploads": 1}
    assert await _rows_of(pool, alice, "gateway") == {}
    assert await _rows_of(pool, bob, "gateway") == bobs == {"users": 1, "api_keys": 1, "uploads": 1}


async def test_deleting_everything_leaves_an_empty_profile(
    pool: Any, settings: FullCircleSettings, bus_of: Any, ingest_bus: Bus, shared_data: Path
) -> None:
    alice, builder = await _profiled(pool, settings, bus_of, shared_data)
    features_bus = builder.bus
    deleter = PlayDeleter(SimpleNamespace(pool=pool, bus=ingest_bus))  # type: ignore[arg-type]
    await deleter.on_deletion_requested(PlaysDeletionRequested(user_id=alice, everything=True))
    (answer,) = await _answers(ingest_bus, PlaysDeleted)
    await builder.on_plays_deleted(answer)

    _, emptied = await _answers(features_bus, ProfilesUpdated)
    assert answer.removed["plays"] > 0 and answer.removed["imports"] == 1
    assert emptied.artists == 0 and emptied.listens == 0 and emptied.top_artists == []
    assert await _profile_artists(pool, alice) == set()
    assert await _plays(pool, alice) == 0


async def _waiting_on_a_lock(pool: Any) -> bool:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND wait_event = 'advisory'"
        )
        row = await cur.fetchone()
    return bool(row and row[0])


async def test_an_account_erased_while_an_import_stores_loses_that_import_too(
    pool: Any, ingest_bus: Bus, shared_data: Path
) -> None:
    alice = uuid.uuid4()
    await _stored(pool, alice, _history(shared_data, 2022))
    later = _history(shared_data, 2023)
    parsing, release = threading.Event(), threading.Event()

    def slow_parse(_hand: Any) -> ParsedExport:
        parsing.set()
        release.wait()
        return later

    async def unwatched(_: int) -> None:
        return None

    import_id = uuid.uuid4()
    await store.start_import(pool, import_id, alice, "later.json")
    importing = asyncio.ensure_future(
        store.store_export(
            pool,
            alice,
            import_id,
            slow_parse,
            chunk_rows=5_000,
            report_of=import_report,
            on_chunk=unwatched,
        )
    )
    await asyncio.to_thread(parsing.wait)  # the import's transaction is open, its plays unseen
    erasing = asyncio.ensure_future(
        AccountEraser(pool, ingest_bus, IngestAccountErased, store.lock_listener)
        .on_account_deletion(AccountDeletionRequested(user_id=alice))
    )  # fmt: skip
    while not erasing.done() and not await _waiting_on_a_lock(pool):
        await asyncio.sleep(0.05)
    release.set()
    await importing
    await erasing

    assert await _rows_of(pool, alice, "ingest") == {}


async def test_a_profile_change_of_an_erased_listener_makes_no_set(
    pool: Any, settings: FullCircleSettings, bus_of: Any, training: TrainingPool
) -> None:
    """A profile announced before the account deletion and handled after it (the retrain's
    debounce outlasts the erasures) leaves nothing behind in the model."""
    alice = uuid.uuid4()
    retrainer = Retrainer(
        SimpleNamespace(pool=pool, bus=await bus_of("model")),  # type: ignore[arg-type]
        ModelSettings(
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            retrain_debounce_seconds=0.0,
        ),
        training,
    )
    await retrainer.on_profile_updated(
        ProfilesUpdated(user_id=alice, profile_version=3, listens=40, artists=9, changed=["plays"])
    )
    assert await _rows_of(pool, alice, "model") == {}


async def test_tags_arriving_after_the_account_is_erased_bring_no_profile_back(
    pool: Any, settings: FullCircleSettings, bus_of: Any, ingest_bus: Bus, shared_data: Path
) -> None:
    alice, builder = await _profiled(pool, settings, bus_of, shared_data)
    features_bus = builder.bus
    await _erase(pool, ingest_bus, IngestAccountErased, alice)
    await _erase(pool, features_bus, FeaturesAccountErased, alice)

    # enrich tagged the listener's artists meanwhile, at Last.fm's pace
    await builder.on_artists_enriched(
        ArtistsEnriched(user_id=alice, artists=22, tagged=20, not_found=2, api_calls=44)
    )

    assert await _rows_of(pool, alice, "features") == {}
    assert len(await _answers(features_bus, ProfilesUpdated)) == 1  # the one before
