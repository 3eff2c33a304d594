"""Steering through the running stack: less of a taste shrinks it in the listener's top 20, the
dial moves their popularity, the genre filter keeps one genre, an unknown taste is refused."""

from __future__ import annotations

import asyncio
import statistics
import uuid
from pathlib import Path

import grpc
import psycopg
import pytest

from fullcircle.client import FullCircleClient
from fullcircle.v1 import common_pb2
from services.model.adapters.store import POPULARITY_PERCENTILES
from tools.stack.local import StackState

from .test_deletion import HISTORY, _imported, _set_of

pytestmark = pytest.mark.e2e


def _popularity(stack: StackState, artists: list[str]) -> list[float]:
    """The popularity percentiles the model knows of these artists (those enrich fetched)."""
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute(
            POPULARITY_PERCENTILES + " WHERE artist_key = ANY(%s)", ([a.lower() for a in artists],)
        ).fetchall()
    known = dict(rows)
    return [float(known[a.lower()]) for a in artists if a.lower() in known]


async def _tracks_fetched(stack: StackState, artists: list[str]) -> None:
    """Enrich fetches the top tracks (and so the popularity) of the set's first 20 artists
    after the set: wait for most of them."""
    for _ in range(240):
        with psycopg.connect(stack.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM enrich.top_track_fetches WHERE artist_key = ANY(%s)",
                ([a.lower() for a in artists],),
            ).fetchone()
        if row and row[0] >= 0.8 * len(artists):
            return
        await asyncio.sleep(0.5)
    raise AssertionError("enrich never fetched the set's top tracks")


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
        await _tracks_fetched(stack, [item.artist for item in top])

        await client.steer({biggest: ""})
        medians = []
        for dial in (0.0, 0.5, 1.0):
            await client.steer(familiarity=dial)
            items = list((await client.recommendations(20)).items)
            medians.append(statistics.median(_popularity(stack, [i.artist for i in items])))
        print(f"median popularity percentile at dial 0, 0.5, 1: {medians}")
        # the dial's ends: toward deep cuts and toward the popular (the middle is printed; with
        # popularity known for the set's first 20 only, it need not lie between them)
        assert medians[0] < medians[2]
        await client.steer(familiarity=-1)
        assert not (await client.steering()).familiarity_set

        tag = next(t for item in top for t in item.top_tags if " " not in t)
        only = list((await client.recommendations(20, genre=tag)).items)
        assert only and all(tag in " ".join(i.top_tags).split() for i in only)

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.steer({"A Taste Nobody Has": "more"})
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a taste of yours" in (refused.value.details() or "")
        assert dict((await client.steering()).tastes) == {}
