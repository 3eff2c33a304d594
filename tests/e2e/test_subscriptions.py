"""Live recommendations over gRPC: cached answers that a new set replaces at once (and that
tracks.enriched refreshes without announcing the set again), and a subscription that resumes
from its last event id, across a gateway crash, losing nothing."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from fullcircle.bus import Bus
from fullcircle.client import FullCircleClient
from fullcircle.db import open_pool
from fullcircle.events import RecommendationsUpdated, TracksEnriched
from fullcircle.settings import FullCircleSettings
from services.enrich.adapters import store as enrich_store
from services.enrich.adapters.lastfm import ArtistTopTracks, TopTrack
from services.model.adapters.store import save_set
from services.model.domain.explanation import explain
from services.model.domain.scoring import ScoredArtist
from tools.stack.local import LocalStack, StackState

pytestmark = pytest.mark.e2e


async def _new_set(state: StackState, user_id: uuid.UUID, version: int, names: list[str]) -> str:
    """Store a recommendation set as the model would (the event is sent separately)."""
    items = []
    for rank, name in enumerate(names):
        scored = ScoredArtist(
            name, 1.0 / (rank + 1), {f"similar to Seed {version}": 1.0}, (f"Seed {version}",), ()
        )
        items.append((scored, *explain(scored.parts), ""))
    pool = await open_pool(state.database_url, max_size=1)
    set_id = await save_set(
        pool, user_id, version, f"test:{user_id.hex[:8]}:v{version}", "test", {}, items
    )
    await pool.close()
    return str(set_id)


async def _announce(state: StackState, user_id: uuid.UUID, set_id: str) -> None:
    bus = Bus(
        FullCircleSettings(database_url=state.database_url, redis_url=state.redis_url), "model"
    )
    await bus.start()
    await bus.publish(
        RecommendationsUpdated(
            user_id=user_id, set_id=uuid.UUID(set_id), model_version="test", items=2
        )
    )
    await bus.stop()


async def test_a_cached_answer_is_replaced_as_soon_as_a_new_set_is_announced(
    stack: StackState, new_listener
) -> None:
    user_id, key = await new_listener(f"cache-{uuid.uuid4().hex[:6]}")
    await _new_set(stack, user_id, 1, ["First Artist", "Second Artist"])
    async with FullCircleClient(stack.gateway_address, key) as client:
        assert (await client.recommendations(2)).items[0].artist == "First Artist"
        newer = await _new_set(stack, user_id, 2, ["Newer Artist", "Other Artist"])
        cached = await client.recommendations(2)
        assert cached.items[0].artist == "First Artist", "served from the cache until announced"
        await _announce(stack, user_id, newer)
        deadline = asyncio.get_running_loop().time() + 10
        while (await client.recommendations(2)).items[0].artist != "Newer Artist":
            assert asyncio.get_running_loop().time() < deadline, "the cache was not invalidated"
            await asyncio.sleep(0.1)


async def test_tracks_enriched_refreshes_the_cached_answer_but_announces_no_set(
    stack: StackState, new_listener
) -> None:
    user_id, key = await new_listener(f"tracks-{uuid.uuid4().hex[:6]}")
    artist = f"Tracked Artist {uuid.uuid4().hex[:6]}"
    set_id = await _new_set(stack, user_id, 1, [artist])
    async with FullCircleClient(stack.gateway_address, key) as client:
        subscription = aiter(client.subscribe(deadline_s=30))
        assert (await anext(subscription)).set.set_id == set_id
        assert not (await client.recommendations(1)).items[0].tracks  # cached without tracks
        pool = await open_pool(stack.database_url, max_size=1)
        try:
            await enrich_store.save_top_tracks(
                pool, ArtistTopTracks(artist, True, (TopTrack("First Song", 10),))
            )
        finally:
            await pool.close()
        bus = Bus(
            FullCircleSettings(database_url=stack.database_url, redis_url=stack.redis_url),
            "enrich",
        )
        await bus.start()
        await bus.publish(
            TracksEnriched(
                user_id=user_id, set_id=uuid.UUID(set_id), artists=1, with_tracks=1, not_found=0
            )
        )
        await bus.stop()
        deadline = asyncio.get_running_loop().time() + 10
        while not (await client.recommendations(1)).items[0].tracks:
            assert asyncio.get_running_loop().time() < deadline, "the cache was not dropped"
            await asyncio.sleep(0.1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(subscription), 2)  # the same set: not announced again


async def test_a_subscriber_resumes_after_a_gateway_crash_without_losing_an_event(
    local_stack: LocalStack, new_listener
) -> None:
    state = local_stack.running()
    assert state is not None
    user_id, key = await new_listener(f"resume-{uuid.uuid4().hex[:6]}")
    first = await _new_set(state, user_id, 1, ["One"])
    async with FullCircleClient(state.gateway_address, key) as client:
        stream = aiter(client.subscribe(deadline_s=60))
        current = await anext(stream)
        assert current.set.set_id == first and current.event_id == ""
        second = await _new_set(state, user_id, 2, ["Two"])
        await _announce(state, user_id, second)
        seen = await asyncio.wait_for(anext(stream), 20)
        assert seen.set.set_id == second and seen.event_id

    await asyncio.to_thread(local_stack.restart, "gateway")  # SIGKILL, start again
    missed = []
    for version, name in ((3, "Three"), (4, "Four")):
        missed.append(await _new_set(state, user_id, version, [name]))
        await _announce(state, user_id, missed[-1])

    async with FullCircleClient(state.gateway_address, key) as client:
        resumed = aiter(client.subscribe(last_event_id=seen.event_id, deadline_s=60))
        got = [await asyncio.wait_for(anext(resumed), 20) for _ in missed]
    assert [event.set.set_id for event in got] == missed
    assert [event.set.items[0].artist for event in got] == ["Three", "Four"]
