"""Enrich's settings over the shared base. With no LASTFM_API_ROOT, enrich talks to the real
Last.fm (which needs LASTFM_API_KEY); the local stack points it at the bundled catalog server."""

from __future__ import annotations

from pydantic import Field, SecretStr

from fullcircle.settings import FullCircleSettings

LASTFM_API_ROOT = "https://ws.audioscrobbler.com/2.0/"


class EnrichSettings(FullCircleSettings):
    grpc_port: int = 50054
    lastfm_api_key: SecretStr | None = None
    lastfm_api_root: str = LASTFM_API_ROOT
    lastfm_rate_limit: float = Field(default=5.0, gt=0, description="requests per second per key")
    lastfm_concurrency: int = Field(default=8, ge=1)
    lastfm_similar_limit: int = Field(default=50, ge=1)
    lastfm_retries: int = Field(default=4, ge=0)
    fetch_claim_ms: int = Field(
        default=30_000,
        ge=1000,
        description="how long a replica's claim on an artist it fetches lives unless renewed",
    )
    cache_ttl_days: float = Field(default=30.0, gt=0)
    announce_first: int = Field(
        default=20, ge=1, description="artists fetched before the first enriched event"
    )
    announce_every: int = Field(
        default=100, ge=1, description="artists fetched per enriched event after the first"
    )
    candidate_budget: int = Field(default=300, ge=0, description="candidates tagged per update")
    candidate_tags: int = Field(default=5, ge=0, description="top tags whose top artists count")
    top_tracks_artists: int = Field(
        default=100,
        ge=0,
        le=100,
        description="artists of each new set (named in its event, best first) whose top "
        "tracks are fetched, in pages of 20 (the page GetRecommendations answers by default)",
    )
    top_tracks_limit: int = Field(default=10, ge=1, le=50, description="top tracks kept per artist")
