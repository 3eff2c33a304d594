"""Ingest's settings over the shared base."""

from __future__ import annotations

from pydantic import Field

from fullcircle.settings import FullCircleSettings


class IngestSettings(FullCircleSettings):
    grpc_port: int = 50053
    import_batch_rows: int = Field(default=20_000, ge=100, description="plays per COPY chunk")
    artists_per_event: int = Field(default=500, ge=1, description="artists per plays.ingested")
