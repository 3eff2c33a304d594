"""Domain errors a caller can cause, and the one place that maps them to gRPC status codes."""

from __future__ import annotations

from uuid import UUID

import grpc


class FullCircleError(Exception):
    """Base of errors whose message is meant for the person who caused them."""

    code = grpc.StatusCode.INTERNAL


class InvalidArgument(FullCircleError):
    code = grpc.StatusCode.INVALID_ARGUMENT


def artist_name_argument(value: str) -> str:
    """An artist name a caller sent, stripped: 1 to 500 characters and no NUL (no artist name
    holds one, and PostgreSQL text cannot store one: a caller's mistake). The gateway checks
    feedback with it before it goes on the bus; the model, the names its RPCs are given."""
    name = value.strip()
    if not name or len(name) > 500:
        raise InvalidArgument("name the artist (1 to 500 characters)")
    if "\x00" in name:
        raise InvalidArgument(f"the artist holds a NUL character: {name[:64]!r}")
    return name


def id_argument(value: str, field_name: str) -> UUID:
    """An id a caller sent (an import id, say): not one is INVALID_ARGUMENT, naming the field."""
    try:
        return UUID(value)
    except ValueError:
        raise InvalidArgument(f"{field_name} is not a valid id: {value[:64]!r}") from None


class NotFound(FullCircleError):
    code = grpc.StatusCode.NOT_FOUND


class Unauthenticated(FullCircleError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(FullCircleError):
    code = grpc.StatusCode.PERMISSION_DENIED


class FailedPrecondition(FullCircleError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(FullCircleError):
    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(FullCircleError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(FullCircleError):
    code = grpc.StatusCode.UNAVAILABLE


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a gRPC caller receives for `exc`."""
    if isinstance(exc, FullCircleError):
        return exc.code, str(exc)
    if isinstance(exc, grpc.aio.AioRpcError):
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return grpc.StatusCode.UNAVAILABLE, "a service behind it is not reachable; try again"
        return exc.code(), exc.details() or "upstream error"
    return grpc.StatusCode.INTERNAL, "internal error; it has been logged"
