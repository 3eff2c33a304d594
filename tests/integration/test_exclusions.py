"""Exclusions through features' Tastes API: the profile and the training views both leave the
excluded plays out (one definition), a rule matching none of the listener's plays is refused
with nothing stored, undoing brings the plays back, and excluding everything leaves an empty
profile, not an error."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

from fullcircle.v1 import common_pb2, features_pb2, features_pb2_grpc
from services.features.adapters import store
from services.features.app import ProfileBuilder
from services.features.domain.exclusions import build_exclusion
from services.ingest.domain.exports import ParsedExport, read_export_path
from tests.integration.test_training_views import store_plays, tag_artists, training_view

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def efrrowini(shared_data: Path) -> ParsedExport:
    return read_export_path(shared_data / "spotify-history-efrrowini")


async def _artists(pool: Any, user_id: uuid.UUID) -> dict[str, int]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT artist_name, plays FROM features.artist_stats WHERE user_id = %s", (user_id,)
        )
        return {row[0]: int(row[1]) for row in await cur.fetchall()}


async def _until(predicate: Any, what: str) -> None:
    for _ in range(300):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {what}")


async def test_an_exclusion_leaves_plays_out_of_the_profile_and_the_training_views(
    pool: Any, profile_builder: ProfileBuilder, tastes_server: Any, efrrowini: ParsedExport
) -> None:
    listener = uuid.uuid4()
    await store_plays(pool, listener, efrrowini)
    await tag_artists(pool, {p.artist_name for p in efrrowini.plays if p.artist_name})
    builder = profile_builder
    await builder.refresh(listener, datetime.now(UTC), "plays")
    before = await _artists(pool, listener)
    top = max(before, key=lambda artist: (before[artist], artist))
    address = await tastes_server(builder.settings.listen_rules(), builder)
    async with grpc.aio.insecure_channel(address) as channel:
        tastes = features_pb2_grpc.TastesStub(channel)

        async def exclude(**rule: str) -> common_pb2.TasteExclusion:
            made: common_pb2.TasteExclusion = await tastes.ExcludeFromTaste(
                features_pb2.ListenerExclusionRule(
                    user_id=str(listener), rule=common_pb2.ExclusionRule(**rule)
                ),
                timeout=10,
            )
            return made

        made = await exclude(artist=top.upper())
        assert made.plays == sum(1 for p in efrrowini.plays if p.artist_name == top)
        assert made.description == f"plays of {top.upper()}"
        await _until(lambda: _lacks(pool, listener, top), f"{top} left the profile")
        # the training view at any cutoff is the same listener: without the artist
        view = await training_view(address, listener, datetime.now(UTC))
        assert top not in {s.artist for s in view.artist_stats}
        assert len(view.artist_stats) == len(before) - 1

        # refused, nothing stored: an artist the listener never played, an empty window
        for rule, says in (
            ({"artist": "Nobody They Ever Played"}, "none of your plays match it"),
            ({"played_between": "2031-01-01..2031-12-31"}, "none of your plays match it"),
            ({"played_between": "2024-05-01..2024-01-01"}, "ends before it starts"),
            ({"hours": "teatime"}, "give a band"),
            ({}, "say what to exclude"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await exclude(**rule)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, rule
            assert says in (refused.value.details() or ""), rule
        listed = await tastes.ListExclusions(
            features_pb2.TasteProfileRequest(user_id=str(listener)), timeout=10
        )
        assert [e.exclusion_id for e in listed.exclusions] == [made.exclusion_id]

        # undo: the artist counts again, and the undone rule is forgotten once followed
        undone = await tastes.RemoveExclusion(
            features_pb2.ListenerExclusion(user_id=str(listener), exclusion_id=made.exclusion_id),
            timeout=10,
        )
        assert undone.exclusion_id == made.exclusion_id
        await _until(lambda: _has(pool, listener, top), f"{top} came back")
        assert await _artists(pool, listener) == before
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await tastes.RemoveExclusion(
                features_pb2.ListenerExclusion(
                    user_id=str(listener), exclusion_id=made.exclusion_id
                ),
                timeout=10,
            )
        assert again.value.code() == grpc.StatusCode.NOT_FOUND

        # everything: an empty, honest profile
        await exclude(played_between="after 1990")
        await _until(lambda: _empty(pool, listener), "the profile emptied")
        profile = await tastes.GetTasteProfile(
            features_pb2.TasteProfileRequest(user_id=str(listener)), timeout=10
        )
        assert (profile.artists, profile.listens, len(profile.clusters)) == (0, 0, 0)


async def _lacks(pool: Any, user_id: uuid.UUID, artist: str) -> bool:
    return artist not in await _artists(pool, user_id)


async def _has(pool: Any, user_id: uuid.UUID, artist: str) -> bool:
    return artist in await _artists(pool, user_id)


async def _empty(pool: Any, user_id: uuid.UUID) -> bool:
    return not await _artists(pool, user_id)


async def test_an_exclusion_made_before_features_stopped_is_followed_at_its_next_start(
    pool: Any, profile_builder: ProfileBuilder, efrrowini: ParsedExport
) -> None:
    listener = uuid.uuid4()
    await store_plays(pool, listener, efrrowini)
    builder = profile_builder
    await builder.refresh(listener, datetime.now(UTC), "plays")
    before = await _artists(pool, listener)
    top = max(before, key=lambda artist: (before[artist], artist))
    # stored, then features stopped before the recompute ran
    rule = build_exclusion(uuid.uuid4(), artist=top)
    await store.save_exclusion(pool, listener, rule, before[top], datetime.now(UTC))
    assert top in await _artists(pool, listener)
    await builder.recompute_changed_settings()
    assert top not in await _artists(pool, listener)
    assert await store.listeners_with_new_exclusions(pool) == []
