"""Features' settings over the shared base."""

from __future__ import annotations

from pydantic import Field

from fullcircle.settings import FullCircleSettings
from services.features.domain.listener import ListenRules
from services.features.domain.taste import DEFAULT_HALF_LIFE_DAYS, MIN_LISTEN_MS


class FeaturesSettings(FullCircleSettings):
    grpc_port: int = 50055
    half_life_days: float = Field(default=DEFAULT_HALF_LIFE_DAYS, gt=0)
    min_listen_ms: int = Field(default=MIN_LISTEN_MS, ge=0)
    fit_recency: bool = Field(
        default=True,
        description="weigh artists by the listener's fitted recency model where their history "
        "allows (domain/recency.py); false: the fixed half_life_days decay for everyone",
    )
    recompute_workers: int = Field(
        default=1,
        ge=1,
        description="processes recomputing listeners beside the event loop (each holds one "
        "listener's history in memory while it works)",
    )
    recompute_timeout_s: float = Field(
        default=900.0, gt=0, description="a recompute unanswered this long kills its worker"
    )

    def listen_rules(self) -> ListenRules:
        return ListenRules(self.min_listen_ms, self.half_life_days, self.fit_recency)
