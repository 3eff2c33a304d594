"""Imports of the other sources on a real PostgreSQL and Redis: a Last.fm scrobble CSV imported
twice stores its plays once (the second import stores nothing new, through the same play key
and ON CONFLICT path as Spotify's exports), and a zip with one good and one broken file
stores nothing at all and says which file is broken."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from psycopg import AsyncConnection

from fullcircle import events
from fullcircle.settings import FullCircleSettings
from services.gateway.adapters.accounts import create_user, store_upload
from services.ingest.app import Importer
from tests.integration.test_import_once import _events, _record, importer

pytestmark = pytest.mark.integration

__all__ = ["importer"]  # the Importer fixture, shared with test_import_once

REQUESTED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def _import(
    pool: Any,
    settings: FullCircleSettings,
    importer: Importer,
    file_name: str,
    payload: bytes,
    user_id: uuid.UUID,
) -> events.ImportRequested:
    upload_id, import_id = await store_upload(pool, user_id, file_name, payload)
    request = events.ImportRequested(
        user_id=user_id,
        import_id=import_id,
        upload_id=upload_id,
        file_name=file_name,
        size_bytes=len(payload),
        occurred_at=REQUESTED_AT,
    )
    await importer.on_import_requested(request)
    return request


async def _listener(settings: FullCircleSettings) -> uuid.UUID:
    async with await AsyncConnection.connect(settings.database_url) as conn:
        user_id, _ = await create_user(conn, f"sources-{uuid.uuid4().hex[:12]}")
    return user_id


async def _stored(pool: Any, user_id: uuid.UUID) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT source, ms_played, skipped, count(*) FROM ingest.plays WHERE user_id = %s"
            " GROUP BY 1, 2, 3",
            (user_id,),
        )
        return [tuple(row) for row in await cur.fetchall()]


async def test_a_lastfm_csv_imported_twice_is_stored_once(
    pool: Any, settings: FullCircleSettings, importer: Importer, shared_data: Path
) -> None:
    payload = (shared_data / "lastfm-csv-pingw33n" / "lastfm_scrobbles.csv").read_bytes()
    user_id = await _listener(settings)
    first = await _import(pool, settings, importer, "lastfm_scrobbles.csv", payload, user_id)
    status, read, new, duplicates, rejected, report, stored = await _record(pool, first.import_id)
    assert (status, read, new, duplicates, rejected, stored) == (
        "done",
        58_265,
        58_265,
        0,
        0,
        58_265,
    )
    assert report["format"] == "lastfm"
    assert report["set_aside"] == 303
    assert report["files"][0]["set_aside"] == {
        "the now-playing track (no date: not scrobbled yet)": 303
    }
    assert await _stored(pool, user_id) == [("lastfm", 180_000, False, 58_265)]

    # The gateway refuses the very same bytes twice (the upload's checksum); the export
    # downloaded again (a new name, a trailing newline) reaches ingest and stores nothing.
    downloaded_again = payload + b"\n"
    again = await _import(
        pool, settings, importer, "lastfm_scrobbles (1).csv", downloaded_again, user_id
    )
    status, read, new, duplicates, _, _, stored = await _record(pool, again.import_id)
    assert (status, read, new, duplicates, stored) == ("done", 58_265, 0, 58_265, 0)
    assert await _stored(pool, user_id) == [("lastfm", 180_000, False, 58_265)]
    progress = await _events(settings.redis_url, events.ImportProgress, again.import_id)
    assert progress[-1].stage == "done" and progress[-1].plays_new == 0
    assert progress[-1].files[0]["kind"] == "lastfm scrobbles (lastfm-to-csv)"
    ingested = await _events(settings.redis_url, events.PlaysIngested, first.import_id)
    assert sum(event.new_plays for event in ingested) == 58_265
    assert {event.source for event in ingested} == {"lastfm"}


async def test_a_zip_with_a_broken_file_stores_nothing_and_names_it(
    pool: Any, settings: FullCircleSettings, importer: Importer, shared_data: Path
) -> None:
    good = (shared_data / "lastfm-ghan-csv-sachawheeler" / "scrobbles.csv").read_bytes()
    rows = (shared_data / "lastfm-csv-pingw33n" / "lastfm_scrobbles.csv").read_bytes()
    broken = rows.replace(b"20 Nov 2020 09:28", b"20 Nov 2020 9h28", 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a/scrobbles.csv", good)  # read first: its plays are handed over
        archive.writestr("b/lastfm_scrobbles.csv", broken)
    user_id = await _listener(settings)
    request = await _import(pool, settings, importer, "history.zip", buffer.getvalue(), user_id)
    status, *_, stored = await _record(pool, request.import_id)
    assert (status, stored) == ("failed", 0)
    assert await _stored(pool, user_id) == []
    progress = await _events(settings.redis_url, events.ImportProgress, request.import_id)
    assert progress[-1].stage == "failed"
    assert progress[-1].message.startswith(
        "history.zip: b/lastfm_scrobbles.csv: row 3: the date '20 Nov 2020 9h28'"
    )
