"""`fullcircle replay` after Redis lost its data: what it re-publishes from Postgres, and for whom.
(tests/e2e/test_infra_faults.py runs it against a stack whose Redis lost its data.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from psycopg import AsyncConnection
from redis.asyncio import Redis

from fullcircle.bus import Bus, decode_entry
from fullcircle.events import (
    IMPORTS_REQUESTED,
    PLAYS_INGESTED,
    ImportRequested,
    PlaysIngested,
)
from fullcircle.settings import FullCircleSettings
from services.gateway.adapters.accounts import create_user, store_upload
from services.gateway.adapters.uploads import record_outcome
from tools.cli.replay import replay

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 20, 0, tzinfo=UTC)


async def _synced_plays(
    database_url: str, user_id: UUID, artists: list[str], import_id: UUID | None = None
) -> None:
    """Plays of the listener as ingest stores them: synced live, or of `import_id`."""
    async with await AsyncConnection.connect(database_url) as conn:
        for n, artist in enumerate(artists):
            await conn.execute(
                "INSERT INTO ingest.plays (user_id, play_key, ended_at, ms_played, artist_name,"
                " track_name, source, import_id)"
                " VALUES (%s, %s, %s, 200000, %s, 'A Track', 'spotify', %s)",
                (
                    user_id,
                    f"replay-{user_id}-{import_id}-{n}",
                    T0 + timedelta(minutes=4 * n),
                    artist,
                    import_id,
                ),
            )


async def _events(redis_url: str, stream: str, event_type):  # type: ignore[no-untyped-def]
    redis = Redis.from_url(redis_url)
    try:
        return [decode_entry(fields, event_type) for _, fields in await redis.xrange(stream)]
    finally:
        await redis.aclose()


async def test_replay_republishes_uploads_and_synced_plays_of_the_listener_only(
    pool, settings: FullCircleSettings
) -> None:
    database_url = settings.database_url
    async with await AsyncConnection.connect(database_url) as conn:
        alice, _ = await create_user(conn, "replay-alice")
        bob, _ = await create_user(conn, "replay-bob")
    upload_id, import_id = await store_upload(pool, alice, "my_spotify_data.zip", b"PK\x03\x04")
    await store_upload(pool, bob, "bobs.zip", b"PK\x03\x04")
    await _synced_plays(database_url, alice, ["Burna Boy", "Burna Boy", "Tems", "O'Brien; --"])
    await _synced_plays(database_url, bob, ["Someone Else"])

    bus = Bus(settings, "replay")
    await bus.start()
    try:
        report = await replay(database_url, bus, alice)
    finally:
        await bus.stop()

    assert (report.listeners, report.imports, report.import_batches) == (1, 1, 0)
    assert report.sync_batches == 1
    requested = await _events(settings.redis_url, IMPORTS_REQUESTED, ImportRequested)
    assert [(e.user_id, e.upload_id, e.import_id) for e in requested] == [
        (alice, upload_id, import_id)
    ]
    assert requested[0].file_name == "my_spotify_data.zip"
    [synced] = await _events(settings.redis_url, PLAYS_INGESTED, PlaysIngested)
    assert synced.user_id == alice and synced.import_id is None
    assert synced.artists == ["Burna Boy", "O'Brien; --", "Tems"]  # most played first
    assert synced.new_plays == 4
    assert synced.first_played_at == T0
    assert synced.last_played_at == T0 + timedelta(minutes=12)


async def test_replay_of_everyone_covers_every_listener(pool, settings: FullCircleSettings) -> None:
    async with await AsyncConnection.connect(settings.database_url) as conn:
        carol, _ = await create_user(conn, "replay-carol")
    await store_upload(pool, carol, "carol.json", b"[]")
    bus = Bus(settings, "replay")
    await bus.start()
    try:
        report = await replay(settings.database_url, bus)
    finally:
        await bus.stop()
    requested = await _events(settings.redis_url, IMPORTS_REQUESTED, ImportRequested)
    assert carol in {event.user_id for event in requested}
    assert report.imports == len(requested) >= 1
    assert report.listeners == len(
        {event.user_id for event in requested}
        | {e.user_id for e in await _events(settings.redis_url, PLAYS_INGESTED, PlaysIngested)}
    )


async def test_imports_whose_upload_bytes_are_gone_are_replayed_from_their_plays(
    pool, settings: FullCircleSettings
) -> None:
    """An import done (its upload's parts deleted, the row kept) is replayed from its plays in
    PostgreSQL; one whose parts remain is re-requested, and its plays are not sent twice."""
    async with await AsyncConnection.connect(settings.database_url) as conn:
        dana, _ = await create_user(conn, "replay-dana")
    _, done_import = await store_upload(pool, dana, "2023.json", b"[1]")
    kept_upload, kept_import = await store_upload(pool, dana, "2024.json", b"[2]")
    await record_outcome(pool, done_import, "done", delete_parts=True)
    await _synced_plays(settings.database_url, dana, ["Tems", "Tems", "Wizkid"], done_import)
    await _synced_plays(settings.database_url, dana, ["Asake"], kept_import)
    bus = Bus(settings, "replay")
    await bus.start()
    try:
        report = await replay(settings.database_url, bus, dana)
    finally:
        await bus.stop()
    requested = await _events(settings.redis_url, IMPORTS_REQUESTED, ImportRequested)
    assert [(e.upload_id, e.import_id) for e in requested] == [(kept_upload, kept_import)]
    [from_plays] = await _events(settings.redis_url, PLAYS_INGESTED, PlaysIngested)
    assert (from_plays.user_id, from_plays.import_id) == (dana, done_import)
    assert from_plays.artists == ["Tems", "Wizkid"] and from_plays.new_plays == 3
    assert (report.imports, report.import_batches, report.sync_batches) == (1, 1, 0)
