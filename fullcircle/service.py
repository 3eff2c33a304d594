"""The one composition root every service runs through: logging, migrations, the Postgres pool,
the bus, a gRPC server (health at least), and a graceful stop on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool

from fullcircle.bus import Bus
from fullcircle.db import apply_migrations, open_pool
from fullcircle.grpc_server import GrpcServer
from fullcircle.logs import configure_logging
from fullcircle.settings import FullCircleSettings

log = logging.getLogger(__name__)


@dataclass
class ServiceRuntime:
    """What a service's setup function wires its handlers and servicers into."""

    name: str
    settings: FullCircleSettings
    pool: AsyncConnectionPool
    bus: Bus
    grpc: GrpcServer
    stopping: asyncio.Event
    _background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    _on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def background(self, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `task()` once the bus is up, until the service stops."""
        self._background.append(task)

    def on_stop(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Await `cleanup()` when the service stops, after the gRPC server has drained."""
        self._on_stop.append(cleanup)


Setup = Callable[[ServiceRuntime], Awaitable[None]]


async def run_service(
    name: str, settings: FullCircleSettings, migrations: Path | None, setup: Setup
) -> None:
    """Run one service until it is told to stop."""
    configure_logging(settings.log_level, name)
    if migrations is not None:
        await apply_migrations(settings.database_url, name, migrations)
    pool = await open_pool(settings.database_url)
    bus = Bus(settings, name)
    grpc_server = GrpcServer(settings.grpc_host, settings.grpc_port)
    stopping = asyncio.Event()
    runtime = ServiceRuntime(name, settings, pool, bus, grpc_server, stopping)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    tasks: list[asyncio.Task[None]] = []
    try:
        await setup(runtime)
        await grpc_server.start()
        await bus.start()
        tasks = [asyncio.create_task(task()) for task in runtime._background]
        await grpc_server.set_serving(True)
        log.info("%s ready", name)
        await stopping.wait()
        log.info("%s stopping", name)
    finally:
        stopping.set()
        await grpc_server.stop(settings.grpc_grace_seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for cleanup in runtime._on_stop:
            await cleanup()
        await bus.stop()
        await pool.close()
