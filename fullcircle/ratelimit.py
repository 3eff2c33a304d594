"""One rate limit shared by every process that calls under one key: a moving window in Redis.

`limits` keeps each key's grant times in a Redis list and grants atomically (a Lua script), so
N replicas of a service together never get more than `per_second` grants in any one-second
window. A moving window, not a fixed one: a fixed window lets R calls end one window and R more
open the next, 2R in one second. Threads (enrich's pylast calls) use `RateLimit`; the event
loop (the gateway's interceptor) uses `AsyncRateLimit`.

A moving window grants in bursts (R at once, then nothing for a second), and a burst's calls
reach the far end unevenly, so a caller that counts calls where they arrive (Last.fm) can see
R + 1 in a second. `spacing_s` smooths one process's grants so they leave at least that far
apart; the window still bounds every process together."""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Callable, Iterable

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage as AsyncRedisStorage
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindow
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import ExponentialBackoff
from redis.retry import Retry as SyncRetry

from fullcircle.bus import RETRIED_ERRORS, redis_retry

NAMESPACE = "fullcircle"


def _per_second(per_second: float) -> RateLimitItemPerSecond:
    # The window holds whole calls: a fractional rate rounds down, never up past the limit.
    if per_second < 1:
        raise ValueError(f"a shared rate limit needs at least 1 call a second, not {per_second}")
    return RateLimitItemPerSecond(math.floor(per_second), 1, namespace=NAMESPACE)


class RateLimit:
    """At most `per_second` grants under `key` in any one-second window, for every thread of
    every process sharing the storage; this process's grants at least `spacing_s` apart.
    Thread-safe; `acquire` blocks."""

    def __init__(
        self,
        limiter: MovingWindowRateLimiter,
        key: str,
        per_second: float,
        *,
        spacing_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limiter, self.key = limiter, key
        self.item = _per_second(per_second)
        self.spacing_s = spacing_s
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last_grant = float("-inf")

    def try_acquire(self) -> bool:
        """Take a slot if one is free now."""
        return self.limiter.hit(self.item, self.key)

    def acquire(self) -> None:
        """Wait until a slot is free and take it."""
        # One thread of the process at a time: they would all wait for the same slot anyway.
        with self._lock:
            gap = self._last_grant + self.spacing_s - time.monotonic()
            if gap > 0:
                self._sleep(gap)
            while not self.limiter.hit(self.item, self.key):
                reset, _ = self.limiter.get_window_stats(self.item, self.key)
                self._sleep(_wait_until(reset, self.item.amount))
            self._last_grant = time.monotonic()


class AsyncRateLimit:
    """`RateLimit` for the event loop: one window per `subject` under `key` (an API key id,
    say), each at `per_second`. At most `concurrency` grants are asked of Redis at once: a burst
    of 600 calls from one key opened a connection each and ran `limits`' pool out ("Too many
    connections", answered UNKNOWN)."""

    def __init__(
        self, limiter: AsyncMovingWindow, key: str, per_second: float, concurrency: int = 32
    ) -> None:
        self.limiter, self.key = limiter, key
        self.item = _per_second(per_second)
        self._asking = asyncio.Semaphore(concurrency)

    async def try_acquire(self, subject: str = "") -> bool:
        """Take a slot of `subject`'s window if one is free now (a caller over its limit is
        refused, not kept waiting)."""
        async with self._asking:
            return await self.limiter.hit(self.item, self.key, subject)


def _wait_until(reset: float, per_second: int) -> float:
    # Waiters wake a little apart, so the replicas' threads do not all ask Redis at the instant
    # the oldest call leaves the window (only one of them can have that slot).
    return max(0.0, reset - time.time()) + random.uniform(0.0, 1.0 / per_second)


def shared_rate_limit(
    redis_url: str, key: str, per_second: float, *, spacing_s: float = 0.0
) -> RateLimit:
    """A limit every process reaching this Redis shares (blocking client, for worker threads).
    Reconnects with backoff through a Redis restart, like the bus."""
    storage = RedisStorage(
        redis_url,
        retry=SyncRetry(ExponentialBackoff(cap=2.0, base=0.05), retries=10),
        retry_on_error=RETRIED_ERRORS,  # type: ignore[arg-type]
    )
    limiter = MovingWindowRateLimiter(storage)
    return RateLimit(limiter, key, per_second, spacing_s=spacing_s)


def async_shared_rate_limit(redis_url: str, key: str, per_second: float) -> AsyncRateLimit:
    """A limit every process reaching this Redis shares (redis-py's asyncio client); reconnects
    with backoff through a Redis restart, like the bus."""
    storage = AsyncRedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        retry=redis_retry(),
        retry_on_error=RETRIED_ERRORS,  # type: ignore[arg-type]
    )
    return AsyncRateLimit(AsyncMovingWindow(storage), key, per_second)


def process_rate_limit(key: str, per_second: float, *, spacing_s: float = 0.0) -> RateLimit:
    """A limit for one process only (a benchmark, a tool): the same window kept in memory."""
    limiter = MovingWindowRateLimiter(MemoryStorage())
    return RateLimit(limiter, key, per_second, spacing_s=spacing_s)


def max_calls_in_window(call_times: Iterable[float], window_s: float = 1.0) -> int:
    """The most calls any `window_s`-long window [t, t + window_s) holds."""
    times = sorted(call_times)
    most = first = 0
    for last, moment in enumerate(times):
        while moment - times[first] >= window_s:
            first += 1
        most = max(most, last - first + 1)
    return most
