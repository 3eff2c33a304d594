"""Gateway's composition: the FullCircle and Admin servicers, the model, ingest and features
clients, the fan-out reader and the upload retention (consumer and sweep)."""

from __future__ import annotations

import grpc

from fullcircle.events import ImportProgress
from fullcircle.grpc_server import check_health
from fullcircle.ratelimit import async_shared_rate_limit
from fullcircle.service import ServiceRuntime
from fullcircle.v1 import (
    features_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    ingest_pb2_grpc,
    model_pb2_grpc,
)
from services.gateway.adapters.cache import RecommendationCache
from services.gateway.adapters.streams import RecommendationFanout
from services.gateway.admin import add_admin
from services.gateway.auth import AuthInterceptor
from services.gateway.retention import UploadRetention
from services.gateway.servicer import FullCircleServicer
from services.gateway.settings import GatewaySettings


async def setup(runtime: ServiceRuntime) -> None:
    settings = GatewaySettings()
    channel = grpc.aio.insecure_channel(settings.model_address)
    model = model_pb2_grpc.RecommenderStub(channel)
    ingest_channel = grpc.aio.insecure_channel(settings.ingest_address)
    links = ingest_pb2_grpc.SpotifyLinksStub(ingest_channel)
    features_channel = grpc.aio.insecure_channel(settings.features_address)
    tastes = features_pb2_grpc.TastesStub(features_channel)
    cache = RecommendationCache(runtime.bus, settings.cache_ttl_s)
    fanout = RecommendationFanout(runtime.bus, settings.subscriber_queue, cache.invalidate)
    servicer = FullCircleServicer(
        settings, runtime.pool, runtime.bus, model, fanout, cache, links, tastes
    )
    auth = AuthInterceptor(
        runtime.pool,
        runtime.bus,
        async_shared_rate_limit(settings.redis_url, "gateway:key", settings.key_rate_limit),
        settings.key_cache_s,
        settings.revocation_poll_s,
    )
    runtime.grpc.interceptors.append(auth)
    runtime.grpc.add(
        gateway_pb2_grpc.add_FullCircleServicer_to_server,
        servicer,
        gateway_pb2.DESCRIPTOR.services_by_name["FullCircle"].full_name,
    )
    add_admin(runtime, settings, links)
    runtime.background(lambda: fanout.run(runtime.stopping))
    retention = UploadRetention(runtime.pool, runtime.bus, settings)
    runtime.bus.consume(ImportProgress, retention.on_import_progress)
    runtime.background(lambda: retention.run(runtime.stopping))
    runtime.background(lambda: auth.watch_revocations(runtime.stopping))
    runtime.on_stop(channel.close)
    runtime.on_stop(ingest_channel.close)
    runtime.on_stop(features_channel.close)
    runtime.health_check("model", lambda: check_health(settings.model_address, 2.0))
