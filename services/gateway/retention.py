"""Nothing kept that should go: the gateway's consumer of `imports.progress` deletes an upload's
bytes once its import has ended (at once when it failed on the file; after
`upload_retention_s` when it is done; never when it failed on our side and is kept for a
retry), and a periodic sweep deletes the parts retention frees and the incomplete uploads a
dead gateway or a vanished client left behind, and asks ingest for a complete upload whose
gateway died before it could. The small row of each upload stays."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from psycopg_pool import AsyncConnectionPool

from fullcircle.bus import Bus
from fullcircle.events import ImportProgress
from services.gateway.adapters import uploads
from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

# how long a complete upload waits for its own gateway to ask ingest before the sweep does:
# far longer than the one publish between the two
UNREQUESTED_AFTER_S = 60.0


class UploadRetention:
    def __init__(self, pool: AsyncConnectionPool, bus: Bus, settings: GatewaySettings) -> None:
        self.pool = pool
        self.bus = bus
        self.settings = settings

    async def on_import_progress(self, progress: ImportProgress) -> None:
        """Idempotent: a redelivered or replayed end notes the same outcome again."""
        if progress.stage == "done":
            deleted = await uploads.record_outcome(
                self.pool, progress.import_id, "done", self.settings.upload_retention_s == 0
            )
        elif progress.stage == "failed":
            outcome: uploads.Outcome = "kept" if progress.upload_kept else "failed"
            deleted = await uploads.record_outcome(
                self.pool, progress.import_id, outcome, not progress.upload_kept
            )
        else:
            return
        if deleted:
            log.info(
                "import %s %s: its upload's %d parts deleted",
                progress.import_id,
                progress.stage,
                deleted,
            )

    async def sweep(self) -> None:
        """One pass: abandoned incomplete uploads, the parts whose retention has run out, and
        the imports of complete uploads nobody asked ingest for."""
        for request in await uploads.unrequested(self.pool, UNREQUESTED_AFTER_S):
            await self.bus.publish(request)  # ingest imports a request once, however often
            await uploads.mark_requested(self.pool, request.upload_id)
            log.warning("asked ingest for import %s: its gateway died first", request.import_id)
        abandoned = await uploads.sweep_abandoned(self.pool, self.settings.upload_abandoned_s)
        expired = await uploads.delete_expired_parts(self.pool, self.settings.upload_retention_s)
        if abandoned or expired:
            log.info("deleted %d abandoned uploads and %d parts past retention", abandoned, expired)

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep at start (what a crashed gateway left), then every `upload_sweep_interval_s`."""
        while not stopping.is_set():
            try:
                await self.sweep()
            except Exception as exc:  # Postgres away: the next pass tries again
                log.warning("upload sweep failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.upload_sweep_interval_s)
