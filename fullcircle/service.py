"""The one composition root every service runs through: logging, migrations, the Postgres pool,
the bus, a gRPC server (health at least), and a graceful stop on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faststream.redis.prometheus import RedisPrometheusMiddleware
from psycopg_pool import AsyncConnectionPool

from fullcircle.bus import Bus
from fullcircle.db import apply_migrations, open_pool
from fullcircle.grpc_server import GrpcServer, tls_from_files
from fullcircle.logs import configure_logging
from fullcircle.metrics import MetricsInterceptor, ServiceMetrics
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
    _health_checks: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)

    def background(self, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `task()` once the bus is up, until the service stops."""
        self._background.append(task)

    def health_check(self, name: str, check: Callable[[], Awaitable[bool]]) -> None:
        """Count `check()` among the dependencies whose failure makes the service NOT_SERVING."""
        self._health_checks[name] = check

    def on_stop(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Await `cleanup()` when the service stops, after the gRPC server has drained."""
        self._on_stop.append(cleanup)


Setup = Callable[[ServiceRuntime], Awaitable[None]]


async def run_service(
    name: str, settings: FullCircleSettings, migrations: Path | None, setup: Setup
) -> None:
    """Run one service until it is told to stop."""
    configure_logging(settings.log_level, name, settings.log_format)
    if migrations is not None:
        await apply_migrations(settings.database_url, name, migrations)
    pool = await open_pool(settings.database_url)
    metrics = ServiceMetrics(name)
    bus = Bus(settings, name, [RedisPrometheusMiddleware(registry=metrics.registry, app_name=name)])
    grpc_server = GrpcServer(
        settings.grpc_host,
        settings.grpc_port,
        tls=tls_from_files(settings.grpc_tls_cert_file, settings.grpc_tls_key_file),
    )
    grpc_server.interceptors.append(MetricsInterceptor(metrics))
    stopping = asyncio.Event()
    runtime = ServiceRuntime(name, settings, pool, bus, grpc_server, stopping)
    runtime.health_check("postgres", lambda: _postgres_answers(pool))
    runtime.health_check("redis", lambda: _redis_answers(bus))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    tasks: list[asyncio.Task[None]] = []
    try:
        await setup(runtime)
        await grpc_server.start()
        await bus.start()
        tasks = [asyncio.create_task(task()) for task in runtime._background]
        if settings.metrics_port >= 0:
            port = metrics.serve(settings.metrics_host, settings.metrics_port)
            log.info("metrics on %s:%d/metrics", settings.metrics_host, port)
        await grpc_server.set_serving(True)
        tasks.append(asyncio.create_task(_watch_health(runtime, metrics)))
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


async def _postgres_answers(pool: AsyncConnectionPool) -> bool:
    async with pool.connection(timeout=2.0) as conn:
        await conn.execute("SELECT 1")
    return True


async def _redis_answers(bus: Bus) -> bool:
    return bool(await bus.redis.ping())


async def _watch_health(runtime: ServiceRuntime, metrics: ServiceMetrics) -> None:
    """Health follows the dependencies: NOT_SERVING while one of them does not answer."""
    serving = True
    while not runtime.stopping.is_set():
        failing = []
        for name, check in runtime._health_checks.items():
            try:
                healthy = await asyncio.wait_for(check(), 3.0)
            except Exception:
                healthy = False
            if not healthy:
                failing.append(name)
        if bool(failing) == serving:
            serving = not failing
            await runtime.grpc.set_serving(serving)
            if failing:
                log.warning("%s NOT_SERVING: %s not answering", runtime.name, ", ".join(failing))
            else:
                log.info("%s serving again", runtime.name)
        with contextlib.suppress(Exception):
            await runtime.bus.recover()
            await metrics.sample_bus(runtime.bus.redis)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stopping.wait(), runtime.settings.health_interval_s)
