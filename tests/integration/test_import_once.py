"""Imports on a real PostgreSQL and Redis. An import is done once: the same imports.requested
delivered twice (one after the other, or both at once) stores its plays once, keeps one report
with the true counts and announces one done; implausible dates in it are counted in that
report. And a one-row upload of a far-future play leaves the listener's recommendations sane."""

from __future__ import annotations

import asyncio
import io
import json
import math
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from psycopg import AsyncConnection
from redis.asyncio import Redis

from fullcircle import events
from fullcircle.bus import Bus, decode_entry
from fullcircle.service import ServiceRuntime
from fullcircle.settings import FullCircleSettings
from services.features.adapters.store import load_plays
from services.features.domain.listener import ListenRules, listener_as_of
from services.gateway.adapters.accounts import create_user, store_upload
from services.ingest.adapters import store
from services.ingest.app import Importer
from services.ingest.domain.exports import read_export
from services.ingest.settings import IngestSettings
from services.model.domain.scoring import HybridWeights, ScoringInputs, score_candidates

pytestmark = pytest.mark.integration

REQUESTED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FILE_NAME = "Streaming_History_Audio_2024.json"
DAMAGED_STAMPS = ("9999-12-31T23:59:59Z", "1900-01-01T00:00:00Z")


def _upload(shared_data: Path) -> bytes:
    """efrrowini's 2024 history with a far-future and a 1900 play added."""
    rows = json.loads((shared_data / "spotify-history-efrrowini" / FILE_NAME).read_bytes())
    template = next(row for row in rows if row.get("spotify_track_uri"))
    damaged = [{**template, "ts": ts} for ts in DAMAGED_STAMPS]
    return json.dumps([*rows, *damaged]).encode()


async def _request(
    pool: Any, settings: FullCircleSettings, payload: bytes, user_id: uuid.UUID | None = None
) -> events.ImportRequested:
    if user_id is None:
        async with await AsyncConnection.connect(settings.database_url) as conn:
            user_id, _ = await create_user(conn, f"once-{uuid.uuid4().hex[:12]}")
    upload_id, import_id = await store_upload(pool, user_id, FILE_NAME, payload)
    return events.ImportRequested(
        user_id=user_id,
        import_id=import_id,
        upload_id=upload_id,
        file_name=FILE_NAME,
        size_bytes=len(payload),
        occurred_at=REQUESTED_AT,
    )


async def _events(redis_url: str, event_type: Any, import_id: uuid.UUID) -> list[Any]:
    redis = Redis.from_url(redis_url)
    try:
        entries = [
            decode_entry(fields, event_type) for _, fields in await redis.xrange(event_type.stream)
        ]
    finally:
        await redis.aclose()
    return [event for event in entries if event.import_id == import_id]


async def _record(pool: Any, import_id: uuid.UUID) -> tuple[Any, ...]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status, plays_read, plays_new, duplicates, rejected, report,"
            " (SELECT count(*) FROM ingest.plays WHERE import_id = %s)"
            " FROM ingest.imports WHERE import_id = %s",
            (import_id, import_id),
        )
        row = await cur.fetchone()
    assert row is not None
    return tuple(row)


@pytest.fixture
async def importer(pool: Any, settings: FullCircleSettings) -> Any:
    bus = Bus(settings, "ingest")
    await bus.start()
    runtime = SimpleNamespace(pool=pool, bus=bus)
    yield Importer(cast(ServiceRuntime, runtime), IngestSettings(**settings.model_dump()))
    await bus.stop()


async def _assert_done_once(
    pool: Any, settings: FullCircleSettings, request: events.ImportRequested, payload: bytes
) -> None:
    expected = read_export(FILE_NAME, payload, requested_at=REQUESTED_AT)
    plays = len(expected.plays)
    status, read, new, duplicates, rejected, report, stored = await _record(pool, request.import_id)
    assert (status, read, new, duplicates, stored) == ("done", plays, plays, 0, plays)
    assert rejected == 2
    assert report["rejected_reasons"] == {
        "dated in the future": 1,
        "dated before Spotify existed": 1,
    }

    progress = await _events(settings.redis_url, events.ImportProgress, request.import_id)
    done = [event for event in progress if event.stage == "done"]
    assert len(done) == 1, [event.message for event in done]
    assert (done[0].plays_read, done[0].plays_new, done[0].duplicates) == (plays, plays, 0)
    assert done[0].message.endswith(
        "2 rows rejected: 1 dated before Spotify existed, 1 dated in the future"
    )
    ingested = await _events(settings.redis_url, events.PlaysIngested, request.import_id)
    assert sum(event.new_plays for event in ingested) == plays
    assert len({(event.batch, event.batches) for event in ingested}) == len(ingested)


async def test_an_import_delivered_twice_in_turn_is_done_once(
    pool: Any, settings: FullCircleSettings, importer: Importer, shared_data: Path
) -> None:
    payload = _upload(shared_data)
    request = await _request(pool, settings, payload)
    await importer.on_import_requested(request)
    await importer.on_import_requested(request)
    await _assert_done_once(pool, settings, request, payload)


async def test_an_import_delivered_twice_at_once_is_done_once(
    pool: Any, settings: FullCircleSettings, importer: Importer, shared_data: Path
) -> None:
    payload = _upload(shared_data)
    request = await _request(pool, settings, payload)
    await asyncio.gather(
        importer.on_import_requested(request), importer.on_import_requested(request)
    )
    await _assert_done_once(pool, settings, request, payload)


async def test_an_import_whose_announcement_was_cut_short_is_announced_by_the_redelivery(
    pool: Any, settings: FullCircleSettings, importer: Importer, shared_data: Path
) -> None:
    """Stored and committed, then the process died before its done went out (announced_for
    never recorded): the redelivery announces it, from the stored report, and only once."""
    payload = _upload(shared_data)
    request = await _request(pool, settings, payload)
    await importer.on_import_requested(request)
    redis = Redis.from_url(settings.redis_url)
    try:
        await redis.delete(events.IMPORTS_PROGRESS, events.PLAYS_INGESTED)
    finally:
        await redis.aclose()
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE ingest.imports SET announced_for = NULL WHERE import_id = %s",
            (request.import_id,),
        )
    await asyncio.gather(
        importer.on_import_requested(request), importer.on_import_requested(request)
    )
    await _assert_done_once(pool, settings, request, payload)


async def test_a_replayed_request_announces_the_same_report_again(
    pool: Any, settings: FullCircleSettings, importer: Importer, shared_data: Path
) -> None:
    """`fullcircle replay` (Redis lost the bus) requests a finished import anew, as a new
    event: it announces the stored record again, never a new report of duplicates."""
    payload = _upload(shared_data)
    request = await _request(pool, settings, payload)
    await importer.on_import_requested(request)
    replayed = request.model_copy(
        update={"event_id": uuid.uuid4(), "occurred_at": datetime.now(UTC)}
    )
    await importer.on_import_requested(replayed)
    await importer.on_import_requested(replayed)

    progress = await _events(settings.redis_url, events.ImportProgress, request.import_id)
    done = [
        (e.plays_read, e.plays_new, e.duplicates, e.message) for e in progress if e.stage == "done"
    ]
    assert len(done) == 2 and done[0] == done[1]
    assert done[0][2] == 0
    status, read, new, duplicates, *_ = await _record(pool, request.import_id)
    assert (status, new, duplicates) == ("done", read, 0)


async def test_a_redelivered_failed_import_says_so_once(
    pool: Any, settings: FullCircleSettings, importer: Importer
) -> None:
    request = await _request(pool, settings, b"not an export")
    await importer.on_import_requested(request)
    await importer.on_import_requested(request)
    progress = await _events(settings.redis_url, events.ImportProgress, request.import_id)
    failed = [event for event in progress if event.stage == "failed"]
    assert len(failed) == 1 and "neither a zip nor a JSON file" in failed[0].message


async def _recommendations(pool: Any, user_id: uuid.UUID) -> list[tuple[str, float]]:
    """The listener's profile recomputed from their stored plays (features' domain, as of the
    request), then scored by the model: each of their artists has one similar candidate."""
    plays, _ = await load_plays(pool, user_id)
    listener = listener_as_of(plays, REQUESTED_AT, {}, ListenRules())
    known = {stats.artist: stats.decayed_weight for stats in listener.stats}
    inputs = ScoringInputs(
        known_artists=known,
        artist_tags={},
        similar_artists={artist: [(f"like {artist}", 1.0)] for artist in known},
        listeners={f"like {artist}": 10_000.0 for artist in known},
        popularity_reference=1_000_000.0,
    )
    ranked = score_candidates(inputs, None, HybridWeights())
    return [(scored.artist, scored.score) for scored in ranked]


async def test_a_one_row_upload_of_a_far_future_play_leaves_recommendations_sane(
    pool: Any, settings: FullCircleSettings, importer: Any, shared_data: Path
) -> None:
    history = (shared_data / "spotify-history-efrrowini" / FILE_NAME).read_bytes()
    first = await _request(pool, settings, history)
    await importer.on_import_requested(first)
    before = await _recommendations(pool, first.user_id)
    template = next(row for row in json.loads(history) if row.get("spotify_track_uri"))
    one_row = json.dumps([{**template, "ts": "9999-12-31T23:59:59Z"}]).encode()
    upload = await _request(pool, settings, one_row, first.user_id)
    await importer.on_import_requested(upload)

    progress = await _events(settings.redis_url, events.ImportProgress, upload.import_id)
    done = progress[-1]
    assert (done.stage, done.plays_new, done.rejected) == ("done", 0, 1)
    assert done.message.endswith("1 row rejected: 1 dated in the future")
    # Such plays stored before ingest rejected them are in the history too.
    async with pool.connection() as conn:
        for ended_at in ("9999-12-31T23:59:59Z", "1900-01-01T00:00:00Z"):
            await conn.execute(
                "INSERT INTO ingest.plays (user_id, play_key, ended_at, ms_played, artist_name,"
                " track_name, source) VALUES (%s, %s, %s, 200000, %s, 'A Track', 'extended')",
                (
                    first.user_id,
                    f"legacy|{ended_at}",
                    ended_at,
                    template["master_metadata_album_artist_name"],
                ),
            )
    after = await _recommendations(pool, first.user_id)

    scores = [score for _, score in after]
    assert all(math.isfinite(score) for score in scores)
    assert len(set(scores)) > len(scores) // 2, "the scores collapsed to a few values"
    assert [artist for artist, _ in after[:10]] == [artist for artist, _ in before[:10]]


async def _stored_in_parts(
    pool: Any, request: events.ImportRequested, payload: bytes, part_bytes: int
) -> events.ImportRequested:
    """`request`'s upload again, as another listener's, kept in parts of `part_bytes`."""
    async with pool.connection() as conn:
        user_id, _ = await create_user(conn, f"parts-{uuid.uuid4().hex[:12]}")
    upload_id, import_id = uuid.uuid4(), uuid.uuid4()
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO gateway.uploads (upload_id, import_id, user_id, file_name, size_bytes,"
            " sha256) VALUES (%s, %s, %s, %s, %s, 'x')",
            (upload_id, import_id, user_id, request.file_name, len(payload)),
        )
        for part_no, start in enumerate(range(0, len(payload), part_bytes)):
            await conn.execute(
                "INSERT INTO gateway.upload_parts (upload_id, part_no, data) VALUES (%s, %s, %s)",
                (upload_id, part_no, payload[start : start + part_bytes]),
            )
    return request.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "user_id": user_id,
            "upload_id": upload_id,
            "import_id": import_id,
        }
    )


async def _plays_of(pool: Any, user_id: uuid.UUID) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT play_key, ended_at, ms_played, track_name, artist_name, album_name,"
            " track_uri, skipped, platform, country, source"
            " FROM ingest.plays WHERE user_id = %s ORDER BY play_key",
            (user_id,),
        )
        return [tuple(row) for row in await cur.fetchall()]


@pytest.mark.parametrize("zipped", [False, True])
async def test_an_upload_in_many_small_parts_is_imported_as_the_same_upload_in_one(
    pool: Any, settings: FullCircleSettings, importer: Importer, shared_data: Path, zipped: bool
) -> None:
    payload = _upload(shared_data)
    if zipped:
        efrrowini = shared_data / "spotify-history-efrrowini"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"Spotify Extended Streaming History/{FILE_NAME}", payload)
            archive.write(
                efrrowini / "Streaming_History_Audio_2023.json",
                "Spotify Extended Streaming History/Streaming_History_Audio_2023.json",
            )
        payload = buffer.getvalue()
    whole = await _request(pool, settings, payload)
    in_parts = await _stored_in_parts(pool, whole, payload, part_bytes=9_973)
    await importer.on_import_requested(whole)
    await importer.on_import_requested(in_parts)

    expected, got = await _record(pool, whole.import_id), await _record(pool, in_parts.import_id)
    assert expected[0] == "done" and got == expected
    assert await _plays_of(pool, in_parts.user_id) == await _plays_of(pool, whole.user_id)


async def test_an_uploads_parts_are_read_in_their_order(pool: Any) -> None:
    async with pool.connection() as conn:
        user_id, _ = await create_user(conn, f"order-{uuid.uuid4().hex[:12]}")
    upload_id = uuid.uuid4()
    numbers = [7, 0, 12, 3, 5]  # stored out of order, with gaps
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO gateway.uploads (upload_id, import_id, user_id, file_name, size_bytes,"
            " sha256) VALUES (%s, %s, %s, 'x.json', 0, 'x')",
            (upload_id, uuid.uuid4(), user_id),
        )
        for number in numbers:
            await conn.execute(
                "INSERT INTO gateway.upload_parts (upload_id, part_no, data) VALUES (%s, %s, %s)",
                (upload_id, number, f"part {number};".encode()),
            )
    loop = asyncio.get_running_loop()
    read = await asyncio.to_thread(lambda: list(store.upload_parts(pool, upload_id, loop)))
    assert read == [f"part {number};".encode() for number in sorted(numbers)]
