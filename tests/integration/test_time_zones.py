"""Contexts are read in the listener's zone: inferred from where they listen most, or the one
they set over Tastes' gRPC API (then recomputed in the background, or at features' next start)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

from fullcircle.v1 import features_pb2, features_pb2_grpc
from services.features.adapters import store
from services.features.app import ProfileBuilder
from services.features.domain.listener import listener_as_of
from services.ingest.domain.exports import ParsedExport, read_export_path
from tests.integration.test_training_views import store_plays, tag_artists

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sanabil(shared_data: Path) -> ParsedExport:
    return read_export_path(shared_data / "spotify-history-sanabil/my_spotify_data.zip")


async def _night_listens(pool: Any, user_id: uuid.UUID) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT contexts FROM features.taste_details WHERE user_id = %s", (user_id,)
        )
        (contexts,) = await cur.fetchone()
    return next(c["listens"] for c in contexts if c["context"] == "night")


async def _stored_zone(pool: Any, user_id: uuid.UUID) -> str:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT time_zone->>'time_zone' FROM features.taste_details WHERE user_id = %s",
            (user_id,),
        )
        row = await cur.fetchone()
    return str(row[0]) if row else ""


async def _until_zone(pool: Any, user_id: uuid.UUID, zone: str) -> None:
    for _ in range(300):
        if await _stored_zone(pool, user_id) == zone:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the profile was never recomputed in {zone}")


async def test_contexts_follow_the_inferred_then_the_set_zone(
    pool: Any, profile_builder: ProfileBuilder, tastes_server: Any, sanabil: ParsedExport
) -> None:
    listener = uuid.uuid4()
    await store_plays(pool, listener, sanabil)
    await tag_artists(pool, {play.artist_name for play in sanabil.plays if play.artist_name})
    builder = profile_builder
    await builder.refresh(listener, datetime.now(UTC), "plays")
    # sanabil listens from Pakistan: the night is Karachi's, not UTC's
    assert await _stored_zone(pool, listener) == "Asia/Karachi"
    plays, platforms = await store.load_plays(pool, listener)
    tags = await store.load_artist_tags(pool, sorted(set(plays.artist)))
    rules = builder.settings.listen_rules()

    def nights_in(zone: str) -> int:
        details = listener_as_of(
            plays, datetime.now(UTC), tags, rules, platforms=platforms, time_zone=zone
        ).details
        assert details is not None
        return next(c["listens"] for c in details["contexts"] if c["context"] == "night")

    karachi_nights = await _night_listens(pool, listener)
    assert karachi_nights == nights_in("Asia/Karachi") != nights_in("UTC")

    address = await tastes_server(rules, builder)
    async with grpc.aio.insecure_channel(address) as channel:
        tastes = features_pb2_grpc.TastesStub(channel)
        answer = await tastes.SetTimeZone(
            features_pb2.SetListenerTimeZoneRequest(
                user_id=str(listener), time_zone="America/Sao_Paulo"
            ),
            timeout=10,
        )
        assert (answer.time_zone, answer.source) == ("America/Sao_Paulo", "set")
        await _until_zone(pool, listener, "America/Sao_Paulo")
        assert await _night_listens(pool, listener) == nights_in("America/Sao_Paulo")
        profile = await tastes.GetTasteProfile(
            features_pb2.TasteProfileRequest(user_id=str(listener)), timeout=10
        )
        assert (profile.time_zone.time_zone, profile.time_zone.source) == (
            "America/Sao_Paulo",
            "set",
        )
        assert "set by you" in profile.time_zone.description
        # the listening clock and the years are served in the same zone: its night hours
        # hold the night's listens, and every listen is in one hour and one year
        assert len(profile.clock) == 168
        assert sum(h.listens for h in profile.clock if h.hour < 6) == nights_in("America/Sao_Paulo")
        assert sum(h.listens for h in profile.clock) == profile.listens
        assert sum(y.listens for y in profile.years) == profile.listens
        assert [y.year for y in profile.years] == sorted({y.year for y in profile.years})[::-1]
        assert profile.years[0].top_artists[0].listens > 0 and profile.years[0].top_tags

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await tastes.SetTimeZone(
                features_pb2.SetListenerTimeZoneRequest(
                    user_id=str(listener), time_zone="Mars/Olympus_Mons"
                ),
                timeout=10,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "IANA name such as Europe/London" in (refused.value.details() or "")
        assert await store.load_time_zone(pool, listener) == "America/Sao_Paulo"

        # an empty zone forgets the setting: back to where the listener listens most
        answer = await tastes.SetTimeZone(
            features_pb2.SetListenerTimeZoneRequest(user_id=str(listener), time_zone=""),
            timeout=10,
        )
        assert (answer.time_zone, answer.source, answer.country) == (
            "Asia/Karachi",
            "country",
            "PK",
        )
        await _until_zone(pool, listener, "Asia/Karachi")
        assert await _night_listens(pool, listener) == karachi_nights


async def test_a_zone_set_before_features_stopped_is_recomputed_at_its_next_start(
    pool: Any, profile_builder: ProfileBuilder, sanabil: ParsedExport
) -> None:
    listener = uuid.uuid4()
    await store_plays(pool, listener, sanabil)
    builder = profile_builder
    await builder.refresh(listener, datetime.now(UTC), "plays")
    # stored, then features stopped before it recomputed
    await store.save_time_zone(pool, listener, "Asia/Tokyo", datetime.now(UTC))
    assert await _stored_zone(pool, listener) == "Asia/Karachi"
    await builder.recompute_changed_settings()
    assert await _stored_zone(pool, listener) == "Asia/Tokyo"
    assert await store.listeners_with_new_time_zones(pool) == []
