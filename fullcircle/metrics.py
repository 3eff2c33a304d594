"""Prometheus metrics of a service, served on its own port (`METRICS_PORT`): gRPC requests and
latencies, messages handled and published (FastStream's middleware), bus lag and dead letters."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from redis.asyncio import Redis

from fullcircle.events import CONSUMER_GROUPS, dead_letter_stream
from fullcircle.grpc_server import around_each_call


class ServiceMetrics:
    """One registry per service process."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.rpc_requests = Counter(
            "fullcircle_grpc_requests",
            "gRPC calls served",
            ["method", "code"],
            registry=self.registry,
        )
        self.rpc_latency = Histogram(
            "fullcircle_grpc_latency_seconds",
            "gRPC call latency",
            ["method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.bus_lag = Gauge(
            "fullcircle_bus_lag",
            "entries not yet delivered to the group",
            ["stream", "group"],
            registry=self.registry,
        )
        self.bus_pending = Gauge(
            "fullcircle_bus_pending",
            "entries delivered but not acknowledged",
            ["stream", "group"],
            registry=self.registry,
        )
        self.dead_letters = Gauge(
            "fullcircle_dead_letters",
            "entries in the stream's dead-letter stream",
            ["stream"],
            registry=self.registry,
        )

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics endpoint (a daemon thread); returns the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        bound: int = server.server_port
        return bound

    async def sample_bus(self, redis: Redis) -> None:
        """Refresh the lag, pending and dead-letter gauges of the groups this service owns."""
        for stream, groups in CONSUMER_GROUPS.items():
            if self.service in groups:
                for info in await redis.xinfo_groups(stream):
                    if info["name"].decode() == self.service:
                        self.bus_lag.labels(stream, self.service).set(info.get("lag") or 0)
                        self.bus_pending.labels(stream, self.service).set(info["pending"])
                self.dead_letters.labels(stream).set(await redis.xlen(dead_letter_stream(stream)))


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every call of the server it is installed on."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or "unknown"
        if handler is None or method.startswith("/grpc.health.v1.Health/"):
            return handler
        metrics = self.metrics

        @contextlib.asynccontextmanager
        async def timed(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
            started = time.perf_counter()
            try:
                yield
            finally:
                code = context.code() or grpc.StatusCode.OK
                metrics.rpc_requests.labels(method, getattr(code, "name", str(code))).inc()
                metrics.rpc_latency.labels(method).observe(time.perf_counter() - started)

        return around_each_call(handler, timed)
