"""Integration tier: real PostgreSQL (a fresh database, every service's migrations applied)
and a real Redis db flushed before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from fullcircle.bus import Bus
from fullcircle.db import apply_migrations, open_pool
from fullcircle.grpc_server import GrpcServer
from fullcircle.settings import FullCircleSettings
from fullcircle.v1 import features_pb2, features_pb2_grpc
from services.features.adapters.worker import ListenerWorkers
from services.features.app import ProfileBuilder
from services.features.domain.listener import ListenRules
from services.features.servicer import ListenerSettings, TastesServicer
from services.features.settings import FeaturesSettings
from services.model.training import TrainingPool

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


@pytest.fixture
async def tastes_server(
    pool: Any, migrated_database: str
) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Starts features' Tastes gRPC server (on a free port, over the test database) with the
    given listen rules; returns its address. Every server started is stopped afterwards."""
    servers: list[GrpcServer] = []
    workers = ListenerWorkers(migrated_database)

    async def start(rules: ListenRules, settings: ListenerSettings | None = None) -> str:
        server = GrpcServer("127.0.0.1", 0)
        server.add(
            features_pb2_grpc.add_TastesServicer_to_server,
            TastesServicer(pool, rules, workers, settings),
            features_pb2.DESCRIPTOR.services_by_name["Tastes"].full_name,
        )
        await server.start()
        await server.set_serving(True)
        servers.append(server)
        return server.address

    yield start
    for server in servers:
        await server.stop(0)
    workers.close()


@pytest.fixture
async def profile_builder(pool: Any, settings: FullCircleSettings) -> AsyncIterator[ProfileBuilder]:
    """Features' profile builder over the test database, publishing on a started bus."""
    features = FeaturesSettings(database_url=settings.database_url, redis_url=settings.redis_url)
    bus = Bus(settings, "features")
    await bus.start()
    builder = ProfileBuilder(SimpleNamespace(pool=pool, bus=bus), features)  # type: ignore[arg-type]
    try:
        yield builder
    finally:
        builder.workers.close()
        await bus.stop()


@pytest.fixture(scope="session")
async def training() -> AsyncIterator[TrainingPool]:
    """The training processes of one model replica (spawned once for the session)."""
    processes = TrainingPool(1)
    yield processes
    await processes.stop()
