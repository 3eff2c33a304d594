"""How many HTTP requests enrich sends to Last.fm: every replica adds each request it sends
(retries and pages included, see `LastfmClient`) to a per-minute counter in Redis, so one
reading (`fullcircle status`) covers every replica, including those that have restarted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from redis.asyncio import Redis as AsyncRedis

log = logging.getLogger(__name__)

KEY_PREFIX = "fullcircle:lastfm:http_requests:"
# Buckets outlive the longest window read (an hour) with room to spare, then go by themselves.
BUCKET_TTL_S = 3 * 3600
COMMAND_TIMEOUT_S = 2.0


def bucket_key(moment_s: float) -> str:
    """The counter of the minute `moment_s` (Unix seconds) falls in."""
    return f"{KEY_PREFIX}{int(moment_s // 60)}"


class LastfmRequestCounter:
    """`count()` from any thread: one more request in this minute's bucket. A count Redis
    does not take (it restarts) is logged and lost, never an error of the request itself."""

    def __init__(self, redis_url: str, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis.Redis.from_url(
            redis_url, socket_timeout=COMMAND_TIMEOUT_S, socket_connect_timeout=COMMAND_TIMEOUT_S
        )
        self.clock = clock

    def count(self) -> None:
        key = bucket_key(self.clock())
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, BUCKET_TTL_S)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("a Last.fm request went uncounted (Redis: %s)", exc.__class__.__name__)

    def close(self) -> None:
        self.redis.close()


async def requests_in_last(
    client: AsyncRedis, minutes: int = 60, now_s: float | None = None
) -> int:
    """Requests every replica sent to Last.fm in the last `minutes` whole minutes and this one."""
    now = time.time() if now_s is None else now_s
    keys = [bucket_key(now - 60 * back) for back in range(minutes + 1)]
    counts = await client.mget(keys)
    return sum(int(count) for count in counts if count is not None)
