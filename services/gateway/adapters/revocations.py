"""Key revocations as every gateway replica sees them: revoking a key (or erasing its account)
stamps a new revocation generation in Redis. A replica trusts a key owner it cached only
under the generation it was looked up in, so a new call with a revoked key is refused at
once on every replica; its open server streams are ended by the replica's watcher, which
polls the generation and re-checks the keys of its open streams when it changes.

The generation is a random token, not a counter: a Redis that lost its data and counted up
again could otherwise hand a stale cache entry its old number back."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

GENERATION_KEY = "gateway:keys:revocation"


async def announce(redis: Redis) -> None:
    """Tell every gateway that a key stopped being valid (after the change is committed)."""
    await redis.set(GENERATION_KEY, uuid.uuid4().hex)


async def generation(redis: Redis) -> str:
    """The current revocation generation ("" before any revocation)."""
    value: bytes | None = await redis.get(GENERATION_KEY)
    return value.decode() if value else ""
