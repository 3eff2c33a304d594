"""gRPC adapter of the model onto features' Tastes: the listener as of a training cutoff, as
features defines it (the model never re-derives it from the plays)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import grpc

from fullcircle.v1 import features_pb2, features_pb2_grpc


class TastesClient:
    """One channel to features, opened on the first call; every call carries the deadline."""

    def __init__(self, address: str, deadline_s: float) -> None:
        self.address = address
        self.deadline_s = deadline_s
        self._channel: grpc.aio.Channel | None = None
        self._stub: features_pb2_grpc.TastesStub | None = None

    async def training_view(
        self, user_id: UUID, cutoff: datetime, max_tags: int
    ) -> features_pb2.TrainingView:
        """The listener just before `cutoff`: artist stats heaviest first, the strongest tags."""
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.address)
            self._stub = features_pb2_grpc.TastesStub(self._channel)
        view: features_pb2.TrainingView = await self._stub.GetTrainingView(
            features_pb2.TrainingViewRequest(
                user_id=str(user_id), cutoff=cutoff.isoformat(), max_tags=max_tags
            ),
            timeout=self.deadline_s,
        )
        return view

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub = None
