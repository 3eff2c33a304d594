"""Ingest's entry layer: turns `imports.requested` into a parsed, stored and announced import."""

from __future__ import annotations

import logging
from typing import Any

from fullcircle.bus import Bus
from fullcircle.erasure import AccountEraser
from fullcircle.events import (
    AccountDeletionRequested,
    ImportProgress,
    ImportRequested,
    IngestAccountErased,
    PlaysDeletionRequested,
    SyncRequested,
)
from fullcircle.service import ServiceRuntime
from fullcircle.v1 import ingest_pb2, ingest_pb2_grpc
from services.ingest.adapters import store
from services.ingest.deletions import PlayDeleter
from services.ingest.domain.announce import (
    import_report,
    plays_ingested_batches,
)
from services.ingest.domain.exports import ExportError, read_export
from services.ingest.links import SpotifyLinksServicer
from services.ingest.settings import IngestSettings
from services.ingest.spotify_sync import SpotifySync, spotify_parts

log = logging.getLogger(__name__)


class Importer:
    """Runs one import at a time per message; safe to run twice for the same import."""

    def __init__(self, runtime: ServiceRuntime, settings: IngestSettings) -> None:
        self.pool = runtime.pool
        self.bus: Bus = runtime.bus
        self.settings = settings

    async def on_import_requested(self, request: ImportRequested) -> None:
        previous = await store.get_import(self.pool, request.import_id)
        if previous is not None and previous.status != "running":
            await self._announce_again(request, previous)
            return
        await store.start_import(self.pool, request.import_id, request.user_id, request.file_name)
        upload = await store.load_upload(self.pool, request.upload_id)
        if upload is None:
            await self._fail(request, f"{request.file_name}: the upload is gone; upload it again")
            return
        file_name, payload = upload
        await self._progress(request, "parsing", message=f"reading {file_name}")

        async def stored(count: int) -> None:
            # while files are still being read, the plays read so far are the plays stored
            await self._progress(request, "storing", plays_read=count, plays_stored=count)

        try:
            export, deltas = await store.store_export(
                self.pool,
                request.user_id,
                request.import_id,
                lambda hand: read_export(file_name, payload, hand=hand),
                chunk_rows=self.settings.import_batch_rows,
                report_of=import_report,
                on_chunk=stored,
            )
        except ExportError as exc:
            await self._fail(request, str(exc))
            return
        report = import_report(export)
        plays_read = len(export.plays)
        plays_new = sum(delta.new_plays for delta in deltas)
        await self._finish(
            request,
            plays_read,
            plays_new,
            report["set_aside"],
            report["rejected"],
            report["files"],
        )
        for event in plays_ingested_batches(
            request.user_id,
            request.import_id,
            export.format,
            deltas,
            self.settings.artists_per_event,
        ):
            await self.bus.publish(event)
        log.info("import %s: %d plays read, %d new", request.import_id, plays_read, plays_new)

    async def on_give_up(self, request: ImportRequested, error: str) -> None:
        """The import kept failing for reasons of ours, not the file's: say so, keep the upload."""
        await self._fail(
            request,
            f"{request.file_name}: the import failed {self.settings.bus_max_deliveries} times "
            f"on our side ({error.splitlines()[0][:200]}); nothing was stored and the upload is "
            "kept, so an operator can replay it from the dead letters",
        )

    async def _announce_again(self, request: ImportRequested, previous: store.ImportRecord) -> None:
        """A redelivered request for a finished import: say again how it ended (at-least-once)."""
        if previous.status == "failed":
            await self._fail(request, previous.error or "the import failed")
            return
        await self._finish(
            request, previous.plays_read, previous.plays_new, previous.set_aside, previous.rejected
        )
        deltas = await store.import_deltas(self.pool, request.import_id)
        for event in plays_ingested_batches(
            request.user_id,
            request.import_id,
            "extended",
            deltas,
            self.settings.artists_per_event,
        ):
            await self.bus.publish(event)

    async def _finish(
        self,
        request: ImportRequested,
        read: int,
        new: int,
        set_aside: int,
        rejected: int,
        files: list[dict[str, Any]] | None = None,
    ) -> None:
        await self._progress(
            request,
            "done",
            plays_read=read,
            plays_stored=read,
            plays_new=new,
            duplicates=read - new,
            set_aside=set_aside,
            rejected=rejected,
            message=f"{read} plays read, {new} new, {read - new} already stored, "
            f"{set_aside} podcast/audiobook rows set aside, {rejected} rows rejected",
            files=files or [],
        )

    async def _fail(self, request: ImportRequested, error: str) -> None:
        await store.fail_import(self.pool, request.import_id, error)
        await self._progress(request, "failed", message=error)
        log.warning("import %s failed: %s", request.import_id, error)

    async def _progress(self, request: ImportRequested, stage: str, **counts: object) -> None:
        await self.bus.publish(
            ImportProgress.model_validate(
                {
                    "user_id": request.user_id,
                    "import_id": request.import_id,
                    "stage": stage,
                    **counts,
                }
            )
        )


async def setup(runtime: ServiceRuntime) -> None:
    settings = IngestSettings()
    importer = Importer(runtime, settings)
    runtime.bus.consume(ImportRequested, importer.on_import_requested, importer.on_give_up)
    runtime.bus.consume(PlaysDeletionRequested, PlayDeleter(runtime).on_deletion_requested)
    eraser = AccountEraser(runtime.pool, runtime.bus, IngestAccountErased, store.lock_listener)
    runtime.bus.consume(AccountDeletionRequested, eraser.on_account_deletion)
    parts = spotify_parts(settings)
    runtime.grpc.add(
        ingest_pb2_grpc.add_SpotifyLinksServicer_to_server,
        SpotifyLinksServicer(runtime.pool, parts),
        ingest_pb2.DESCRIPTOR.services_by_name["SpotifyLinks"].full_name,
    )
    if parts is None:
        log.info("live Spotify sync is off (set SPOTIFY_CLIENT_ID and SPOTIFY_TOKEN_SECRET)")
        runtime.bus.consume(SyncRequested, _sync_off)
        return
    syncer = SpotifySync(runtime.pool, runtime.bus, settings, *parts)
    runtime.bus.consume(SyncRequested, syncer.on_sync_requested)
    runtime.background(lambda: syncer.run_schedule(runtime.stopping))


async def _sync_off(request: SyncRequested) -> None:
    log.info("sync requested for %s, but live Spotify sync is off", request.user_id)
