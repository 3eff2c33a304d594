"""Exclude from taste through the running stack: the profile, the model and the next set follow
within one recompute; the plays stay stored; undo brings them back; excluding everything leaves
an empty, honest profile the pipeline still serves."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest
import redis

from fullcircle.client import FullCircleClient
from fullcircle.events import PROFILES_UPDATED, dead_letter_stream
from fullcircle.v1 import common_pb2
from tools.stack.local import StackState

from .test_deletion import (
    HISTORY,
    WAIT_S,
    _imported,
    _plays,
    _profile_version_with,
    _set_of,
    _set_profile_version,
)

pytestmark = pytest.mark.e2e


async def test_an_excluded_artist_leaves_the_taste_and_the_sets_until_undone(
    stack: StackState, new_listener, shared_data: Path
) -> None:
    user_id, key = await new_listener(f"excluder-{uuid.uuid4().hex[:6]}")
    async with FullCircleClient(stack.gateway_address, key) as client:
        events = aiter(client.subscribe(deadline_s=4 * WAIT_S))
        await _imported(client, shared_data / HISTORY.format(year=2024))
        await _set_of(events, stack, 0)
        total = _plays(stack, user_id)
        artist = (await client.taste_profile()).top_artists[0].artist
        theirs = _plays(stack, user_id, artist)

        made = await client.exclude(artist=artist.lower())

        assert made.plays == theirs > 0
        assert [e.exclusion_id for e in await client.exclusions()] == [made.exclusion_id]
        recomputed = await _profile_version_with(stack, user_id, total - theirs)
        next_set = await _set_of(events, stack, recomputed)
        for item in next_set.items:
            assert item.artist.lower() != artist.lower(), item
            assert artist.lower() not in {seed.lower() for seed in item.similar_to}, item
        profile = await client.taste_profile()
        assert artist not in {weight.artist for weight in profile.top_artists}
        old_favourites = await client.recommendations(
            20, common_pb2.RECOMMENDATION_MODE_REDISCOVERY
        )
        assert artist not in {item.artist for item in old_favourites.items}
        assert _plays(stack, user_id) == total  # excluded, not deleted

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.exclude(artist="An Artist Nobody Here Played")
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(await client.exclusions()) == 1

        await client.remove_exclusion(made.exclusion_id)
        assert await client.exclusions() == []
        await _profile_version_with(stack, user_id, total)
        profile = await client.taste_profile()
        assert artist in {weight.artist for weight in profile.top_artists}

        # everything: nothing left to learn from, an empty set, no dead letter
        await client.exclude(played_between="after 1990")
        emptied = await _profile_version_with(stack, user_id, 0)
        while True:
            event = await asyncio.wait_for(anext(events), WAIT_S)
            if _set_profile_version(stack, event.set.set_id) >= emptied:
                break
        assert not event.set.items
        assert (await client.taste_profile()).artists == 0
    dead = redis.Redis.from_url(stack.redis_url).xrange(dead_letter_stream(PROFILES_UPDATED))
    assert not [f for _, f in dead if any(str(user_id).encode() in v for v in f.values())]
