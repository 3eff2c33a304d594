"""Model's settings over the shared base."""

from __future__ import annotations

from pydantic import Field

from fullcircle.settings import FullCircleSettings


class ModelSettings(FullCircleSettings):
    grpc_port: int = 50052
    set_size: int = Field(default=100, ge=1, description="recommendations stored per set")
    seed_artists: int = Field(default=300, ge=1, description="top artists whose similars count")
