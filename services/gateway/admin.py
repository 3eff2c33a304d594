"""The gateway's Admin gRPC API (listeners, API keys, Spotify unlink) and the interceptor that
lets only the admin token call it; the CLI's `user` and `spotify unlink` commands are its clients.

The admin token comes from GATEWAY_ADMIN_TOKEN; the gateway keeps only its SHA-256 and compares
digests in constant time. Unlinking Spotify is ingest's to do (its schema): the gateway asks
ingest's SpotifyLinks.Unlink."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from uuid import UUID

import grpc
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from fullcircle.bus import Bus
from fullcircle.errors import (
    FullCircleError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    status_for,
)
from fullcircle.grpc_server import around_each_call, rpc_errors
from fullcircle.service import ServiceRuntime
from fullcircle.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc
from services.gateway.adapters import accounts, revocations
from services.gateway.auth import ADMIN_CALLS
from services.gateway.domain.keys import key_id_of, parse_token
from services.gateway.settings import GatewaySettings

ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name


class AdminInterceptor(grpc.aio.ServerInterceptor):
    """Every Admin call must carry the admin token; other services' calls pass untouched."""

    def __init__(self, admin_token: SecretStr | None) -> None:
        secret = admin_token.get_secret_value() if admin_token else ""
        self._digest = _digest(secret) if secret else None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or not (handler_call_details.method or "").startswith(ADMIN_CALLS):
            return handler

        @contextlib.asynccontextmanager
        async def as_admin(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
            try:
                self._authorise(context)
            except FullCircleError as exc:
                await context.abort(*status_for(exc))
            yield

        return around_each_call(handler, as_admin)

    def _authorise(self, context: grpc.aio.ServicerContext) -> None:
        token = _bearer(context)
        if token is None:
            raise Unauthenticated("missing `authorization: Bearer <admin token>` metadata")
        if self._digest is None:
            raise PermissionDenied("the admin API is off on this gateway (no GATEWAY_ADMIN_TOKEN)")
        if hmac.compare_digest(_digest(token), self._digest):
            return
        if parse_token(token) is not None:
            raise PermissionDenied("a listener's API key cannot call the admin API")
        raise Unauthenticated("wrong admin token")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _bearer(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(
        self,
        settings: GatewaySettings,
        pool: AsyncConnectionPool,
        links: ingest_pb2_grpc.SpotifyLinksStub,
        bus: Bus,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.links = links
        self.bus = bus

    async def _user_id(self, name: str) -> UUID:
        async with self.pool.connection() as conn:
            user_id = await accounts.user_id_by_name(conn, name)
        if user_id is None:
            name = name[:64]
            raise NotFound(f"no user {name!r}; create it with `fullcircle user add {name}`")
        return user_id

    @rpc_errors
    async def CreateUser(
        self, request: admin_pb2.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.CreateUserReply:
        async with self.pool.connection() as conn:
            user_id, key = await accounts.create_user(conn, request.name)
        return admin_pb2.CreateUserReply(user_id=str(user_id), api_key=key.token)

    @rpc_errors
    async def CreateApiKey(
        self, request: admin_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.CreateApiKeyReply:
        user_id = await self._user_id(request.user_name)
        async with self.pool.connection() as conn:
            key = await accounts.add_api_key(conn, user_id)
        return admin_pb2.CreateApiKeyReply(api_key=key.token, key_id=key.key_id)

    @rpc_errors
    async def RevokeApiKey(
        self, request: admin_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.RevokeApiKeyReply:
        key_id = key_id_of(request.key_id)
        if not key_id:
            raise InvalidArgument("name the key: the 12 hex characters after `fc_`")
        async with self.pool.connection() as conn:
            owner = await accounts.revoke_api_key(conn, key_id)
        if owner is None:
            raise NotFound(f"no active key {key_id[:64]!r}")
        await revocations.announce(self.bus.redis)
        return admin_pb2.RevokeApiKeyReply(user_name=owner)

    @rpc_errors
    async def ListUsers(
        self, request: admin_pb2.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListUsersReply:
        async with self.pool.connection() as conn:
            listeners = await accounts.list_users(conn)
        return admin_pb2.ListUsersReply(
            users=[
                admin_pb2.AdminUser(
                    user_id=str(listener.user_id),
                    name=listener.name,
                    created_at=listener.created_at.astimezone(UTC).isoformat(),
                    active_keys=listener.active_keys,
                )
                for listener in listeners
            ]
        )

    @rpc_errors
    async def UnlinkSpotify(
        self, request: admin_pb2.UnlinkSpotifyRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.UnlinkSpotifyReply:
        user_id = await self._user_id(request.user_name)
        remaining = context.time_remaining()
        cap = self.settings.model_deadline_s
        reply: ingest_pb2.UnlinkReply = await self.links.Unlink(
            ingest_pb2.UnlinkRequest(user_id=str(user_id)),
            timeout=cap if remaining is None else max(0.05, min(cap, remaining)),
        )
        if not reply.unlinked:
            raise NotFound(f"{request.user_name[:64]} has no linked Spotify account")
        return admin_pb2.UnlinkSpotifyReply()


def add_admin(
    runtime: ServiceRuntime,
    settings: GatewaySettings,
    links: ingest_pb2_grpc.SpotifyLinksStub,
) -> None:
    """Serve Admin behind its interceptor: the two are added together, so the API is never
    served without the admin token check (auth.py lets Admin calls through to it)."""
    runtime.grpc.interceptors.append(AdminInterceptor(settings.gateway_admin_token))
    runtime.grpc.add(
        admin_pb2_grpc.add_AdminServicer_to_server,
        AdminServicer(settings, runtime.pool, links, runtime.bus),
        ADMIN_SERVICE,
    )
