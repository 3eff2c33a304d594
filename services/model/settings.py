"""Model's settings over the shared base."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fullcircle.settings import FullCircleSettings


class ModelSettings(FullCircleSettings):
    grpc_port: int = 50052
    set_size: int = Field(default=100, ge=1, description="recommendations stored per set")
    seed_artists: int = Field(default=300, ge=1, description="top artists whose similars count")
    candidate_tags: int = Field(default=5, ge=0, description="top tags whose top artists count")
    scorer: Literal["hybrid", "composite"] = Field(
        default="hybrid", description="hybrid (tuned on protocol B) or the seed composite"
    )
