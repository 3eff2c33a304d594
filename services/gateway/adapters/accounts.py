"""SQL adapter of the gateway: listeners, their API keys and uploaded exports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg_pool import AsyncConnectionPool

from fullcircle.erasure import erase_listener
from fullcircle.errors import InvalidArgument
from services.gateway.adapters.uploads import UploadWriter
from services.gateway.domain.keys import ApiKey, new_api_key, parse_token, secret_matches
from services.gateway.domain.uploads import PartAssembler, already_uploaded


async def create_user(conn: AsyncConnection, name: str) -> tuple[UUID, ApiKey]:
    """A new listener and their first API key (the only time the key's secret exists in clear)."""
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidArgument("a user name is 1 to 64 characters")
    user_id = uuid.uuid4()
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO gateway.users (user_id, name) VALUES (%s, %s)", (user_id, name)
            )
            key = await add_api_key(conn, user_id)
    except UniqueViolation:
        raise InvalidArgument(f"user {name!r} exists already; pick another name") from None
    return user_id, key


async def add_api_key(conn: AsyncConnection, user_id: UUID, name: str = "") -> ApiKey:
    key = new_api_key()
    await conn.execute(
        "INSERT INTO gateway.api_keys (key_id, user_id, key_hash, name) VALUES (%s, %s, %s, %s)",
        (key.key_id, user_id, key.secret_hash, name),
    )
    return key


@dataclass(frozen=True)
class StoredKey:
    """An API key as its owner may see it: no secret, no hash."""

    key_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


_KEY_COLUMNS = "key_id, name, created_at, revoked_at"


async def stored_key(conn: AsyncConnection, user_id: UUID, key_id: str) -> StoredKey:
    cur = await conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM gateway.api_keys WHERE user_id = %s AND key_id = %s",
        (user_id, key_id),
    )
    row = await cur.fetchone()
    assert row is not None, "the key was just made"
    return StoredKey(*row)


async def list_api_keys(pool: AsyncConnectionPool, user_id: UUID) -> list[StoredKey]:
    """The listener's keys that are not revoked, oldest first."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {_KEY_COLUMNS} FROM gateway.api_keys"
            " WHERE user_id = %s AND revoked_at IS NULL ORDER BY created_at, key_id",
            (user_id,),
        )
        return [StoredKey(*row) for row in await cur.fetchall()]


async def revoke_own_api_key(
    pool: AsyncConnectionPool, user_id: UUID, key_id: str
) -> StoredKey | None:
    """Revoke the listener's own active key `key_id`; None when they have no such key (another
    listener's key is left as it is). Announce it (revocations.announce) once this returns."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE gateway.api_keys SET revoked_at = now()"
            " WHERE user_id = %s AND key_id = %s AND revoked_at IS NULL"
            f" RETURNING {_KEY_COLUMNS}",
            (user_id, key_id),
        )
        row = await cur.fetchone()
    return StoredKey(*row) if row else None


async def user_id_by_name(conn: AsyncConnection, name: str) -> UUID | None:
    cur = await conn.execute("SELECT user_id FROM gateway.users WHERE name = %s", (name,))
    row = await cur.fetchone()
    return row[0] if row else None


async def user_for_token(pool: AsyncConnectionPool, token: str) -> UUID | None:
    """The listener a bearer token belongs to, or None for an unknown or revoked key."""
    key = parse_token(token)
    if key is None:
        return None
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT user_id, key_hash FROM gateway.api_keys"
            " WHERE key_id = %s AND revoked_at IS NULL",
            (key.key_id,),
        )
        row = await cur.fetchone()
    if row is None or not secret_matches(key.secret, row[1]):
        return None
    user_id: UUID = row[0]
    return user_id


async def store_upload(
    pool: AsyncConnectionPool, user_id: UUID, file_name: str, payload: bytes
) -> tuple[UUID, UUID]:
    """Keep an export given whole (tools and tests; ImportHistory streams through the same
    writer), in parts, until ingest has read it; returns (upload id, import id). An identical
    upload of the listener's whose import is done or running is refused (ALREADY_EXISTS)."""
    writer = UploadWriter(pool, user_id, PartAssembler(max(len(payload), 1)))
    await writer.begin(file_name)
    try:
        await writer.add(payload)
        earlier = await writer.complete(file_name)
    except BaseException:
        await writer.discard()
        raise
    if earlier is not None:
        raise already_uploaded(earlier)
    return writer.upload_id, writer.import_id


async def import_request(
    pool: AsyncConnectionPool, import_id: UUID
) -> tuple[UUID, datetime] | None:
    """(owner, when it was requested) of an import."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT user_id, created_at FROM gateway.uploads WHERE import_id = %s", (import_id,)
        )
        row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def delete_uploads(
    pool: AsyncConnectionPool, user_id: UUID, import_id: UUID | None = None
) -> int:
    """Delete the listener's uploads (their parts go with them), or only one import's; how
    many went. Run once ingest has deleted the import's plays: its upload holds them too."""
    values: tuple[UUID, ...]
    condition, values = "user_id = %s", (user_id,)
    if import_id is not None:
        condition, values = "user_id = %s AND import_id = %s", (user_id, import_id)
    async with pool.connection() as conn:
        cur = await conn.execute(f"DELETE FROM gateway.uploads WHERE {condition}", values)
    return cur.rowcount


async def erase_account(pool: AsyncConnectionPool, user_id: UUID) -> dict[str, int]:
    """Every gateway row of the listener (user, keys, uploads), in one transaction; rows
    removed per table. The listener's keys stop working with it."""
    async with pool.connection() as conn, conn.transaction():
        return await erase_listener(conn, "gateway", user_id)


async def user_name(pool: AsyncConnectionPool, user_id: UUID) -> str:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT name FROM gateway.users WHERE user_id = %s", (user_id,))
        row = await cur.fetchone()
    return str(row[0]) if row else ""


async def revoke_api_key(conn: AsyncConnection, key_id: str) -> str | None:
    """Revoke a key by its id (the part after `fc_`); the name of its owner, or None when no
    active key has that id. Gateways stop accepting it once the revocation is announced
    (revocations.announce)."""
    cur = await conn.execute(
        "UPDATE gateway.api_keys k SET revoked_at = now() FROM gateway.users u"
        " WHERE k.key_id = %s AND k.revoked_at IS NULL AND u.user_id = k.user_id"
        " RETURNING u.name",
        (key_id,),
    )
    row = await cur.fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class Listener:
    user_id: UUID
    name: str
    created_at: datetime
    active_keys: int


async def list_users(conn: AsyncConnection) -> list[Listener]:
    """Every listener by name, with how many of their keys are not revoked."""
    cur = await conn.execute(
        "SELECT u.user_id, u.name, u.created_at, count(k.key_id) FILTER"
        " (WHERE k.revoked_at IS NULL) FROM gateway.users u"
        " LEFT JOIN gateway.api_keys k ON k.user_id = u.user_id"
        " GROUP BY u.user_id ORDER BY u.name"
    )
    return [Listener(*row) for row in await cur.fetchall()]
