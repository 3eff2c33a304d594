"""Which enrich replica is fetching which artist from Last.fm: one Redis key per artist.

A fetch claims its artist with SET NX PX and keeps the claim alive while it runs; another
replica (or handler) that wants the same artist waits for the claim to go and reads the cache
instead of fetching again. A replica that dies mid-fetch stops renewing, so its claim expires
and the artist is fetched by whoever asks next."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator

from redis.asyncio import BlockingConnectionPool, Redis

PREFIX = "enrich:fetching:"
# Only the holder may renew or drop its claim: a claim that expired and was taken by another
# replica is theirs now.
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then"
    " return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


class FetchClaims:
    """Claims over a client of their own: a batch asks for hundreds of artists at once, and its
    pool waits for a free connection (BlockingConnectionPool) instead of failing the handler
    with "too many connections" as the bus client's would."""

    def __init__(
        self, redis_url: str, ttl_ms: int = 30_000, poll_s: float = 0.25, connections: int = 16
    ) -> None:
        self.redis_url = redis_url
        self.ttl_ms = ttl_ms
        self.poll_s = poll_s
        self.connections = connections
        self.holder = f"{socket.gethostname()}-{os.getpid()}"
        self._client: Redis | None = None

    def _redis(self) -> Redis:
        if self._client is None:
            pool = BlockingConnectionPool.from_url(
                self.redis_url, max_connections=self.connections, timeout=None
            )
            self._client = Redis(connection_pool=pool)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def try_claim(self, artist_key: str) -> bool:
        """Claim the artist for this process; False when someone else holds it."""
        return bool(
            await self._redis().set(PREFIX + artist_key, self.holder, nx=True, px=self.ttl_ms)
        )

    async def wait_released(self, artist_key: str) -> None:
        """Until nobody holds the artist's claim (released, or expired with its holder)."""
        # Polled: the holder is another process, there is nothing local to wait on.
        while await self._redis().exists(PREFIX + artist_key):  # noqa: ASYNC110
            await asyncio.sleep(self.poll_s)

    @contextlib.asynccontextmanager
    async def claimed(self, key: str) -> AsyncIterator[None]:
        """Hold `key`'s claim for the block, waiting for whoever holds it first (the block then
        finds their answer in the cache)."""
        while not await self.try_claim(key):
            await self.wait_released(key)
        async with self.held(key):
            yield

    @contextlib.asynccontextmanager
    async def held(self, artist_key: str) -> AsyncIterator[None]:
        """Keep a claim taken with `try_claim` alive for the block, then release it."""
        renewing = asyncio.create_task(self._renew(artist_key))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await self._redis().eval(_RELEASE, 1, PREFIX + artist_key, self.holder)

    async def _renew(self, artist_key: str) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            await self._redis().eval(_RENEW, 1, PREFIX + artist_key, self.holder, self.ttl_ms)
