"""Crash any part at any moment and lose nothing: ingest killed (SIGKILL) while it imports, enrich
killed while it tags; then every service killed in turn at seeded random moments. Each comes
back, the claimer hands it the unfinished message, and the final state is exactly a clean
run's, with nothing left pending and no dead letters."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest
from redis.asyncio import Redis

from fullcircle.bus import decode_entry
from fullcircle.client import FullCircleClient
from fullcircle.events import IMPORTS_PROGRESS, IMPORTS_REQUESTED, PLAYS_INGESTED, ImportProgress
from tools.stack.local import SERVICES, LocalStack

pytestmark = pytest.mark.e2e

SANABIL_PLAYS = 22_671


def _count(database_url: str, sql: str, *args: object) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, args).fetchone()
    return int(row[0]) if row else 0


async def _done_announcements(redis_url: str, import_id: str) -> int:
    redis = Redis.from_url(redis_url)
    try:
        entries = await redis.xrange(IMPORTS_PROGRESS)
    finally:
        await redis.aclose()
    progress = [decode_entry(fields, ImportProgress) for _, fields in entries]
    return sum(str(p.import_id) == import_id and p.stage == "done" for p in progress)


async def _pending(redis_url: str, stream: str, group: str) -> int:
    redis = Redis.from_url(redis_url)
    try:
        return int((await redis.xpending(stream, group))["pending"])
    finally:
        await redis.aclose()


async def test_killing_ingest_mid_import_and_enrich_mid_tagging_loses_nothing(
    local_stack: LocalStack, new_listener, shared_data: Path
) -> None:
    state = local_stack.running()
    assert state is not None
    user_id, key = await new_listener(f"crash-{uuid.uuid4().hex[:6]}")
    export = shared_data / "spotify-history-sanabil/my_spotify_data.zip"
    async with FullCircleClient(state.gateway_address, key) as client:
        import_id = await client.import_history(export)
        updates = aiter(client.watch_import(import_id, deadline_s=300))
        first = await anext(updates)
        assert first.stage in ("parsing", "storing", "done")
        await asyncio.to_thread(local_stack.restart, "ingest")  # SIGKILL, then start again
        final = first
        async for update in updates:
            final = update
        assert final.stage == "done", final.message

    plays_sql = "SELECT count(*) FROM ingest.plays WHERE user_id = %s"
    distinct_sql = "SELECT count(DISTINCT play_key) FROM ingest.plays WHERE user_id = %s"
    assert _count(state.database_url, plays_sql, user_id) == SANABIL_PLAYS
    assert _count(state.database_url, distinct_sql, user_id) == SANABIL_PLAYS
    # The redelivered import kept its one report with the true counts (issue 13: it was
    # overwritten with "0 new, all duplicates").
    report_sql = "SELECT plays_new - duplicates FROM ingest.imports WHERE import_id = %s"
    assert _count(state.database_url, report_sql, import_id) == SANABIL_PLAYS

    artists_sql = """SELECT count(DISTINCT lower(p.artist_name)) FROM ingest.plays p
                     LEFT JOIN enrich.artists a ON a.artist_key = lower(p.artist_name)
                     WHERE p.user_id = %s AND p.artist_name IS NOT NULL AND a.artist_key IS NULL"""
    await asyncio.sleep(1.0)
    untagged = _count(state.database_url, artists_sql, user_id)
    assert untagged > 100, "enrich must be mid-way (this test runs before others tag sanabil)"
    state = await asyncio.to_thread(local_stack.restart, "enrich")
    deadline = asyncio.get_running_loop().time() + 240
    while _count(state.database_url, artists_sql, user_id) > 0:
        assert asyncio.get_running_loop().time() < deadline, "enrich did not finish after a crash"
        await asyncio.sleep(1)
    for stream, group in ((IMPORTS_REQUESTED, "ingest"), (PLAYS_INGESTED, "enrich")):
        while await _pending(state.redis_url, stream, group):
            assert asyncio.get_running_loop().time() < deadline, f"{group} left {stream} pending"
            await asyncio.sleep(0.5)
    assert await _done_announcements(state.redis_url, import_id) == 1
    fetched_twice = """SELECT count(*) FROM (SELECT artist_key FROM enrich.fetch_log
                       WHERE method LIKE 'artist.getTopTags%%' GROUP BY artist_key
                       HAVING count(*) > 1) AS repeated"""
    # a request cut off by the kill is made again, but nothing that was stored is fetched twice
    assert _count(state.database_url, fetched_twice) == 0


async def test_killing_every_service_in_turn_during_an_import_ends_as_a_clean_run(
    private_stack: LocalStack, shared_data: Path
) -> None:
    """bench/crash_all.py's drill (the 140,000-play version runs there) on a real history, one
    year of efrrowini's (smaller than sanabil's, for CI time): ingest, enrich, features, model
    and gateway each SIGKILLed once at a seeded random moment of the pipeline and restarted.
    On a stack of its own, so that nothing but this run is on its bus when it checks that no
    message is left pending or dead."""
    from bench.crash_all import crash_drill

    export = shared_data / "spotify-history-efrrowini/Streaming_History_Audio_2024.json"
    drill = await crash_drill(private_stack, export, seed=8, timeout_s=300, window_s=8.0)
    assert sorted(service for service, _ in drill.kills) == sorted(SERVICES)
    assert drill.crashed.plays == drill.crashed.distinct_plays > 0
    assert drill.crashed.comparable == drill.clean.comparable
    assert drill.crashed.set_profile_version == drill.crashed.profile_version
    assert drill.bus.idle, f"left pending or unread: {drill.bus}"
    assert drill.new_dead_letters == 0
