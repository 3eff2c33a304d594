"""Bounds on the uploads running at once: per API key across every gateway replica (slots held
in Redis, each one expiring unless its gateway renews it, so a gateway that dies frees its
slots within `ttl_s`), and per gateway process (a count in memory: it bounds this process's
own work). A caller over either bound is refused at once, never kept waiting."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from fullcircle.errors import ResourceExhausted, Unavailable
from fullcircle.periodic import every

log = logging.getLogger(__name__)

PREFIX = "gateway:uploads:"

# KEYS[1] the key's slots (a sorted set: slot -> expiry, Redis's clock in ms); ARGV: the bound,
# the slot, its lifetime in ms. Drops expired slots, then takes one if the bound allows: -1, or
# answers how many are running. One script, so replicas asking at once never overshoot.
_TAKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
local running = redis.call('ZCARD', KEYS[1])
if running >= tonumber(ARGV[1]) then return running end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return -1
"""
_RENEW = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class UploadSlots:
    def __init__(
        self, redis: Callable[[], Redis], per_key: int, per_gateway: int, ttl_s: float
    ) -> None:
        self._redis = redis  # the bus's client, connected once the service runs
        self.per_key = per_key
        self.per_gateway = per_gateway
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.running = 0  # uploads this gateway is receiving

    @contextlib.asynccontextmanager
    async def hold(self, key_id: str) -> AsyncIterator[None]:
        """One slot of this gateway and one of the key's while the body runs."""
        if self.running >= self.per_gateway:
            raise ResourceExhausted(
                f"this gateway is receiving {self.running} uploads, the most it takes at once; "
                "wait for one to finish, then upload again"
            )
        self.running += 1
        try:
            key, slot = f"{PREFIX}{key_id}", uuid.uuid4().hex
            try:
                taken = await self._redis().eval(_TAKE, 1, key, self.per_key, slot, self.ttl_ms)
            except RedisError as exc:
                log.warning("could not count the uploads of %s: %s", key_id, exc)
                raise Unavailable("uploads cannot be counted now; try again shortly") from None
            running = int(taken)
            if running >= 0:
                raise ResourceExhausted(
                    f"{running} uploads with this API key are running, the most at once "
                    f"({self.per_key}); wait for one to finish, then upload again"
                )
            try:
                async with every(
                    self.ttl_ms / 3000, lambda: self._renew(key, slot), "slot renewal"
                ):
                    yield
            finally:
                try:
                    await asyncio.shield(self._redis().zrem(key, slot))
                except RedisError as exc:  # it expires by itself
                    log.warning("could not free an upload slot of %s: %s", key_id, exc)
        finally:
            self.running -= 1

    async def _renew(self, key: str, slot: str) -> None:
        try:
            await self._redis().eval(_RENEW, 1, key, slot, self.ttl_ms)
        except RedisError as exc:
            log.warning("could not renew an upload slot: %s", exc)
