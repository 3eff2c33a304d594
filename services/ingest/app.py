"""Ingest's entry layer: turns `imports.requested` into a parsed, stored and announced import."""

from __future__ import annotations

import asyncio
import logging

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
    ArtistDelta,
    done_summary,
    import_report,
    plays_ingested_batches,
)
from services.ingest.domain.exports import ExportError, read_upload
from services.ingest.links import SpotifyLinksServicer
from services.ingest.settings import IngestSettings
from services.ingest.spotify_sync import SpotifySync, spotify_parts

log = logging.getLogger(__name__)

# The counts of a finished import's record its done progress carries, under the same names.
_DONE_COUNTS = ("plays_read", "plays_new", "duplicates", "set_aside", "rejected")
# How a failure of ours (not the file's) ends its message; the failed progress of such an
# import says so (upload_kept), read back from the stored error, so the gateway keeps its bytes.
_KEPT_FOR_RETRY = "the upload is kept"


class Importer:
    """Runs one import per request; however often a request is delivered (one after another
    or at once), the import is stored once and its end announced once."""

    def __init__(self, runtime: ServiceRuntime, settings: IngestSettings) -> None:
        self.pool = runtime.pool
        self.bus: Bus = runtime.bus
        self.settings = settings

    async def on_import_requested(self, request: ImportRequested) -> None:
        previous = await store.get_import(self.pool, request.import_id)
        if previous is not None and previous.status != "running":
            await self._announce(request)
            return
        await store.start_import(self.pool, request.import_id, request.user_id, request.file_name)
        file_name = await store.load_upload(self.pool, request.upload_id)
        if file_name is None:
            await self._fail(request, f"{request.file_name}: the upload is gone; upload it again")
            return
        parts = store.upload_parts(self.pool, request.upload_id, asyncio.get_running_loop())
        await self._progress(request, "parsing", message=f"reading {file_name}")

        async def stored(count: int) -> None:
            # while files are still being read, the plays read so far are the plays stored
            await self._progress(request, "storing", plays_read=count, plays_stored=count)

        try:
            export, deltas = await store.store_export(
                self.pool,
                request.user_id,
                request.import_id,
                # The request's time, not the clock's: a redelivery judges every date alike.
                lambda hand: read_upload(
                    file_name,
                    parts,
                    max_uncompressed_bytes=self.settings.import_max_unpacked_mib * 2**20,
                    hand=hand,
                    requested_at=request.occurred_at,
                ),
                chunk_rows=self.settings.import_batch_rows,
                report_of=import_report,
                on_chunk=stored,
            )
        except store.ImportFinished:
            await self._announce(request)
            return
        except ExportError as exc:
            await self._fail(request, str(exc))
            return
        await self._announce(request, deltas)
        log.info(
            "import %s: %d plays read, %d new",
            request.import_id,
            export.music_plays,
            sum(delta.new_plays for delta in deltas),
        )

    async def on_give_up(self, request: ImportRequested, error: str) -> None:
        """The import kept failing for reasons of ours, not the file's: say so, keep the upload."""
        await self._fail(
            request,
            f"{request.file_name}: the import failed {self.settings.bus_max_deliveries} times "
            f"on our side ({error.splitlines()[0][:200]}); nothing was stored and "
            f"{_KEPT_FOR_RETRY}, so an operator can replay it from the dead letters",
        )

    async def _announce(
        self, request: ImportRequested, deltas: list[ArtistDelta] | None = None
    ) -> None:
        """Announce how the import ended, from its stored record, unless a delivery of the
        same request did already: the done (or failed) progress and, when done, its
        plays.ingested (`deltas` when this delivery stored them, else read back). A new
        request for a finished import (`fullcircle replay`) announces the same record again."""
        async with store.announcing(self.pool, request.import_id, request.event_id) as record:
            if record is None:
                log.info("import %s: its end was announced already", request.import_id)
                return
            if record.status == "failed":
                await self._progress(
                    request,
                    "failed",
                    message=record.error or "the import failed",
                    upload_kept=_KEPT_FOR_RETRY in (record.error or ""),
                )
                return
            report = record.report or {}
            if deltas is None:
                deltas = await store.import_deltas(self.pool, request.import_id)
            counts = {name: getattr(record, name) for name in _DONE_COUNTS}
            await self._progress(
                request,
                "done",
                plays_stored=record.plays_read,
                message=done_summary(
                    record.plays_read,
                    record.plays_new,
                    record.set_aside,
                    report.get("rejected_reasons", {}),
                ),
                files=report.get("files", []),
                **counts,
            )
            for event in plays_ingested_batches(
                request.user_id,
                request.import_id,
                report.get("format", "extended"),
                deltas,
                self.settings.artists_per_event,
            ):
                await self.bus.publish(event)

    async def _fail(self, request: ImportRequested, error: str) -> None:
        if await store.fail_import(self.pool, request.import_id, error):
            log.warning("import %s failed: %s", request.import_id, error)
        await self._announce(request)

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
    syncer = SpotifySync(runtime.pool, runtime.bus, settings, *parts) if parts else None
    runtime.grpc.add(
        ingest_pb2_grpc.add_SpotifyLinksServicer_to_server,
        SpotifyLinksServicer(runtime.pool, parts, settings.spotify_min_sync_interval_s, syncer),
        ingest_pb2.DESCRIPTOR.services_by_name["SpotifyLinks"].full_name,
    )
    if syncer is None:
        log.info("live Spotify sync is off (set SPOTIFY_CLIENT_ID and SPOTIFY_TOKEN_SECRET)")
        runtime.bus.consume(SyncRequested, _sync_off)
        return
    runtime.bus.consume(SyncRequested, syncer.on_sync_requested)
    runtime.background(lambda: syncer.run_schedule(runtime.stopping))


async def _sync_off(request: SyncRequested) -> None:
    log.info("sync requested for %s, but live Spotify sync is off", request.user_id)
