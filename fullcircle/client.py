"""Small Python clients of the gateway: the public FullCircle API and the Admin API (the CLI is
built on them)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Self

import grpc

from fullcircle.v1 import admin_pb2, admin_pb2_grpc, common_pb2, gateway_pb2, gateway_pb2_grpc

CHUNK_BYTES = 1024 * 1024
# The header by which the gateway tells a client that declared its upload's size to send it.
UPLOAD_HEADER, UPLOAD_ACCEPTED = "fullcircle-upload", "accepted"
DEADLINE_S = 30.0


def _channel(address: str, root_certificates: bytes | None) -> grpc.aio.Channel:
    options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    if root_certificates is None:
        return grpc.aio.insecure_channel(address, options=options)
    credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
    return grpc.aio.secure_channel(address, credentials, options=options)


class _GatewayChannel:
    """One channel to the gateway whose every call carries `credential` as its bearer token."""

    def __init__(
        self,
        address: str,
        credential: str,
        root_certificates: bytes | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        """`root_certificates`: PEM of the CA that signed a TLS gateway's certificate; with
        None the channel is plain (the local stack on loopback). `channel`: an open channel to
        share (the web app's, one for all its sessions); it stays open when this one closes."""
        self._owns_channel = channel is None
        self.channel = _channel(address, root_certificates) if channel is None else channel
        self.metadata = (("authorization", f"Bearer {credential}"),)

    async def close(self) -> None:
        if self._owns_channel:
            await self.channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class FullCircleClient(_GatewayChannel):
    """The public API with a listener's API key; every call carries a deadline."""

    def __init__(
        self,
        address: str,
        api_key: str,
        root_certificates: bytes | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        super().__init__(address, api_key, root_certificates, channel)
        self.stub = gateway_pb2_grpc.FullCircleStub(self.channel)

    async def import_history(self, path: Path, deadline_s: float = 600.0) -> str:
        """Upload an export file in chunks (never the whole file in memory); returns the import
        id. The file's size goes first: the gateway refuses an upload it will not take (over
        its size limit, too many at once) before a byte of it is sent."""
        call = self.stub.ImportHistory(metadata=self.metadata, timeout=deadline_s)
        with path.open("rb") as export:
            size = os.fstat(export.fileno()).st_size
            await call.write(gateway_pb2.ImportChunk(file_name=path.name, size_bytes=size))
            # Wait for the go-ahead (a response header): without it the call is ending with the
            # refusal, and a byte written now could hide it behind "Internal error from Core"
            # (grpc/grpc#36066: a failed write replaces the status the server sent).
            headers = await call.initial_metadata() if size else {UPLOAD_HEADER: UPLOAD_ACCEPTED}
            if headers.get(UPLOAD_HEADER) == UPLOAD_ACCEPTED:
                while data := export.read(CHUNK_BYTES):
                    try:
                        await call.write(gateway_pb2.ImportChunk(data=data))
                    except asyncio.InvalidStateError:
                        break  # the gateway has answered: its status says why
                if not call.done():
                    await call.done_writing()
        reply = await call
        return str(reply.import_id)

    def watch_import(
        self, import_id: str, deadline_s: float = 1800.0
    ) -> AsyncIterator[gateway_pb2.ImportProgress]:
        call: AsyncIterator[gateway_pb2.ImportProgress] = self.stub.WatchImport(
            gateway_pb2.WatchImportRequest(import_id=import_id),
            metadata=self.metadata,
            timeout=deadline_s,
        )
        return call

    async def recommendations(
        self,
        limit: int = 20,
        mode: common_pb2.RecommendationMode = common_pb2.RECOMMENDATION_MODE_DISCOVERY,
        prompt: str = "",
        genre: str = "",
        set_id: str = "",
    ) -> common_pb2.RecommendationSet:
        reply: common_pb2.RecommendationSet = await self.stub.GetRecommendations(
            gateway_pb2.GetRecommendationsRequest(
                limit=limit, mode=mode, prompt=prompt, genre=genre, set_id=set_id
            ),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
        return reply

    def subscribe(
        self, last_event_id: str = "", deadline_s: float | None = None
    ) -> AsyncIterator[gateway_pb2.RecommendationsEvent]:
        call: AsyncIterator[gateway_pb2.RecommendationsEvent] = self.stub.SubscribeRecommendations(
            gateway_pb2.SubscribeRecommendationsRequest(last_event_id=last_event_id),
            metadata=self.metadata,
            timeout=deadline_s,
        )
        return call

    async def explain(self, artist: str) -> common_pb2.Recommendation:
        reply: common_pb2.Recommendation = await self.stub.ExplainRecommendation(
            gateway_pb2.ExplainRecommendationRequest(artist=artist),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
        return reply

    async def feedback(
        self, artist: str, kind: common_pb2.FeedbackKind, expires_in_days: int = 0
    ) -> str:
        """Like, dislike or hide an artist; returns when hiding ends (empty: never)."""
        reply = await self.stub.SubmitFeedback(
            gateway_pb2.SubmitFeedbackRequest(
                artist=artist, kind=kind, expires_in_days=expires_in_days
            ),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
        return str(reply.expires_at)

    async def link_spotify(
        self, redirect_url: str = "", time_zone: str = "", cron: str = ""
    ) -> gateway_pb2.LinkSpotifyReply:
        """Without `redirect_url`: the address to open; with it: the account is linked."""
        reply: gateway_pb2.LinkSpotifyReply = await self.stub.LinkSpotify(
            gateway_pb2.LinkSpotifyRequest(
                redirect_url=redirect_url, time_zone=time_zone, cron=cron
            ),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
        return reply

    async def spotify_link(self) -> common_pb2.SpotifyLinkStatus:
        """Whether the caller's Spotify account is linked, since when, how its syncs go."""
        reply: common_pb2.SpotifyLinkStatus = await self.stub.GetSpotifyLink(
            gateway_pb2.GetSpotifyLinkRequest(), metadata=self.metadata, timeout=DEADLINE_S
        )
        return reply

    async def api_keys(self) -> list[gateway_pb2.ApiKeyInfo]:
        """The caller's active keys (never their secrets), the one in use marked `current`."""
        reply = await self.stub.ListApiKeys(
            gateway_pb2.ListApiKeysRequest(), metadata=self.metadata, timeout=DEADLINE_S
        )
        return list(reply.keys)

    async def create_api_key(self, name: str = "") -> gateway_pb2.NewApiKey:
        """Another key of the caller's; its secret (`api_key`) is in this reply only."""
        reply: gateway_pb2.NewApiKey = await self.stub.CreateApiKey(
            gateway_pb2.NewApiKeyRequest(name=name), metadata=self.metadata, timeout=DEADLINE_S
        )
        return reply

    async def revoke_api_key(self, key_id: str) -> gateway_pb2.ApiKeyInfo:
        """Revoke one of the caller's keys (it may be this one: it then works no more)."""
        reply: gateway_pb2.ApiKeyInfo = await self.stub.RevokeApiKey(
            gateway_pb2.RevokeOwnApiKeyRequest(key_id=key_id),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
        return reply

    async def playlist(self, prompt: str) -> common_pb2.Playlist:
        """A playlist for a prompt such as "high energy morning music"."""
        reply: common_pb2.Playlist = await self.stub.CreatePlaylist(
            gateway_pb2.CreatePlaylistRequest(prompt=prompt),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
        return reply

    async def export_playlist(
        self,
        prompt: str,
        file_format: gateway_pb2.PlaylistFormat,
        deadline_s: float = DEADLINE_S,
    ) -> gateway_pb2.PlaylistFile:
        """The playlist for a prompt as an M3U8, XSPF or JSPF file (bytes and a file name), or
        written into the listener's Spotify account (PLAYLIST_FORMAT_SPOTIFY: give it time,
        Spotify's rate limits are waited out)."""
        reply: gateway_pb2.PlaylistFile = await self.stub.ExportPlaylist(
            gateway_pb2.ExportPlaylistRequest(prompt=prompt, format=file_format),
            metadata=self.metadata,
            timeout=deadline_s,
        )
        return reply

    async def sync_spotify(self) -> str:
        """Ask for a Spotify sync now; returns the request id."""
        reply = await self.stub.SyncSpotify(
            gateway_pb2.SyncSpotifyRequest(), metadata=self.metadata, timeout=DEADLINE_S
        )
        return str(reply.request_id)

    async def taste_profile(self) -> common_pb2.TasteProfile:
        reply: common_pb2.TasteProfile = await self.stub.GetTasteProfile(
            gateway_pb2.GetTasteProfileRequest(), metadata=self.metadata, timeout=DEADLINE_S
        )
        return reply

    async def steer(
        self, tastes: dict[str, str] | None = None, familiarity: float | None = None
    ) -> common_pb2.Steering:
        """Steer tastes (name -> "more", "less" or "" to stop) and/or set the dial (0 deep
        cuts .. 1 popular; negative clears it)."""
        change = common_pb2.SteeringChange(
            tastes=[common_pb2.TasteSteer(taste=t, way=w) for t, w in (tastes or {}).items()]
        )
        if familiarity is not None:
            change.familiarity = familiarity
        reply: common_pb2.Steering = await self.stub.SteerRecommendations(
            change, metadata=self.metadata, timeout=DEADLINE_S
        )
        return reply

    async def steering(self) -> common_pb2.Steering:
        reply: common_pb2.Steering = await self.stub.GetSteering(
            gateway_pb2.GetSteeringRequest(), metadata=self.metadata, timeout=DEADLINE_S
        )
        return reply

    async def set_time_zone(self, time_zone: str) -> common_pb2.TimeZone:
        """Set the listener's zone (empty: infer it from where they listen most)."""
        reply: common_pb2.TimeZone = await self.stub.SetTimeZone(
            gateway_pb2.SetTimeZoneRequest(time_zone=time_zone),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
        return reply

    async def exclude(
        self,
        *,
        artist: str = "",
        track: str = "",
        played_between: str = "",
        platform: str = "",
        hours: str = "",
    ) -> common_pb2.TasteExclusion:
        """Leave plays out of the listener's taste (every condition given must match)."""
        rule = common_pb2.ExclusionRule(
            artist=artist,
            track=track,
            played_between=played_between,
            platform=platform,
            hours=hours,
        )
        reply: common_pb2.TasteExclusion = await self.stub.ExcludeFromTaste(
            rule, metadata=self.metadata, timeout=DEADLINE_S
        )
        return reply

    async def exclusions(self) -> list[common_pb2.TasteExclusion]:
        reply: common_pb2.TasteExclusions = await self.stub.ListExclusions(
            gateway_pb2.ListExclusionsRequest(), metadata=self.metadata, timeout=DEADLINE_S
        )
        return list(reply.exclusions)

    async def remove_exclusion(self, exclusion_id: str) -> common_pb2.TasteExclusion:
        reply: common_pb2.TasteExclusion = await self.stub.RemoveExclusion(
            gateway_pb2.RemoveExclusionRequest(exclusion_id=exclusion_id),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
        return reply

    async def delete_plays(
        self,
        *,
        import_id: str = "",
        played_between: tuple[str, str] | None = None,
        artist: str = "",
        everything: bool = False,
        deadline_s: float = 120.0,
    ) -> list[gateway_pb2.DeletionReport]:
        """Delete one import's plays, those that ended in [from, to), one artist's, or all
        (name exactly one); the services' reports, the final one (totals) last."""
        request = gateway_pb2.DeletePlaysRequest()
        if import_id:
            request.import_id = import_id
        elif played_between is not None:
            request.played_between.from_time, request.played_between.to_time = played_between
        elif artist:
            request.artist = artist
        elif everything:
            request.all = True
        return await self._reports(
            self.stub.DeletePlays(request, metadata=self.metadata, timeout=deadline_s)
        )

    async def delete_account(self, deadline_s: float = 120.0) -> list[gateway_pb2.DeletionReport]:
        """Delete the listener's account and everything of theirs; the services' reports, the
        final one (totals, and any service that had not answered yet) last."""
        call = self.stub.DeleteAccount(
            gateway_pb2.DeleteAccountRequest(confirm=True),
            metadata=self.metadata,
            timeout=deadline_s,
        )
        return await self._reports(call)

    @staticmethod
    async def _reports(
        call: AsyncIterator[gateway_pb2.DeletionReport],
    ) -> list[gateway_pb2.DeletionReport]:
        return [report async for report in call]


class AdminClient(_GatewayChannel):
    """The gateway's Admin API with the admin token; every call carries a deadline."""

    def __init__(
        self, address: str, admin_token: str, root_certificates: bytes | None = None
    ) -> None:
        super().__init__(address, admin_token, root_certificates)
        self.stub = admin_pb2_grpc.AdminStub(self.channel)

    async def create_user(self, name: str) -> admin_pb2.CreateUserReply:
        """A new listener and their first API key (shown in this reply only)."""
        reply: admin_pb2.CreateUserReply = await self.stub.CreateUser(
            admin_pb2.CreateUserRequest(name=name), metadata=self.metadata, timeout=DEADLINE_S
        )
        return reply

    async def create_api_key(self, user_name: str) -> admin_pb2.CreateApiKeyReply:
        reply: admin_pb2.CreateApiKeyReply = await self.stub.CreateApiKey(
            admin_pb2.CreateApiKeyRequest(user_name=user_name),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
        return reply

    async def revoke_api_key(self, key_id: str) -> str:
        """Revoke a key by its id (or the whole key); returns whose key it was."""
        reply = await self.stub.RevokeApiKey(
            admin_pb2.RevokeApiKeyRequest(key_id=key_id), metadata=self.metadata, timeout=DEADLINE_S
        )
        return str(reply.user_name)

    async def list_users(self) -> list[admin_pb2.AdminUser]:
        reply = await self.stub.ListUsers(
            admin_pb2.ListUsersRequest(), metadata=self.metadata, timeout=DEADLINE_S
        )
        return list(reply.users)

    async def unlink_spotify(self, user_name: str) -> None:
        await self.stub.UnlinkSpotify(
            admin_pb2.UnlinkSpotifyRequest(user_name=user_name),
            metadata=self.metadata,
            timeout=DEADLINE_S,
        )
