"""Steering through the running stack: less of a taste shrinks it in the listener's top 20, the
dial moves their popularity, the genre filter keeps one genre, an unknown taste is refused."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import uuid
from pathlib import Path

import grpc
import pytest

from fullcircle.client import FullCircleClient
from fullcircle.v1 import common_pb2
from services.model.domain.steering import genre_matches
from tools.stack.local import StackState

from .test_deletion import HISTORY, _imported, _set_of

pytestmark = pytest.mark.e2e


async def _popularity_known(client: FullCircleClient) -> common_pb2.RecommendationSet:
    """Enrich fetches the top tracks (and so the popularity) of every artist of a set soon
    after it is made: wait until a set has it for nine in ten of its artists."""
    for _ in range(240):
        whole = await client.recommendations(100)
        known = sum(1 for item in whole.items if item.HasField("popularity_percentile"))
        if whole.items and known >= 0.9 * len(whole.items):
            return whole
        await asyncio.sleep(0.5)
    raise AssertionError("enrich never fetched the popularity of the set's artists")


def _share(items: list[common_pb2.Recommendation], taste: str) -> float:
    return sum(1 for item in items if item.taste == taste) / max(1, len(items))


async def test_less_of_a_taste_the_dial_and_the_genre_filter(
    stack: StackState, new_listener, shared_data: Path
) -> None:
    _, key = await new_listener(f"steerer-{uuid.uuid4().hex[:6]}")
    async with FullCircleClient(stack.gateway_address, key) as client:
        events = aiter(client.subscribe(deadline_s=600))
        await _imported(client, shared_data / HISTORY.format(year=2023))
        await _set_of(events, stack, 0)
        # the first sets come before enrich has tagged the artists, and sets follow one
        # another while it does: measure on one set with tastes, before and after steering
        for _ in range(120):
            unsteered = await client.recommendations(100)
            whole = list(unsteered.items)
            tastes = [item.taste for item in whole[:20] if item.taste]
            biggest = max(set(tastes), key=lambda t: (tastes.count(t), t), default="")
            others = sum(1 for item in whole if item.taste != biggest)
            if biggest and others >= 10:
                await client.steer({biggest: "less"})
                steered = await client.recommendations(20)
                if steered.set_id == unsteered.set_id:
                    break
                await client.steer({biggest: ""})
            await asyncio.sleep(1.0)
        else:
            raise AssertionError("no set with 10 artists of other tastes than its biggest")
        top = whole[:20]
        before, after = _share(top, biggest), _share(list(steered.items), biggest)
        print(f"less {biggest!r}: share of the top 20 {before:.0%} -> {after:.0%}")
        # at least halved, as far as the set holds others to take its places
        assert after <= max(before / 2, 1 - others / 20)
        assert dict((await client.steering()).tastes) == {biggest: "less"}

        await client.steer({biggest: ""})
        known = await _popularity_known(client)
        medians = []
        for dial in (0.0, 0.25, 0.5, 0.75, 1.0):
            await client.steer(familiarity=dial)
            answer = await client.recommendations(20, set_id=known.set_id)
            medians.append(
                statistics.median(
                    item.popularity_percentile
                    for item in answer.items
                    if item.HasField("popularity_percentile")
                )
            )
        print(f"median popularity percentile at dial 0, 0.25, 0.5, 0.75, 1: {medians}")
        # monotone up to one percentile point (near an end of the dial the top 20 saturates: at
        # 0 and 0.25 both are the set's least popular, and their medians differ by a rank or
        # two), and the ends far apart
        assert all(later >= earlier - 0.01 for earlier, later in itertools.pairwise(medians))
        assert medians[-1] - medians[0] > 0.5
        await client.steer(familiarity=-1)
        assert not (await client.steering()).familiarity_set

        # the tag most of the top 20 carry (one word or several: "uk rap" is a genre too)
        carried = [t for item in top for t in item.top_tags]
        tag = max(set(carried), key=lambda t: (carried.count(t), t))
        only = list((await client.recommendations(20, genre=tag)).items)
        assert only and all(genre_matches(tag, list(i.top_tags)) for i in only)
        assert len(only) >= carried.count(tag) / 2, "the filter dropped artists tagged with it"

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.steer({"A Taste Nobody Has": "more"})
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a taste of yours" in (refused.value.details() or "")
        assert dict((await client.steering()).tastes) == {}
