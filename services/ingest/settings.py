"""Ingest's settings over the shared base."""

from __future__ import annotations

from pydantic import Field, SecretStr

from fullcircle.settings import FullCircleSettings
from services.ingest.domain.sync import DEFAULT_MIN_SYNC_INTERVAL_S


class IngestSettings(FullCircleSettings):
    grpc_port: int = 50053
    import_batch_rows: int = Field(default=20_000, ge=100, description="plays per COPY chunk")
    import_max_unpacked_mib: int = Field(
        default=1024,
        ge=1,
        description="how far a zip may unpack (all its JSON files together) before the import "
        "is refused: stops zip bombs at the limit",
    )
    artists_per_event: int = Field(default=500, ge=1, description="artists per plays.ingested")
    spotify_client_id: str = Field(default="", description="empty: live Spotify sync is off")
    spotify_redirect_uri: str = "http://127.0.0.1:8888/callback"
    spotify_accounts_url: str = "https://accounts.spotify.com"
    spotify_api_url: str = "https://api.spotify.com"
    spotify_token_secret: SecretStr | None = Field(
        default=None, description="seals Spotify tokens at rest; at least 16 characters"
    )
    spotify_poll_s: float = Field(
        default=30.0, gt=0, description="how often due syncs are looked for"
    )
    spotify_min_sync_interval_s: float = Field(
        default=DEFAULT_MIN_SYNC_INTERVAL_S,
        ge=0,
        description="the shortest time between two scheduled syncs of one account: a link "
        "whose schedule syncs more often is refused, and a stored one is held to it",
    )
    spotify_lease_s: float = Field(
        default=600.0,
        gt=0,
        description="how long a sync holds its account; outlasts a sync's retries, and is how "
        "long a crashed replica's account waits for another replica",
    )
