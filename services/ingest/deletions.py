"""Ingest's entry layer for taking plays back out: a deletion request -> the plays removed ->
`plays.deleted` (features recomputes the profile on it, as after new plays); an account
deletion -> every ingest row of the listener erased -> `ingest.account.erased`."""

from __future__ import annotations

import logging

from fullcircle.bus import Bus
from fullcircle.erasure import earlier_answer
from fullcircle.events import PlaysDeleted, PlaysDeletionRequested
from fullcircle.service import ServiceRuntime
from services.ingest.adapters import deletions

log = logging.getLogger(__name__)


class PlayDeleter:
    """Answers each deletion request once: a redelivered request finds its answer on the bus."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.pool = runtime.pool
        self.bus: Bus = runtime.bus

    async def on_deletion_requested(self, request: PlaysDeletionRequested) -> None:
        if await earlier_answer(self.bus.redis, PlaysDeleted, request) is not None:
            return
        try:
            removed = await deletions.delete_plays(self.pool, request)
        except deletions.DeletionRefused as exc:
            answer = PlaysDeleted(
                user_id=request.user_id,
                request_id=request.event_id,
                refused=exc.reason,
                message=str(exc),
            )
        else:
            answer = PlaysDeleted(
                user_id=request.user_id, request_id=request.event_id, removed=removed
            )
            log.info("deletion %s of %s: %s", request.event_id, request.user_id, removed)
        await self.bus.publish(answer)
