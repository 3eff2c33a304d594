"""Work repeated in the background while a body runs (a heartbeat, a lease renewal), that
surely ends when the body does.

A periodic task stopped by `cancel()` alone, then awaited, can hang its owner forever: a client
library that catches the cancellation inside its call (redis-py's asyncio client did, in the
middle of an XCLAIM) leaves the task looping, and `await task` never returns. The bus's
heartbeat did this: the handler had finished, but its message stayed claimed by the heartbeat
and the consumer read nothing more (the listener's recommendations never came). Here the
loop also checks a stop flag before each round, so a swallowed cancellation ends it at the next
one, and the owner waits for it a bounded time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)

STOP_WAIT_S = 5.0


@contextlib.asynccontextmanager
async def every(
    interval_s: float, action: Callable[[], Awaitable[None]], name: str
) -> AsyncIterator[None]:
    """Run `action` every `interval_s` while the body runs (first after one interval); the
    action handles its own errors. On exit the loop is stopped and waited for, at most
    STOP_WAIT_S (it ends by itself at its next round if it outlives that)."""
    stop = asyncio.Event()

    async def repeat() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            if stop.is_set():
                return
            await action()

    task = asyncio.create_task(repeat(), name=name)
    try:
        yield
    finally:
        stop.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if not done:
            log.warning(
                "%s did not stop within %.0f s; it ends at its next round", name, STOP_WAIT_S
            )
        elif not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %s", name, task.exception())
