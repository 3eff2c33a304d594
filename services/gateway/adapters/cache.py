"""GetRecommendations answers cached per listener and request shape: in this gateway's memory
first, then in Redis (shared by the replicas). A `recommendations.updated` (a new set) or
`tracks.enriched` (the set's artists now have tracks to play) event for the listener drops both
(every replica reads every event); the Redis TTL bounds how long an answer computed
concurrently with an invalidation can linger."""

from __future__ import annotations

import time
from collections import OrderedDict
from uuid import UUID

from fullcircle.bus import Bus

PREFIX = "gateway:recs:"
LOCAL_ENTRIES = 10_000
LOCAL_TTL_S = 60.0  # bounds staleness should this replica miss an event


class RecommendationCache:
    def __init__(self, bus: Bus, ttl_s: int) -> None:
        self.bus = bus
        self.ttl_s = ttl_s
        self.local_ttl_s = min(ttl_s, LOCAL_TTL_S)
        self._local: OrderedDict[tuple[UUID, str], tuple[float, bytes]] = OrderedDict()

    async def get(self, user_id: UUID, shape: str) -> bytes | None:
        local = self._local.get((user_id, shape))
        if local is not None and local[0] > time.monotonic():
            return local[1]
        answer: bytes | None = await self.bus.redis.hget(f"{PREFIX}{user_id}", shape)
        if answer is not None:
            self._remember(user_id, shape, answer)
        return answer

    async def put(self, user_id: UUID, shape: str, answer: bytes) -> None:
        key = f"{PREFIX}{user_id}"
        async with self.bus.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, shape, answer)
            pipe.expire(key, self.ttl_s)
            await pipe.execute()
        self._remember(user_id, shape, answer)

    async def invalidate(self, user_id: UUID) -> None:
        for key in [key for key in self._local if key[0] == user_id]:
            del self._local[key]
        await self.bus.redis.delete(f"{PREFIX}{user_id}")

    def _remember(self, user_id: UUID, shape: str, answer: bytes) -> None:
        self._local[(user_id, shape)] = (time.monotonic() + self.local_ttl_s, answer)
        while len(self._local) > LOCAL_ENTRIES:
            self._local.popitem(last=False)
