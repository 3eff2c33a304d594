"""Two gateway replicas on the same Redis, PostgreSQL and model: each reads
`recommendations.updated` without a group, so a subscriber on either receives the same new set
under the same event id, and a client that resumes on the other replica with the last id it saw
loses nothing and sees nothing twice."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from fullcircle.client import FullCircleClient
from tools.stack.local import LocalStack

from .test_subscriptions import _announce, _new_set

pytestmark = pytest.mark.e2e


async def test_both_replicas_fan_out_each_set_and_a_client_resumes_on_the_other(
    local_stack: LocalStack, new_listener
) -> None:
    state = local_stack.running()
    assert state is not None
    replica, port = await asyncio.to_thread(local_stack.add_replica, "gateway")
    other_address = f"127.0.0.1:{port}"
    try:
        user_id, key = await new_listener(f"replicas-{uuid.uuid4().hex[:6]}")
        first = await _new_set(state, user_id, 1, ["Replica Test One"])
        async with (
            FullCircleClient(state.gateway_address, key) as on_first,
            FullCircleClient(other_address, key) as on_second,
        ):
            stream_a = aiter(on_first.subscribe(deadline_s=60))
            stream_b = aiter(on_second.subscribe(deadline_s=60))
            assert (await anext(stream_a)).set.set_id == first
            assert (await anext(stream_b)).set.set_id == first
            second = await _new_set(state, user_id, 2, ["Replica Test Two"])
            await _announce(state, user_id, second)
            seen_a, seen_b = await asyncio.wait_for(
                asyncio.gather(anext(stream_a), anext(stream_b)), 20
            )
        assert seen_a.event_id and seen_a.event_id == seen_b.event_id
        assert seen_a.set == seen_b.set
        assert [item.artist for item in seen_a.set.items] == ["Replica Test Two"]

        # The client that was on the first replica is gone while two sets are announced...
        missed = []
        for version, name in ((3, "Replica Test Three"), (4, "Replica Test Four")):
            missed.append(await _new_set(state, user_id, version, [name]))
            await _announce(state, user_id, missed[-1])
        # ...and comes back on the second replica with the last event id it saw.
        async with FullCircleClient(other_address, key) as resumed_client:
            resumed = aiter(resumed_client.subscribe(last_event_id=seen_a.event_id, deadline_s=60))
            got = [await asyncio.wait_for(anext(resumed), 20) for _ in missed]
            assert [event.set.set_id for event in got] == missed
            live = await _new_set(state, user_id, 5, ["Replica Test Five"])
            await _announce(state, user_id, live)
            following = await asyncio.wait_for(anext(resumed), 20)
        assert following.set.set_id == live, "live events follow the backlog, none repeated"
        assert len({seen_a.event_id, *(event.event_id for event in got), following.event_id}) == 4
    finally:
        await asyncio.to_thread(local_stack.remove_replica, replica)
