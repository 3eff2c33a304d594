"""The one interceptor that authenticates every FullCircle call and rate-limits it per API key.

Health and reflection pass unauthenticated. For everything else the bearer key is checked
(its owner is cached for `key_cache_s`, and only while no key has been revoked since: see
adapters/revocations.py, so a revoked key is refused at once on every replica), a slot of the
key's rate limit is taken (a moving window in Redis, shared by every gateway replica), and the
caller's user id is put in a context variable that the servicer reads with `current_user()`:
no RPC can name another user. A server stream (SubscribeRecommendations, WatchImport, the
deletion reports) ends with UNAUTHENTICATED within `revocation_poll_s` of its key's
revocation."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from uuid import UUID

import grpc
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.exceptions import RedisError

from fullcircle.bus import Bus
from fullcircle.errors import FullCircleError, ResourceExhausted, Unauthenticated, status_for
from fullcircle.grpc_server import around_each_call
from fullcircle.ratelimit import AsyncRateLimit
from services.gateway.adapters import accounts, revocations
from services.gateway.domain.keys import parse_token

log = logging.getLogger(__name__)
_caller: contextvars.ContextVar[UUID] = contextvars.ContextVar("fullcircle_caller")
_caller_key: contextvars.ContextVar[str] = contextvars.ContextVar("fullcircle_caller_key")
OPEN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
ADMIN_CALLS = "/fullcircle.v1.Admin/"  # authorised by the admin token (admin.AdminInterceptor)


def current_user() -> UUID:
    """The authenticated caller of the RPC being served."""
    try:
        return _caller.get()
    except LookupError:
        raise Unauthenticated("this call was not authenticated") from None


UNKNOWN_KEY = "unknown or revoked API key; create one with `fullcircle user key NAME`"
REVOKED_KEY = (
    "this API key was revoked while the stream was open; create one with "
    "`fullcircle user key NAME` and call again with it"
)


def current_key_id() -> str:
    """The id of the API key the RPC being served was called with (bounds per key)."""
    try:
        return _caller_key.get()
    except LookupError:
        raise Unauthenticated("this call was not authenticated") from None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        pool: AsyncConnectionPool,
        bus: Bus,
        key_limit: AsyncRateLimit,
        key_cache_s: float = 30.0,
        revocation_poll_s: float = 1.0,
    ) -> None:
        self.pool = pool
        self.bus = bus  # its Redis client exists once the service has started
        self.key_limit = key_limit
        self.key_cache_s = key_cache_s
        self.revocation_poll_s = revocation_poll_s
        # token -> (owner, cached until, revocation generation it was looked up in)
        self._owners: dict[str, tuple[UUID, float, str]] = {}
        # token -> one event per open server stream of that key, set when the key is revoked
        self._streams: dict[str, set[asyncio.Event]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or ""
        if handler is None or method.startswith((*OPEN_SERVICES, ADMIN_CALLS)):
            return handler
        return _wrap(handler, self._authenticate, self._open_stream)

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> UUID:
        token = _bearer_token(context)
        key = parse_token(token)
        if key is None:
            raise Unauthenticated(UNKNOWN_KEY)
        current = await revocations.generation(self.bus.redis)
        cached = self._owners.get(token)
        if cached is not None and cached[1] > time.monotonic() and cached[2] == current:
            user_id = cached[0]
        else:
            found = await accounts.user_for_token(self.pool, token)
            if found is None:
                self._owners.pop(token, None)
                raise Unauthenticated(UNKNOWN_KEY)
            user_id = found
            self._owners[token] = (user_id, time.monotonic() + self.key_cache_s, current)
        if not await self.key_limit.try_acquire(key.key_id):
            raise ResourceExhausted(
                f"over {self.key_limit.item.amount} calls a second for this key; slow down"
            )
        _caller_key.set(key.key_id)
        return user_id

    @contextlib.contextmanager
    def _open_stream(self, context: grpc.aio.ServicerContext) -> Iterator[asyncio.Event]:
        """An event set once the stream's key is revoked, for as long as the stream is open."""
        revoked = asyncio.Event()
        token = _bearer_token_or_none(context)
        if token is None:  # refused by authentication before it streams anything
            yield revoked
            return
        self._streams.setdefault(token, set()).add(revoked)
        try:
            yield revoked
        finally:
            self._streams[token].discard(revoked)
            if not self._streams[token]:
                del self._streams[token]

    async def watch_revocations(self, stopping: asyncio.Event) -> None:
        """Until `stopping`: every `revocation_poll_s`, when the revocation generation has
        changed, re-check the key of every open stream and end those whose key is gone."""
        seen: str | None = None
        while not stopping.is_set():
            try:
                current = await revocations.generation(self.bus.redis)
                if seen is not None and current != seen:
                    await self._end_revoked_streams()
                seen = current
            except (RedisError, psycopg.Error, PoolTimeout) as exc:
                # seen is kept: the check is made again on the next poll
                log.warning("could not check for revoked keys: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.revocation_poll_s)

    async def _end_revoked_streams(self) -> None:
        for token in list(self._streams):
            if await accounts.user_for_token(self.pool, token) is None:
                self._owners.pop(token, None)
                for revoked in self._streams.get(token, ()):
                    revoked.set()


def _bearer_token(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            break
    raise Unauthenticated("missing `authorization: Bearer <api key>` metadata")


def _bearer_token_or_none(context: grpc.aio.ServicerContext) -> str | None:
    try:
        return _bearer_token(context)
    except Unauthenticated:
        return None


Authenticate = Callable[[grpc.aio.ServicerContext], Awaitable[UUID]]
OpenStream = Callable[[grpc.aio.ServicerContext], AbstractContextManager[asyncio.Event]]


def _wrap(
    handler: grpc.RpcMethodHandler, authenticate: Authenticate, open_stream: OpenStream
) -> grpc.RpcMethodHandler:
    """The same handler, authenticating first and serving with the caller set; a server
    stream also ends once its key is revoked."""

    @contextlib.asynccontextmanager
    async def as_caller(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        try:
            _caller.set(await authenticate(context))
        except FullCircleError as exc:
            await context.abort(*status_for(exc))
        except (RedisError, psycopg.Error, PoolTimeout) as exc:
            # the key store or the rate window out of reach: the caller may try again
            log.warning("could not check a caller's key: %s", type(exc).__name__)
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, "the API key could not be checked now; try again"
            )
        yield

    wrapped = around_each_call(handler, as_caller)
    if not wrapped.unary_stream:
        return wrapped
    serve = wrapped.unary_stream

    async def until_revoked(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        with open_stream(context) as revoked:
            async for reply in _until(serve(request, context), revoked):
                yield reply
            if revoked.is_set():
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, REVOKED_KEY)

    return grpc.unary_stream_rpc_method_handler(
        until_revoked, wrapped.request_deserializer, wrapped.response_serializer
    )


async def _until(replies: AsyncGenerator[Any, None], stop: asyncio.Event) -> AsyncIterator[Any]:
    """`replies` until they end or `stop` is set, whichever comes first. Each reply is awaited
    in a task (to race it with `stop`), all in one context, so a context variable the stream
    set (its caller) holds for the whole stream."""
    context = contextvars.copy_context()
    stopped = asyncio.ensure_future(stop.wait())
    following: asyncio.Task[Any] | None = None
    try:
        while True:
            following = asyncio.get_running_loop().create_task(
                _next_reply(replies), context=context
            )
            await asyncio.wait({following, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():  # first, or a fast stream's next reply could always win the race
                return
            reply = following.result()
            if reply is _END:
                return
            yield reply
    finally:
        stopped.cancel()
        # the reply being awaited (the call was cancelled, or the key revoked) runs the
        # generator: end it before closing the generator, which cannot close while running
        if following is not None and not following.done():
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        await replies.aclose()


_END = object()


async def _next_reply(replies: AsyncGenerator[Any, None]) -> Any:
    # StopAsyncIteration cannot cross a task boundary (a task turns it into a RuntimeError)
    try:
        return await anext(replies)
    except StopAsyncIteration:
        return _END
