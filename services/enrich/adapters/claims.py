"""Which enrich replica is fetching what from Last.fm: one Redis key per artist (or track).

A fetch claims its key with SET NX PX and keeps the claim alive while it runs; another replica
that wants the same answer waits for the claim to go and reads the cache instead of fetching
again. A replica that dies mid-fetch stops renewing, so its claim expires and the answer is
fetched by whoever asks next. Handlers of one process queue on a lock per key first, so only one
of them at a time asks Redis (a redelivered batch asks for hundreds of artists that its first
delivery is fetching: hundreds of pollers starved the claims' renewals)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

PREFIX = "enrich:fetching:"
COMMAND_TIMEOUT_S = 10.0
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
    """Claims over a client of their own, at most `connections` commands at once: a batch asks
    for hundreds of artists together, which would exhaust a shared client's pool ("too many
    connections") and fail the handler."""

    def __init__(
        self, redis_url: str, ttl_ms: int = 30_000, poll_s: float = 0.25, connections: int = 16
    ) -> None:
        self.redis_url = redis_url
        self.ttl_ms = ttl_ms
        self.poll_s = poll_s
        self.holder = f"{socket.gethostname()}-{os.getpid()}"
        self._tokens = itertools.count()
        self._local: dict[str, tuple[asyncio.Lock, int]] = {}
        self._commands = asyncio.Semaphore(connections)
        self._client: Redis | None = None

    async def _run(self, *command: Any) -> Any:
        if self._client is None:
            # A command never waits forever: a handler stuck on one (Redis restarted under it)
            # would keep its message, and the heartbeat its claim, for good.
            self._client = Redis.from_url(
                self.redis_url, socket_timeout=COMMAND_TIMEOUT_S, socket_connect_timeout=5
            )
        async with self._commands:
            return await self._client.execute_command(*command)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def try_claim(self, key: str, token: str) -> bool:
        """Claim `key` as `token`; False when someone else holds it."""
        return bool(await self._run("SET", PREFIX + key, token, "NX", "PX", self.ttl_ms))

    async def wait_released(self, key: str) -> None:
        """Until nobody holds `key`'s claim (released, or expired with its holder)."""
        # Polled: the holder is another process, there is nothing local to wait on.
        while await self._run("EXISTS", PREFIX + key):  # noqa: ASYNC110
            await asyncio.sleep(self.poll_s)

    @contextlib.asynccontextmanager
    async def claimed(self, key: str) -> AsyncIterator[None]:
        """Hold `key`'s claim for the block, waiting for whoever holds it first, in this process
        or another (the block then finds their answer in the cache)."""
        async with self._local_turn(key):
            # A token of this claim's own: a claim that expired and was taken by another
            # handler is never renewed or dropped by this one.
            token = f"{self.holder}-{next(self._tokens)}"
            while not await self.try_claim(key, token):
                await self.wait_released(key)
            async with self.held(key, token):
                yield

    @contextlib.asynccontextmanager
    async def _local_turn(self, key: str) -> AsyncIterator[None]:
        lock, users = self._local.get(key, (asyncio.Lock(), 0))
        self._local[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._local[key]
            if users == 1:
                del self._local[key]
            else:
                self._local[key] = (lock, users - 1)

    @contextlib.asynccontextmanager
    async def held(self, key: str, token: str) -> AsyncIterator[None]:
        """Keep a claim taken with `try_claim` alive for the block, then release it."""
        done = asyncio.Event()
        # Stopped by the event, never cancelled: a Redis command cancelled half-way can leave
        # the task that waits for it hanging.
        renewing = asyncio.create_task(self._renew(key, token, done))
        try:
            yield
        finally:
            done.set()
            await renewing
            await self._run("EVAL", _RELEASE, 1, PREFIX + key, token)

    async def _renew(self, key: str, token: str, done: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(done.wait(), self.ttl_ms / 3000)
                return
            except TimeoutError:
                await self._run("EVAL", _RENEW, 1, PREFIX + key, token, self.ttl_ms)
