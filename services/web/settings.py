"""Web's settings over the shared base: where it listens, which gateway it calls, how long a
session and a sign-in link live."""

from __future__ import annotations

from pydantic import Field

from fullcircle.settings import FullCircleSettings


class WebSettings(FullCircleSettings):
    grpc_port: int = Field(default=50056, description="gRPC health (as every service has)")
    web_host: str = Field(default="127.0.0.1", description="the HTTP server's address")
    web_port: int = Field(default=8080, ge=0, description="the HTTP server's port; 0 = any")
    public_url: str = Field(
        default="", description="the address listeners open (links printed); empty: host:port"
    )
    gateway_address: str = "127.0.0.1:50051"
    gateway_ca_file: str = Field(
        default="", description="PEM of the CA of a TLS gateway; empty: plain (loopback)"
    )
    gateway_deadline_s: float = Field(default=30.0, gt=0, description="cap on a gateway call")
    subscribe_deadline_s: float = Field(
        default=600.0, gt=0, description="one live-update stream; the browser reconnects after"
    )
    session_ttl_s: int = Field(default=7 * 24 * 3600, ge=60, description="idle session lifetime")
    link_ttl_s: int = Field(default=600, ge=10, description="one-time sign-in links")
    cookie_secure: bool = Field(
        default=False, description="mark the session cookie Secure (set it behind HTTPS)"
    )
    max_upload_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
