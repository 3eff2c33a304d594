"""Features' settings over the shared base."""

from __future__ import annotations

from pydantic import Field

from fullcircle.settings import FullCircleSettings


class FeaturesSettings(FullCircleSettings):
    grpc_port: int = 50055
    half_life_days: float = Field(default=90.0, gt=0)
    min_listen_ms: int = Field(default=30_000, ge=0)
