"""The public FullCircle gRPC API: authenticates the caller, scopes every call to them (their
own API keys too: listed, made and revoked here, in the gateway's schema), and delegates to
ingest (through the bus and SpotifyLinks), the model (Recommender) and features (Tastes, for
the taste profile) through their internal gRPC APIs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import grpc
from psycopg_pool import AsyncConnectionPool

from fullcircle.bus import Bus
from fullcircle.client import UPLOAD_ACCEPTED, UPLOAD_HEADER
from fullcircle.errors import (
    FailedPrecondition,
    FullCircleError,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
    artist_name_argument,
    id_argument,
)
from fullcircle.events import (
    ACCOUNT_ERASED_EVENTS,
    AccountDeletionRequested,
    AccountErased,
    FeedbackSubmitted,
    ImportRequested,
    PlaysDeleted,
    PlaysDeletionRequested,
    RecommendationsUpdated,
    SyncRequested,
)
from fullcircle.grpc_server import rpc_errors
from fullcircle.v1 import (
    common_pb2,
    features_pb2,
    features_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    model_pb2,
    model_pb2_grpc,
)
from services.gateway.adapters import accounts, revocations, uploads
from services.gateway.adapters.cache import RecommendationCache
from services.gateway.adapters.streams import (
    RecommendationFanout,
    Subscription,
    deletion_answers,
    import_progress,
)
from services.gateway.adapters.upload_slots import UploadSlots
from services.gateway.adapters.uploads import UploadWriter
from services.gateway.auth import current_key_id, current_user
from services.gateway.domain.deletion import (
    ACCOUNT_OWNERS,
    final_report,
    plays_selection,
    report,
)
from services.gateway.domain.keys import key_id_of
from services.gateway.domain.playlist_files import (
    file_format,
    playlist_file,
    spotify_playlist_name,
)
from services.gateway.domain.uploads import (
    PartAssembler,
    already_uploaded,
    checked_declared_size,
    checked_file_name,
    empty_upload,
)
from services.gateway.settings import GatewaySettings

MAX_LIMIT = 100
MAX_API_KEYS = 20  # active keys per listener (one per device or app is a handful)
FEEDBACK_EVENT_KINDS: dict[int, Literal["like", "dislike", "do_not_recommend"]] = {
    common_pb2.FEEDBACK_KIND_LIKE: "like",
    common_pb2.FEEDBACK_KIND_DISLIKE: "dislike",
    common_pb2.FEEDBACK_KIND_DO_NOT_RECOMMEND: "do_not_recommend",
}
SETS_KEPT = 256
DEADLINE_MARGIN_S = 0.2  # left of a call's deadline to answer it
EVENT_ID_FORM = (
    "resume from an event_id SubscribeRecommendations sent you (<milliseconds>-<sequence>, "
    "like 1732000000000-0), or subscribe without last_event_id"
)
LATEST_EVENT_ID_AHEAD_S = 86_400.0  # clock skew allowed between Redis and this gateway

log = logging.getLogger(__name__)


class FullCircleServicer(gateway_pb2_grpc.FullCircleServicer):
    def __init__(
        self,
        settings: GatewaySettings,
        pool: AsyncConnectionPool,
        bus: Bus,
        model: model_pb2_grpc.RecommenderStub,
        fanout: RecommendationFanout,
        cache: RecommendationCache,
        links: ingest_pb2_grpc.SpotifyLinksStub,
        tastes: features_pb2_grpc.TastesStub,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.bus = bus
        self.model = model
        self.fanout = fanout
        self.cache = cache
        self.links = links
        self.tastes = tastes
        self._sets: OrderedDict[tuple[UUID, str, str], asyncio.Future[Any]] = OrderedDict()
        self._inflight: dict[tuple[UUID, str], asyncio.Future[Any]] = {}
        self.upload_slots = UploadSlots(
            lambda: bus.redis,
            settings.uploads_per_key,
            settings.uploads_per_gateway,
            settings.upload_slot_ttl_s,
        )

    def _deadline(self, context: grpc.aio.ServicerContext, cap: float | None = None) -> float:
        """A call's deadline to a service behind: its cap (MODEL_DEADLINE_S unless given),
        within what is left of the caller's."""
        remaining = context.time_remaining()
        cap = self.settings.model_deadline_s if cap is None else cap
        return cap if remaining is None else max(0.05, min(cap, remaining))

    def _feedback_wait(self, context: grpc.aio.ServicerContext) -> float:
        """How long SubmitFeedback waits for its set: the setting, within the call's deadline."""
        remaining = context.time_remaining()
        wait = self.settings.feedback_wait_s
        return wait if remaining is None else max(0.0, min(wait, remaining - DEADLINE_MARGIN_S))

    @rpc_errors
    async def ImportHistory(
        self,
        request_iterator: AsyncIterator[gateway_pb2.ImportChunk],
        context: grpc.aio.ServicerContext,
    ) -> gateway_pb2.ImportAccepted:
        user_id, key_id = current_user(), current_key_id()
        chunks = aiter(request_iterator)
        first = await anext(chunks, None)
        if first is None:
            raise empty_upload()
        go_ahead = False  # the caller was told to send its bytes (or never waits to be)
        try:
            declared = checked_declared_size(first.size_bytes, self.settings.max_upload_bytes)
            go_ahead = not declared
            file_name = checked_file_name(first.file_name)
            async with self.upload_slots.hold(key_id):
                if declared:
                    # a caller that declared its size waits for this before sending a byte
                    await context.send_initial_metadata(((UPLOAD_HEADER, UPLOAD_ACCEPTED),))
                    go_ahead = True
                accepted = await self._store_upload(user_id, file_name, declared, first, chunks)
        except FullCircleError:
            if go_ahead:
                # grpc aio: a status that reaches a client while it is still writing can be
                # replaced by "Internal error from Core" (grpc/grpc#36066); let it finish first
                await _read_away(chunks, self.settings.max_upload_bytes)
            raise
        return accepted

    async def _store_upload(
        self,
        user_id: UUID,
        file_name: str,
        declared: int,
        first: gateway_pb2.ImportChunk,
        chunks: AsyncIterator[gateway_pb2.ImportChunk],
    ) -> gateway_pb2.ImportAccepted:
        """Write the upload as it arrives, complete it and ask ingest for its import; on any
        failure (refused, cut off, cancelled, an error) nothing of it is kept."""
        parts = PartAssembler(self.settings.max_upload_bytes, declared_bytes=declared)
        writer = UploadWriter(self.pool, user_id, parts)
        await writer.begin(file_name)
        try:
            await writer.add(first.data)
            async for chunk in chunks:
                file_name = file_name or checked_file_name(chunk.file_name)
                await writer.add(chunk.data)
            earlier = await writer.complete(file_name)
            if earlier is not None:
                raise already_uploaded(earlier)
            await self.bus.publish(
                ImportRequested(
                    user_id=user_id,
                    import_id=writer.import_id,
                    upload_id=writer.upload_id,
                    file_name=file_name or "upload",
                    size_bytes=parts.size_bytes,
                )
            )
        except BaseException:
            await writer.discard()
            raise
        # a crash before this line leaves the request to the sweep (UploadRetention)
        await uploads.mark_requested(self.pool, writer.upload_id)
        return gateway_pb2.ImportAccepted(
            import_id=str(writer.import_id), size_bytes=parts.size_bytes
        )

    @rpc_errors
    async def WatchImport(
        self, request: gateway_pb2.WatchImportRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.ImportProgress]:
        user_id = current_user()
        import_id = id_argument(request.import_id, "import_id")
        requested = await accounts.import_request(self.pool, import_id)
        if requested is None or requested[0] != user_id:
            raise NotFound(f"no import {import_id} of yours")
        async for progress in import_progress(self.bus.redis, import_id, requested[1]):
            yield gateway_pb2.ImportProgress(
                import_id=str(progress.import_id),
                stage=progress.stage,
                plays_read=progress.plays_read,
                plays_stored=progress.plays_stored,
                plays_new=progress.plays_new,
                duplicates=progress.duplicates,
                set_aside=progress.set_aside,
                rejected=progress.rejected,
                message=progress.message,
                finished=progress.finished,
                files=[gateway_pb2.ImportFileReport(**report) for report in progress.files],
            )

    @rpc_errors
    async def GetRecommendations(
        self, request: gateway_pb2.GetRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.RecommendationSet:
        user_id = current_user()
        if request.limit < 0 or request.limit > MAX_LIMIT:
            raise InvalidArgument(f"limit is 1 to {MAX_LIMIT} (0 means 20)")
        if request.prompt or request.genre or request.set_id:
            prompted: common_pb2.RecommendationSet = await self.model.GetRecommendations(
                model_pb2.ModelRecommendationsRequest(
                    user_id=str(user_id),
                    limit=request.limit or 20,
                    mode=request.mode,
                    prompt=request.prompt,
                    genre=request.genre,
                    set_id=request.set_id,
                ),
                timeout=self._deadline(context),
            )
            return prompted
        return await self._current(
            user_id, request.limit or 20, request.mode, self._deadline(context)
        )

    async def _current(
        self, user_id: UUID, limit: int, mode: common_pb2.RecommendationMode, deadline_s: float
    ) -> common_pb2.RecommendationSet:
        """The listener's current answer: from the cache, else one model call shared by every
        request for the same listener and shape that arrives while it runs."""
        shape = f"{mode or common_pb2.RECOMMENDATION_MODE_DISCOVERY}:{limit}"
        cached = await self.cache.get(user_id, shape)
        if cached is not None:
            return common_pb2.RecommendationSet.FromString(cached)
        key = (user_id, shape)
        inflight = self._inflight.get(key)
        if inflight is None:
            inflight = asyncio.ensure_future(self._ask_model(user_id, limit, mode, deadline_s))
            self._inflight[key] = inflight
            inflight.add_done_callback(lambda _: self._inflight.pop(key, None))
        reply: common_pb2.RecommendationSet = await asyncio.shield(inflight)
        return reply

    async def _ask_model(
        self, user_id: UUID, limit: int, mode: common_pb2.RecommendationMode, deadline_s: float
    ) -> common_pb2.RecommendationSet:
        reply: common_pb2.RecommendationSet = await self.model.GetRecommendations(
            model_pb2.ModelRecommendationsRequest(user_id=str(user_id), limit=limit, mode=mode),
            timeout=deadline_s,
        )
        if mode != common_pb2.RECOMMENDATION_MODE_REDISCOVERY:
            shape = f"{mode or common_pb2.RECOMMENDATION_MODE_DISCOVERY}:{limit}"
            await self.cache.put(user_id, shape, reply.SerializeToString())
        return reply

    @rpc_errors
    async def SubscribeRecommendations(
        self,
        request: gateway_pb2.SubscribeRecommendationsRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[gateway_pb2.RecommendationsEvent]:
        user_id = current_user()
        with self.fanout.subscribe(user_id) as subscription:
            seen = ""
            if request.last_event_id:
                after = _event_id(request.last_event_id)
                for event_id, event in await self.fanout.backlog(user_id, after):
                    seen = event_id
                    replayed = await self._event(user_id, event_id, str(event.set_id), context)
                    if replayed is not None:
                        yield replayed
            else:
                current = await self._event(user_id, "", "", context, missing_ok=True)
                if current is not None and current.set.set_id:
                    yield current
            while True:
                event_id, event = await _next_event(subscription)
                if seen and _stream_id(event_id) <= _stream_id(seen):
                    continue
                seen = event_id
                live = await self._event(user_id, event_id, str(event.set_id), context)
                if live is not None:
                    yield live

    async def _event(
        self,
        user_id: UUID,
        event_id: str,
        set_id: str,
        context: grpc.aio.ServicerContext,
        *,
        missing_ok: bool = False,
    ) -> gateway_pb2.RecommendationsEvent | None:
        """The event with its set; None when the event's set is no longer kept (the model
        keeps a listener's newest RECOMMENDATION_SETS_KEPT): newer sets follow it."""
        try:
            if set_id:
                rec_set = await self._stored_set(user_id, set_id, event_id, self._deadline(context))
            else:
                rec_set = await self._current(
                    user_id, 20, common_pb2.RECOMMENDATION_MODE_DISCOVERY, self._deadline(context)
                )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            if set_id:
                log.info("set %s of event %s is pruned: not replayed", set_id, event_id)
                return None
            if missing_ok:
                return gateway_pb2.RecommendationsEvent()
            raise
        return gateway_pb2.RecommendationsEvent(event_id=event_id, set=rec_set)

    async def _stored_set(
        self, user_id: UUID, set_id: str, event_id: str, deadline_s: float
    ) -> common_pb2.RecommendationSet:
        """A stored set as answered for one event, fetched once however many subscribers of the
        listener are waiting for it."""
        key = (user_id, set_id, event_id)
        pending = self._sets.get(key)
        if pending is None:
            pending = asyncio.ensure_future(
                self.model.GetRecommendations(
                    model_pb2.ModelRecommendationsRequest(
                        user_id=str(user_id), limit=20, set_id=set_id
                    ),
                    timeout=deadline_s,
                )
            )
            self._sets[key] = pending
            while len(self._sets) > SETS_KEPT:
                self._sets.popitem(last=False)
        try:
            rec_set: common_pb2.RecommendationSet = await asyncio.shield(pending)
        except grpc.aio.AioRpcError:
            self._sets.pop(key, None)
            raise
        return rec_set

    @rpc_errors
    async def ExplainRecommendation(
        self,
        request: gateway_pb2.ExplainRecommendationRequest,
        context: grpc.aio.ServicerContext,
    ) -> common_pb2.Recommendation:
        reply: common_pb2.Recommendation = await self.model.ExplainRecommendation(
            model_pb2.ModelExplainRequest(user_id=str(current_user()), artist=request.artist),
            timeout=self._deadline(context),
        )
        return reply

    @rpc_errors
    async def SubmitFeedback(
        self, request: gateway_pb2.SubmitFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.FeedbackAccepted:
        user_id = current_user()
        kind = FEEDBACK_EVENT_KINDS.get(request.kind)
        if kind is None:
            raise InvalidArgument("kind is LIKE, DISLIKE or DO_NOT_RECOMMEND")
        if not 0 <= request.expires_in_days <= 3650:
            raise InvalidArgument("expires_in_days is 0 (90 days) to 3650")
        expires_at = None
        if request.kind == common_pb2.FEEDBACK_KIND_DO_NOT_RECOMMEND:
            expires_at = datetime.now(UTC) + timedelta(days=request.expires_in_days or 90)
        feedback = FeedbackSubmitted(
            user_id=user_id,
            artist=artist_name_argument(request.artist),
            kind=kind,
            expires_at=expires_at,
        )
        # The bus is the one path to the model; answer once the set that reflects the
        # feedback is announced (its cached answers dropped), so the next read shows it.
        with self.fanout.reflecting(feedback.event_id) as reflected:
            await self.bus.publish(feedback)
            try:
                await asyncio.wait_for(reflected, self._feedback_wait(context))
            except TimeoutError:
                # The model records feedback before it remakes the set (a retrain may hold the
                # listener meanwhile) and filters hidden artists when it answers: a fresh
                # answer is likelier to show the feedback than the cached one.
                await self.cache.invalidate(user_id)
                log.warning(
                    "feedback %s of %s not reflected in a set within the wait; accepted anyway",
                    feedback.event_id,
                    user_id,
                )
        return gateway_pb2.FeedbackAccepted(expires_at=expires_at.isoformat() if expires_at else "")

    @rpc_errors
    async def CreatePlaylist(
        self, request: gateway_pb2.CreatePlaylistRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Playlist:
        return await self._playlist(request.prompt, context)

    async def _playlist(
        self, prompt: str, context: grpc.aio.ServicerContext
    ) -> common_pb2.Playlist:
        reply: common_pb2.Playlist = await self.model.CreatePlaylist(
            model_pb2.ModelPlaylistRequest(user_id=str(current_user()), prompt=prompt),
            timeout=self._deadline(context),
        )
        return reply

    @rpc_errors
    async def ExportPlaylist(
        self, request: gateway_pb2.ExportPlaylistRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.PlaylistFile:
        if request.format == gateway_pb2.PLAYLIST_FORMAT_SPOTIFY:
            return await self._to_spotify(request.prompt, context)
        chosen = file_format(request.format)  # before a playlist is made for nothing
        made = await self._playlist(request.prompt, context)
        return playlist_file(made, chosen, datetime.now(UTC))

    async def _to_spotify(
        self, prompt: str, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.PlaylistFile:
        """The prompt's playlist written to the listener's Spotify account by ingest (which
        holds the account's tokens and finds the URIs the playlist lacks with Spotify's
        search); the reply's playlist carries the URIs it went in with, and lists the tracks
        Spotify was not given (no match found)."""
        made = await self._playlist(prompt, context)
        if not made.tracks:
            raise FailedPrecondition(
                "the playlist has no track to write yet; ask again in a minute, or try other words"
            )
        try:
            written: ingest_pb2.WritePlaylistReply = await self.links.WritePlaylist(
                ingest_pb2.WritePlaylistRequest(
                    user_id=str(current_user()),
                    key=made.prompt,
                    name=spotify_playlist_name(made.prompt),
                    description=f'Made by Full-Circle for "{made.prompt[:200]}"',
                    entries=[
                        ingest_pb2.PlaylistEntry(
                            artist=track.artist, title=track.track, uri=track.track_uri
                        )
                        for track in made.tracks
                    ],
                ),
                timeout=self._deadline(context, self.settings.spotify_write_deadline_s),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE and (error.details() or "").startswith(
                ("Spotify", "a sync of your Spotify")
            ):
                raise Unavailable(error.details() or "") from None
            raise
        for track, uri in zip(made.tracks, written.uris, strict=False):
            track.track_uri = uri
        return gateway_pb2.PlaylistFile(
            playlist=made,
            spotify=gateway_pb2.SpotifyPlaylist(
                playlist_id=written.playlist_id,
                url=written.url,
                items=written.items,
                created=written.created,
            ),
            without_uri=[track for track in made.tracks if not track.track_uri],
        )

    @rpc_errors
    async def LinkSpotify(
        self, request: gateway_pb2.LinkSpotifyRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.LinkSpotifyReply:
        user_id = current_user()
        if max(len(request.redirect_url), len(request.time_zone), len(request.cron)) > 4096:
            raise InvalidArgument("redirect_url, time_zone and cron are at most 4 KiB each")
        if request.redirect_url:
            done: ingest_pb2.CompleteLinkReply = await self.links.CompleteLink(
                ingest_pb2.CompleteLinkRequest(
                    user_id=str(user_id), redirect_url=request.redirect_url
                ),
                timeout=self._deadline(context),
            )
            return gateway_pb2.LinkSpotifyReply(next_sync_at=done.next_sync_at)
        name = await accounts.user_name(self.pool, user_id)
        begun: ingest_pb2.BeginLinkReply = await self.links.BeginLink(
            ingest_pb2.BeginLinkRequest(
                user_id=str(user_id),
                user_name=name,
                time_zone=request.time_zone,
                cron=request.cron,
            ),
            timeout=self._deadline(context),
        )
        return gateway_pb2.LinkSpotifyReply(authorize_url=begun.authorize_url)

    @rpc_errors
    async def SyncSpotify(
        self, request: gateway_pb2.SyncSpotifyRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.SyncSpotifyAccepted:
        event = SyncRequested(user_id=current_user())
        await self.bus.publish(event)
        return gateway_pb2.SyncSpotifyAccepted(request_id=str(event.event_id))

    @rpc_errors
    async def GetTasteProfile(
        self, request: gateway_pb2.GetTasteProfileRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.TasteProfile:
        user_id = current_user()
        reply: common_pb2.TasteProfile = await self.tastes.GetTasteProfile(
            features_pb2.TasteProfileRequest(user_id=str(user_id)),
            timeout=self._deadline(context),
        )
        return reply

    @rpc_errors
    async def SteerRecommendations(
        self, request: common_pb2.SteeringChange, context: grpc.aio.ServicerContext
    ) -> common_pb2.Steering:
        user_id = current_user()
        reply: common_pb2.Steering = await self.model.SetSteering(
            model_pb2.ModelSetSteeringRequest(user_id=str(user_id), change=request),
            timeout=self._deadline(context),
        )
        await self.cache.invalidate(user_id)  # answers cached before it are steered otherwise
        return reply

    @rpc_errors
    async def GetSteering(
        self, request: gateway_pb2.GetSteeringRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Steering:
        reply: common_pb2.Steering = await self.model.GetSteering(
            model_pb2.ModelSteeringRequest(user_id=str(current_user())),
            timeout=self._deadline(context),
        )
        return reply

    @rpc_errors
    async def SetTimeZone(
        self, request: gateway_pb2.SetTimeZoneRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.TimeZone:
        user_id = current_user()
        if len(request.time_zone) > 256:
            raise InvalidArgument(
                "time_zone is an IANA name such as Europe/London, not 256+ characters"
            )
        reply: common_pb2.TimeZone = await self.tastes.SetTimeZone(
            features_pb2.SetListenerTimeZoneRequest(
                user_id=str(user_id), time_zone=request.time_zone
            ),
            timeout=self._deadline(context),
        )
        return reply

    @rpc_errors
    async def ExcludeFromTaste(
        self, request: common_pb2.ExclusionRule, context: grpc.aio.ServicerContext
    ) -> common_pb2.TasteExclusion:
        reply: common_pb2.TasteExclusion = await self.tastes.ExcludeFromTaste(
            features_pb2.ListenerExclusionRule(user_id=str(current_user()), rule=request),
            timeout=self._deadline(context),
        )
        return reply

    @rpc_errors
    async def ListExclusions(
        self, request: gateway_pb2.ListExclusionsRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.TasteExclusions:
        reply: common_pb2.TasteExclusions = await self.tastes.ListExclusions(
            features_pb2.TasteProfileRequest(user_id=str(current_user())),
            timeout=self._deadline(context),
        )
        return reply

    @rpc_errors
    async def RemoveExclusion(
        self, request: gateway_pb2.RemoveExclusionRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.TasteExclusion:
        reply: common_pb2.TasteExclusion = await self.tastes.RemoveExclusion(
            features_pb2.ListenerExclusion(
                user_id=str(current_user()), exclusion_id=request.exclusion_id
            ),
            timeout=self._deadline(context),
        )
        return reply

    @rpc_errors
    async def DeletePlays(
        self, request: gateway_pb2.DeletePlaysRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.DeletionReport]:
        user_id = current_user()
        deletion = PlaysDeletionRequested.model_validate(
            {"user_id": user_id, **plays_selection(request)}
        )
        answer = await self._ingest_answer(deletion)
        if answer.refused == "not_found":
            raise NotFound(answer.message)
        if answer.refused == "running":
            raise FailedPrecondition(answer.message)
        reports = [report(deletion.event_id, "ingest", answer.removed)]
        yield reports[0]
        if deletion.import_id is not None or deletion.everything:
            # the uploads hold the same plays (and more: Spotify's IP addresses)
            uploads = await accounts.delete_uploads(self.pool, user_id, deletion.import_id)
            reports.append(report(deletion.event_id, "gateway", {"uploads": uploads}))
            yield reports[-1]
        yield final_report(
            deletion.event_id,
            reports,
            set(),
            "your taste profile is recomputed and a new set made (SubscribeRecommendations)"
            if answer.removed.get("plays")
            else "no play of yours matched, so nothing is recomputed",
        )

    async def _ingest_answer(self, deletion: PlaysDeletionRequested) -> PlaysDeleted:
        """Ingest's answer to the deletion, published now; UNAVAILABLE if none comes in time
        (the request stays on the bus and is carried out when ingest is back)."""
        await self.bus.publish(deletion)
        # read from before the request: an answer that came first is not missed
        answers = deletion_answers(self.bus.redis, (PlaysDeleted,), deletion)
        try:
            async with asyncio.timeout(self.settings.deletion_wait_s):
                answer = await anext(answers)
        except TimeoutError:
            raise Unavailable(
                f"ingest has not answered deletion {deletion.event_id} within "
                f"{self.settings.deletion_wait_s:g} s; it is carried out when ingest is back"
            ) from None
        finally:
            await answers.aclose()
        assert isinstance(answer, PlaysDeleted)
        return answer

    @rpc_errors
    async def DeleteAccount(
        self, request: gateway_pb2.DeleteAccountRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.DeletionReport]:
        user_id = current_user()
        if not request.confirm:
            raise InvalidArgument(
                "set confirm: deleting the account removes every play, profile, set and "
                "upload of yours and cannot be undone"
            )
        deletion = AccountDeletionRequested(user_id=user_id)
        # on the bus before the gateway's rows go: the other owners erase theirs even if
        # this call ends now, and the caller's key works until then
        await self.bus.publish(deletion)
        reports = [
            report(deletion.event_id, "gateway", await accounts.erase_account(self.pool, user_id))
        ]
        await self.cache.invalidate(user_id)
        yield reports[0]
        pending = set(ACCOUNT_OWNERS)
        answers = deletion_answers(self.bus.redis, ACCOUNT_ERASED_EVENTS, deletion)
        try:
            async with asyncio.timeout(self.settings.deletion_wait_s):
                async for answer in answers:
                    assert isinstance(answer, AccountErased)
                    if answer.service not in pending:
                        continue
                    pending.discard(answer.service)
                    reports.append(report(deletion.event_id, answer.service, answer.removed))
                    yield reports[-1]
                    if not pending:
                        break
        except TimeoutError:
            log.warning("account deletion %s: no answer yet from %s", deletion.event_id, pending)
        finally:
            await answers.aclose()
        try:
            yield final_report(deletion.event_id, reports, pending, "the account is deleted")
        finally:
            # the erased account's keys end on every gateway now, not after their KEY_CACHE_S
            await revocations.announce(self.bus.redis)

    # --- the caller's API keys and Spotify link --------------------------------------------

    @rpc_errors
    async def ListApiKeys(
        self, request: gateway_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ApiKeys:
        keys = await accounts.list_api_keys(self.pool, current_user())
        return gateway_pb2.ApiKeys(keys=[_key_info(key) for key in keys])

    @rpc_errors
    async def CreateApiKey(
        self, request: gateway_pb2.NewApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.NewApiKey:
        user_id = current_user()
        name = request.name.strip()
        if len(name) > 64 or "\x00" in name:
            raise InvalidArgument("a key's name is at most 64 characters, without NUL")
        if len(await accounts.list_api_keys(self.pool, user_id)) >= MAX_API_KEYS:
            raise ResourceExhausted(
                f"you have {MAX_API_KEYS} active keys, the most there may be; revoke one you "
                "no longer use (RevokeApiKey) and make the new one then"
            )
        async with self.pool.connection() as conn:
            key = await accounts.add_api_key(conn, user_id, name)
            stored = await accounts.stored_key(conn, user_id, key.key_id)
        return gateway_pb2.NewApiKey(api_key=key.token, key=_key_info(stored))

    @rpc_errors
    async def RevokeApiKey(
        self, request: gateway_pb2.RevokeOwnApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ApiKeyInfo:
        user_id = current_user()
        key_id = key_id_of(request.key_id)
        if not key_id:
            raise InvalidArgument("name the key: key_id, the 12 hex characters after `fc_`")
        revoked = await accounts.revoke_own_api_key(self.pool, user_id, key_id)
        if revoked is None:
            raise NotFound(
                f"no active key {key_id!r} of yours; ListApiKeys shows the ones you have"
            )
        await revocations.announce(self.bus.redis)
        return _key_info(revoked)

    @rpc_errors
    async def GetSpotifyLink(
        self, request: gateway_pb2.GetSpotifyLinkRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.SpotifyLinkStatus:
        reply: common_pb2.SpotifyLinkStatus = await self.links.GetLink(
            ingest_pb2.GetLinkRequest(user_id=str(current_user())),
            timeout=self._deadline(context),
        )
        return reply


def _key_info(key: accounts.StoredKey) -> gateway_pb2.ApiKeyInfo:
    """The key as its owner sees it, marked when it is the key of the call being served."""
    return gateway_pb2.ApiKeyInfo(
        key_id=key.key_id,
        prefix=f"fc_{key.key_id}_",
        name=key.name,
        created_at=key.created_at.astimezone(UTC).isoformat(),
        revoked_at=key.revoked_at.astimezone(UTC).isoformat() if key.revoked_at else "",
        current=key.key_id == current_key_id(),
    )


async def _read_away(chunks: AsyncIterator[gateway_pb2.ImportChunk], most_bytes: int) -> None:
    """Read and drop what the caller still sends, until it stops (or `most_bytes` more came)."""
    dropped = 0
    async for chunk in chunks:
        dropped += len(chunk.data)
        if dropped > most_bytes:
            return


async def _next_event(subscription: Subscription) -> tuple[str, RecommendationsUpdated]:
    """The subscriber's next event, or RESOURCE_EXHAUSTED once it has fallen too far behind."""
    getter = asyncio.ensure_future(subscription.queue.get())
    overflow = asyncio.ensure_future(subscription.overflowed.wait())
    try:
        done, _ = await asyncio.wait({getter, overflow}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (getter, overflow):
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
    if getter not in done:
        raise ResourceExhausted(
            "subscriber fell too far behind; resubscribe with the last event id you received"
        )
    return getter.result()


def _event_id(value: str) -> str:
    """A resume point as SubscribeRecommendations handed it out (`<millis>-<seq>`), checked
    before it reaches Redis: anything else is the caller's mistake, not an internal error.

    An id later than any event can be (its time beyond tomorrow) is refused too: Redis cannot
    read past the maximum id (INTERNAL before), and any such id would hide every new event."""
    millis, dash, sequence = value.partition("-")
    parts = [millis, sequence] if dash else [millis]
    if not all(
        part.isascii() and part.isdigit() and len(part) <= 20 and int(part) < 2**64
        for part in parts
    ):
        raise InvalidArgument(
            f"last_event_id is not an event id of ours: {value[:64]!r}; {EVENT_ID_FORM}"
        )
    if int(millis) > (time.time() + LATEST_EVENT_ID_AHEAD_S) * 1000:
        raise InvalidArgument(
            f"last_event_id {value[:64]!r} is later than any event; {EVENT_ID_FORM}"
        )
    return value


def _stream_id(entry_id: str) -> tuple[int, int]:
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)
