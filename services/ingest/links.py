"""The internal SpotifyLinks gRPC API: Authorization Code with PKCE in two calls, the code
verifier kept sealed in Postgres between them (any ingest replica can finish a link),
unlinking (the gateway's admin API asks; ingest alone writes its accounts), and a listener's
link as they may see it (GetLink: no tokens, no cursor)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import grpc
from psycopg_pool import AsyncConnectionPool

from fullcircle.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from fullcircle.grpc_server import rpc_errors
from fullcircle.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc
from services.ingest.adapters import spotify_accounts
from services.ingest.adapters.spotify import (
    SpotifyAuth,
    SpotifyError,
    SpotifyForbidden,
    SpotifyNotFound,
    SpotifyNotLinked,
    SpotifyRelinkRequired,
    SpotifyUnavailable,
)
from services.ingest.domain.sync import DEFAULT_SYNC_CRON, ScheduleError, check_sync_interval
from services.ingest.domain.token_box import TokenBox
from services.ingest.spotify_sync import SpotifySync, save_link

MAX_PLAYLIST_ENTRIES = 10_000  # Spotify's own limit on a playlist's items


class SpotifyLinksServicer(ingest_pb2_grpc.SpotifyLinksServicer):
    def __init__(
        self,
        pool: AsyncConnectionPool,
        parts: tuple[SpotifyAuth, TokenBox] | None,
        min_sync_interval_s: float,
        syncer: SpotifySync | None = None,
    ) -> None:
        self.pool = pool
        self.parts = parts
        self.min_sync_interval_s = min_sync_interval_s
        self.syncer = syncer

    def _spotify(self) -> tuple[SpotifyAuth, TokenBox]:
        if self.parts is None:
            raise Unavailable(
                "live Spotify sync is off on this server (SPOTIFY_CLIENT_ID is not set)"
            )
        return self.parts

    @rpc_errors
    async def BeginLink(
        self, request: ingest_pb2.BeginLinkRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.BeginLinkReply:
        auth, token_box = self._spotify()
        time_zone, cron = request.time_zone or "UTC", request.cron or DEFAULT_SYNC_CRON
        try:
            # a week of a dense schedule is read (0.1 s at the default): not on the event loop
            await asyncio.to_thread(
                check_sync_interval, cron, time_zone, self.min_sync_interval_s, datetime.now(UTC)
            )
        except ScheduleError as exc:
            raise InvalidArgument(str(exc)) from None
        state = secrets.token_urlsafe(24)
        url, verifier = auth.authorize_url(state)
        await spotify_accounts.save_link_request(
            self.pool,
            state,
            spotify_accounts.LinkRequest(
                _uuid(request.user_id),
                request.user_name[:200],
                token_box.seal_text(verifier),
                time_zone,
                cron,
            ),
        )
        return ingest_pb2.BeginLinkReply(authorize_url=url)

    @rpc_errors
    async def CompleteLink(
        self, request: ingest_pb2.CompleteLinkRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.CompleteLinkReply:
        auth, token_box = self._spotify()
        query = parse_qs(urlsplit(request.redirect_url).query)
        if "error" in query:
            raise InvalidArgument(f"Spotify did not allow access ({query['error'][0][:100]})")
        state, code = query.get("state", [""])[0], query.get("code", [""])[0]
        if not state or not code:
            raise InvalidArgument("paste the whole address Spotify redirected to (with ?code=)")
        user_id = _uuid(request.user_id)
        pending = await spotify_accounts.take_link_request(self.pool, state, user_id)
        if pending is None:
            raise NotFound(
                "no link of yours is waiting for that address (links expire after "
                "15 minutes); start the link again"
            )
        try:
            tokens = await asyncio.to_thread(
                auth.exchange, code, token_box.open_text(pending.sealed_verifier)
            )
        except SpotifyUnavailable as exc:
            raise Unavailable(str(exc)) from None
        except SpotifyError as exc:
            raise InvalidArgument(str(exc)) from None
        async with self.pool.connection() as conn:
            next_sync = await save_link(
                conn,
                token_box,
                user_id,
                pending.user_name,
                tokens,
                pending.time_zone,
                pending.sync_cron,
            )
        return ingest_pb2.CompleteLinkReply(next_sync_at=next_sync.isoformat())

    @rpc_errors
    async def Unlink(
        self, request: ingest_pb2.UnlinkRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.UnlinkReply:
        user_id = _uuid(request.user_id)
        async with self.pool.connection() as conn:
            unlinked = await spotify_accounts.unlink_account(conn, user_id)
        return ingest_pb2.UnlinkReply(unlinked=unlinked)

    @rpc_errors
    async def WritePlaylist(
        self, request: ingest_pb2.WritePlaylistRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.WritePlaylistReply:
        self._spotify()
        assert self.syncer is not None  # made whenever the Spotify parts are
        user_id = _uuid(request.user_id)
        entries = [(e.artist[:500], e.title[:500], e.uri) for e in request.entries]
        if not entries or len(entries) > MAX_PLAYLIST_ENTRIES:
            raise InvalidArgument(
                f"a Spotify playlist takes 1 to {MAX_PLAYLIST_ENTRIES} tracks, not {len(entries)}"
            )
        if bad := [uri for _, _, uri in entries if uri and not uri.startswith("spotify:track:")]:
            raise InvalidArgument(f"not a Spotify track URI: {bad[0][:80]!r}")
        key = request.key.strip().lower()[:500]
        if not key or not request.name.strip():
            raise InvalidArgument("name the playlist and give it a key (its prompt)")
        try:
            written, uris, searched = await self.syncer.write_playlist(
                user_id, key, request.name.strip()[:100], request.description[:300], entries
            )
        except (
            SpotifyNotLinked,
            SpotifyRelinkRequired,
            SpotifyForbidden,
            SpotifyNotFound,
        ) as exc:
            raise FailedPrecondition(str(exc)) from None
        except SpotifyUnavailable as exc:
            raise Unavailable(str(exc)) from None
        except SpotifyError as exc:
            raise Unavailable(f"Spotify did not take the playlist: {exc}") from None
        return ingest_pb2.WritePlaylistReply(
            playlist_id=written.playlist_id,
            url=written.url,
            items=written.items,
            created=written.created,
            uris=uris,
            searched=searched,
        )

    @rpc_errors
    async def GetLink(
        self, request: ingest_pb2.GetLinkRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.SpotifyLinkStatus:
        state = await spotify_accounts.link_state(self.pool, _uuid(request.user_id))
        if state is None:
            return common_pb2.SpotifyLinkStatus(linked=False)
        return common_pb2.SpotifyLinkStatus(
            linked=True,
            status=state.status,
            linked_at=_rfc3339(state.linked_at),
            last_sync_at=_rfc3339(state.last_sync_at),
            last_sync_plays=state.last_sync_plays or 0,
            next_sync_at=_rfc3339(state.next_sync_at),
            last_error=state.last_error or "",
            time_zone=state.time_zone,
            cron=state.sync_cron,
        )


def _rfc3339(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidArgument(f"not a valid user id: {value[:64]!r}") from None
