"""Gateway's settings over the shared base."""

from __future__ import annotations

from pydantic import Field, SecretStr

from fullcircle.settings import FullCircleSettings


class GatewaySettings(FullCircleSettings):
    grpc_port: int = 50051
    model_address: str = "127.0.0.1:50052"
    ingest_address: str = "127.0.0.1:50053"
    features_address: str = "127.0.0.1:50055"
    model_deadline_s: float = Field(default=5.0, gt=0, description="cap on a call to a service")
    spotify_write_deadline_s: float = Field(
        default=240.0,
        gt=0,
        description="cap on writing a playlist into Spotify (ingest waits out Spotify's "
        "Retry-After and retries its 5xx answers)",
    )
    max_upload_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    uploads_per_key: int = Field(
        default=2, ge=1, description="uploads one API key may run at once, all replicas"
    )
    uploads_per_gateway: int = Field(
        default=8, ge=1, description="uploads one gateway process receives at once"
    )
    upload_slot_ttl_s: float = Field(
        default=30.0, gt=0, description="how long a dead gateway's upload slots outlive it"
    )
    upload_abandoned_s: float = Field(
        default=3600.0, gt=0, description="an incomplete upload silent this long is deleted"
    )
    upload_retention_s: float = Field(
        default=0.0, ge=0, description="an upload's bytes kept after its import is done; 0 none"
    )
    upload_sweep_interval_s: float = Field(
        default=60.0, gt=0, description="how often abandoned and expired uploads are deleted"
    )
    subscriber_queue: int = Field(default=64, ge=1, description="events buffered per subscriber")
    key_rate_limit: float = Field(
        default=50.0, ge=1, description="calls per API key in any one second, all replicas"
    )
    key_cache_s: float = Field(
        default=30.0,
        ge=0,
        description="how long a key's owner is cached (a revocation ends it at once)",
    )
    revocation_poll_s: float = Field(
        default=1.0, gt=0, description="how often open streams are checked for a revoked key"
    )
    feedback_wait_s: float = Field(
        default=8.0,
        ge=0,
        description="how long SubmitFeedback waits for the set reflecting it (keep it above "
        "1.5 x the model's FEEDBACK_DEBOUNCE_SECONDS plus a remake)",
    )
    deletion_wait_s: float = Field(
        default=60.0,
        gt=0,
        description="how long DeletePlays and DeleteAccount wait for the services' answers",
    )
    cache_ttl_s: int = Field(default=300, ge=1, description="cached recommendation answers")
    gateway_admin_token: SecretStr | None = Field(
        default=None, description="bearer token of the Admin API; unset: admin calls refused"
    )
