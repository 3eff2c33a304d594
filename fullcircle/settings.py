"""The one settings base every service extends: Postgres, Redis, bus tuning, gRPC, logging."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FullCircleSettings(BaseSettings):
    """Read from environment variables (DATABASE_URL, REDIS_URL, ...); secrets are SecretStr."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/fullcircle",
        description="PostgreSQL conninfo; the local stack sets it to its embedded server",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0")
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    bus_max_deliveries: int = Field(default=5, ge=1, description="deliveries before a dead letter")
    bus_claim_idle_ms: int = Field(default=30_000, ge=100, description="idle time before a retry")
    bus_stream_maxlen: int = Field(default=100_000, ge=100, description="cap of every stream")
    bus_slow_handler_s: float = Field(
        default=60.0, gt=0, description="a handler running longer logs where it waits, each period"
    )
    bus_dead_letter_alert: int = Field(
        default=1_000,
        ge=0,
        description="dead letters in one stream above which each new one "
        "logs an error (dead letters are never trimmed)",
    )
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=0, ge=0, description="gRPC port (health at least); 0 = any")
    grpc_grace_seconds: float = Field(default=10.0, ge=0)
    grpc_tls_cert_file: str = Field(default="", description="PEM certificate: serve over TLS")
    grpc_tls_key_file: str = Field(default="", description="PEM private key of the certificate")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=-1, ge=-1, description="Prometheus /metrics; -1 off, 0 any")
    health_interval_s: float = Field(default=5.0, gt=0, description="dependency checks")
