"""GetRecommendations answers cached in Redis per listener and request shape, dropped when a
`recommendations.updated` event for that listener arrives (and after a TTL, which bounds how
long an answer computed concurrently with an invalidation can linger)."""

from __future__ import annotations

from uuid import UUID

from fullcircle.bus import Bus

PREFIX = "gateway:recs:"


class RecommendationCache:
    def __init__(self, bus: Bus, ttl_s: int) -> None:
        self.bus = bus
        self.ttl_s = ttl_s

    async def get(self, user_id: UUID, shape: str) -> bytes | None:
        answer: bytes | None = await self.bus.redis.hget(f"{PREFIX}{user_id}", shape)
        return answer

    async def put(self, user_id: UUID, shape: str, answer: bytes) -> None:
        key = f"{PREFIX}{user_id}"
        async with self.bus.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, shape, answer)
            pipe.expire(key, self.ttl_s)
            await pipe.execute()

    async def invalidate(self, user_id: UUID) -> None:
        await self.bus.redis.delete(f"{PREFIX}{user_id}")
