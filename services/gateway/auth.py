"""The one interceptor that authenticates every FullCircle call and rate-limits it per API key.

Health and reflection pass unauthenticated. For everything else the bearer key is checked
(its owner is cached for `key_cache_s`, so a revoked key stops working within that time),
a slot of the key's rate limit is taken (a moving window in Redis, shared by every gateway
replica), and the caller's user id is put in a context variable that
the servicer reads with `current_user()`: no RPC can name another user."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import UUID

import grpc
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.exceptions import RedisError

from fullcircle.errors import FullCircleError, ResourceExhausted, Unauthenticated, status_for
from fullcircle.grpc_server import around_each_call
from fullcircle.ratelimit import AsyncRateLimit
from services.gateway.adapters import accounts
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


def current_key_id() -> str:
    """The id of the API key the RPC being served was called with (bounds per key)."""
    try:
        return _caller_key.get()
    except LookupError:
        raise Unauthenticated("this call was not authenticated") from None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self, pool: AsyncConnectionPool, key_limit: AsyncRateLimit, key_cache_s: float = 30.0
    ) -> None:
        self.pool = pool
        self.key_limit = key_limit
        self.key_cache_s = key_cache_s
        self._owners: dict[str, tuple[UUID, float]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or ""
        if handler is None or method.startswith((*OPEN_SERVICES, ADMIN_CALLS)):
            return handler
        return _wrap(handler, self._authenticate)

    async def _authenticate(self, context: grpc.aio.ServicerContext) -> UUID:
        token = _bearer_token(context)
        key = parse_token(token)
        if key is None:
            raise Unauthenticated(
                "unknown or revoked API key; create one with `fullcircle user key NAME`"
            )
        cached = self._owners.get(token)
        if cached is not None and cached[1] > time.monotonic():
            user_id = cached[0]
        else:
            found = await accounts.user_for_token(self.pool, token)
            if found is None:
                raise Unauthenticated(
                    "unknown or revoked API key; create one with `fullcircle user key NAME`"
                )
            user_id = found
            self._owners[token] = (user_id, time.monotonic() + self.key_cache_s)
        if not await self.key_limit.try_acquire(key.key_id):
            raise ResourceExhausted(
                f"over {self.key_limit.item.amount} calls a second for this key; slow down"
            )
        _caller_key.set(key.key_id)
        return user_id


def _bearer_token(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            break
    raise Unauthenticated("missing `authorization: Bearer <api key>` metadata")


Authenticate = Callable[[grpc.aio.ServicerContext], Awaitable[UUID]]


def _wrap(handler: grpc.RpcMethodHandler, authenticate: Authenticate) -> grpc.RpcMethodHandler:
    """The same handler, authenticating first and serving with the caller set."""

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

    return around_each_call(handler, as_caller)
