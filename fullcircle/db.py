"""PostgreSQL access: the async connection pool and the one migration runner.

Migrations are plain numbered SQL files (`001_plays.sql`, ...) in one folder per owning service.
They are applied in order under an advisory lock (replicas starting together apply each file
once), each in its own transaction, and recorded with a checksum: editing an applied file is an
error, not a silent divergence.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

MIGRATION_LOCK_ID = 0x46554C4C  # "FULL": one lock for every service's migrations
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """A migration folder or the recorded history does not add up."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(folder: Path) -> list[Migration]:
    """The numbered SQL files of one service, in order; a gap or a stray name is an error."""
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration names look like 001_what_it_does.sql")
        migrations.append(Migration(int(match.group(1)), path.name, path.read_text()))
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{folder}: expected migration {expected:03d}, found {migration.name}"
            )
    return migrations


async def apply_migrations(conninfo: str, service: str, folder: Path) -> list[str]:
    """Apply the service's pending migrations; returns the names applied now."""
    migrations = load_migrations(folder)
    applied_now: list[str] = []
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS public.schema_migrations (
                       service text NOT NULL,
                       version int NOT NULL,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (service, version))"""
            )
            cur = await conn.execute(
                "SELECT version, name, checksum FROM public.schema_migrations WHERE service = %s",
                (service,),
            )
            recorded = {row[0]: (row[1], row[2]) for row in await cur.fetchall()}
            for migration in migrations:
                if migration.version in recorded:
                    name, checksum = recorded[migration.version]
                    if checksum != migration.checksum:
                        raise MigrationError(
                            f"{service}/{migration.name} changed after it was applied as {name}; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql.encode())
                    await conn.execute(
                        "INSERT INTO public.schema_migrations (service, version, name, checksum)"
                        " VALUES (%s, %s, %s, %s)",
                        (service, migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(migration.name)
                log.info("applied migration %s/%s", service, migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return applied_now


async def open_pool(conninfo: str, *, min_size: int = 1, max_size: int = 8) -> AsyncConnectionPool:
    """An opened async pool; connections are checked before use so a Postgres restart heals."""
    pool = AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        open=False,
        check=AsyncConnectionPool.check_connection,
        reconnect_timeout=60,
    )
    await pool.open(wait=True, timeout=30)
    return pool


def migrations_folder(service_file: str) -> Path:
    """`services/<name>/migrations` next to the given module file."""
    return Path(service_file).resolve().parent / "migrations"
