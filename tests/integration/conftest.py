"""Integration tier: real PostgreSQL (a fresh database, every service's migrations applied)
and a real Redis db flushed before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from fullcircle.db import apply_migrations, open_pool
from fullcircle.settings import FullCircleSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "ingest", "enrich", "features", "model")
INTEGRATION_REDIS_DB = 13

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def migrated_database(database_url: str) -> str:
    for service in SERVICES:
        await apply_migrations(database_url, service, ROOT / "services" / service / "migrations")
    return database_url


@pytest.fixture
async def pool(migrated_database: str) -> AsyncIterator[object]:
    pool = await open_pool(migrated_database, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    url = f"{redis_server_url}/{INTEGRATION_REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.close()


@pytest.fixture
def settings(migrated_database: str, redis_url: str) -> FullCircleSettings:
    return FullCircleSettings(
        database_url=migrated_database,
        redis_url=redis_url,
        bus_claim_idle_ms=200,
        bus_max_deliveries=3,
    )
