"""Background rounds that end with their body, even when the action swallows a cancellation
(as redis-py's asyncio client did mid-command, which left the bus's heartbeat running and its
consumer stuck)."""

from __future__ import annotations

import asyncio

from fullcircle.periodic import every


async def test_rounds_run_while_the_body_runs_and_stop_with_it() -> None:
    rounds: list[float] = []

    async def action() -> None:
        rounds.append(asyncio.get_running_loop().time())

    async with every(0.02, action, "test rounds"):
        await asyncio.sleep(0.2)
    seen = len(rounds)
    assert seen >= 3
    await asyncio.sleep(0.1)
    assert len(rounds) == seen, "a round ran after the body ended"


async def test_an_action_that_swallows_its_cancellation_still_lets_the_body_end() -> None:
    entered = asyncio.Event()
    swallowed: list[bool] = []

    async def stubborn() -> None:
        entered.set()
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            swallowed.append(True)  # as a client library catching it inside its call

    async def body() -> None:
        async with every(0.01, stubborn, "stubborn rounds"):
            await entered.wait()

    # with cancel() alone and `await task` this never returned: the loop went on after the
    # swallowed cancellation
    await asyncio.wait_for(body(), timeout=5)
    assert swallowed == [True]
