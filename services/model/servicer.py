"""The internal Recommender gRPC API: stored recommendation sets, rediscovery, explanations,
feedback and playlists; every recommended artist comes with tracks to play."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

import grpc
from psycopg_pool import AsyncConnectionPool

from fullcircle.errors import FailedPrecondition, InvalidArgument, NotFound, artist_name_argument
from fullcircle.grpc_server import rpc_errors
from fullcircle.moods import mood_vector
from fullcircle.v1 import common_pb2, model_pb2, model_pb2_grpc
from services.model.adapters import store
from services.model.domain.explanation import explain
from services.model.domain.playlist import (
    YOUR_PLAYS,
    ArtistTrack,
    MadePlaylist,
    PlaylistPrompt,
    TrackChoice,
    known_mood,
    left_out_note,
    playlist_of_tracks,
    read_prompt,
    recommended_choice,
    rerank_by_prompt,
)
from services.model.domain.rediscovery import rediscoveries
from services.model.domain.steering import (
    Steering,
    SteeringError,
    check_tastes,
    percentiles,
    steer,
    steered,
)

MAX_LIMIT = 100
TRACKS_PER_ARTIST = 3  # enough to start listening; enrich keeps ten of a new artist


class RecommenderServicer(model_pb2_grpc.RecommenderServicer):
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    @rpc_errors
    async def GetSteering(
        self, request: model_pb2.ModelSteeringRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Steering:
        user_id = _uuid(request.user_id, "user_id")
        return _steering_message(await store.load_steering(self.pool, user_id))

    @rpc_errors
    async def SetSteering(
        self, request: model_pb2.ModelSetSteeringRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Steering:
        user_id = _uuid(request.user_id, "user_id")
        change = request.change
        tastes = {steer.taste.strip(): steer.way.strip().lower() for steer in change.tastes}
        try:
            named = [taste for taste, way in tastes.items() if way]
            if named:
                known = await store.load_tastes(self.pool, user_id)
                check_tastes(named, list(known.names.values()))
            steering = steered(
                await store.load_steering(self.pool, user_id),
                tastes=tastes,
                familiarity=change.familiarity if change.HasField("familiarity") else None,
            )
        except SteeringError as exc:
            raise InvalidArgument(str(exc)) from None
        await store.save_steering(self.pool, user_id, steering)
        return _steering_message(steering)

    @rpc_errors
    async def GetRecommendations(
        self, request: model_pb2.ModelRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.RecommendationSet:
        user_id = _uuid(request.user_id, "user_id")
        limit = min(request.limit or 20, MAX_LIMIT)
        if request.mode == common_pb2.RECOMMENDATION_MODE_REDISCOVERY:
            rediscovered = await self._rediscovery(user_id, limit)
            await self._add_tracks(user_id, rediscovered.items)
            return rediscovered
        set_id = _uuid(request.set_id, "set_id") if request.set_id else None
        if len(request.prompt) > 500:
            raise InvalidArgument("a prompt is at most 500 characters")
        if len(request.genre) > 200:
            raise InvalidArgument("a genre is at most 200 characters, such as latin or uk rap")
        prompted = bool(request.prompt.strip())
        # the whole set is steered and filtered, then cut to the limit
        stored = await store.load_set(self.pool, user_id, set_id, MAX_LIMIT)
        if stored is None and set_id is not None:
            raise NotFound(
                f"no set {set_id} of yours is kept (the model keeps a listener's newest"
                " RECOMMENDATION_SETS_KEPT sets); ask without set_id for the current one"
            )
        if stored is None:
            raise NotFound("no recommendations yet: import a listening history first")
        steering = await store.load_steering(self.pool, user_id)
        popularity = percentiles(
            await store.top_track_playcounts(self.pool, [item.artist for item in stored.items])
        )
        items = steer(stored.items, steering, popularity, request.genre.strip())
        if request.genre.strip() and not items:
            raise NotFound(
                f"none of your recommendations is tagged {request.genre.strip()[:64]!r}; "
                "try a broader genre, or one of your tastes' names"
            )
        if prompted:
            items = await self._for_prompt(user_id, items, request.prompt)
        answer = common_pb2.RecommendationSet(
            set_id=str(stored.set_id),
            model_version=stored.model_version,
            created_at=stored.created_at.isoformat(),
            items=[_recommendation(item, popularity) for item in items[:limit]],
        )
        await self._add_tracks(user_id, answer.items)
        return answer

    async def _add_tracks(self, user_id: UUID, items: Sequence[common_pb2.Recommendation]) -> None:
        """What to play of each recommended artist, read when answering (not stored in the
        set), so tracks enrich fetches after a set was made show in it from then on: a new
        artist's top tracks on Last.fm, a rediscovered artist's the listener's own."""
        rediscovery = common_pb2.RECOMMENDATION_MODE_REDISCOVERY
        own_artists = [item.artist for item in items if item.mode == rediscovery]
        new_artists = [item.artist for item in items if item.mode != rediscovery]
        own = (
            await store.own_top_tracks(self.pool, user_id, own_artists, TRACKS_PER_ARTIST)
            if own_artists
            else {}
        )
        new = (
            await store.lastfm_top_tracks(self.pool, new_artists, TRACKS_PER_ARTIST)
            if new_artists
            else {}
        )
        for item in items:
            source = own if item.mode == rediscovery else new
            item.tracks.extend(
                common_pb2.RecommendedTrack(
                    name=track.name, track_uri=track.track_uri, source=track.source
                )
                for track in source.get(item.artist.lower(), ())
            )

    async def _for_prompt(
        self, user_id: UUID, items: list[store.StoredItem], prompt: str
    ) -> list[store.StoredItem]:
        """The set re-ranked for a prompt ("chill night"): mood fit and the context's tastes."""
        read = read_prompt(prompt)
        inputs = await store.load_rerank_inputs(
            self.pool, user_id, [item.artist for item in items], read.hour_band
        )
        order = rerank_by_prompt(
            [item.score for item in items],
            [
                known_mood(
                    mood_vector(inputs.tags.get(item.artist.lower(), [])),
                    inputs.estimated_moods.get(item.artist.lower()),
                )
                for item in items
            ],
            [inputs.tastes.get(item.taste) for item in items],
            read,
            inputs.context_shares,
        )
        return [items[i] for i in order]

    @rpc_errors
    async def ExplainRecommendation(
        self, request: model_pb2.ModelExplainRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Recommendation:
        user_id = _uuid(request.user_id, "user_id")
        item = await store.explain_item(self.pool, user_id, artist_name_argument(request.artist))
        if item is None:
            raise NotFound(
                f"{request.artist[:200]!r} is not in your current recommendations; "
                "GetRecommendations lists them"
            )
        explained = _recommendation(item)
        await self._add_tracks(user_id, [explained])
        return explained

    @rpc_errors
    async def CreatePlaylist(
        self, request: model_pb2.ModelPlaylistRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Playlist:
        user_id = _uuid(request.user_id, "user_id")
        if not request.prompt.strip() or len(request.prompt) > 500:
            raise InvalidArgument(
                'describe the playlist in 1 to 500 characters, e.g. "high energy morning music"'
            )
        read = read_prompt(request.prompt)
        inputs = await store.load_playlist_inputs(self.pool, user_id, read.hour_band)
        if not inputs.choices:
            raise NotFound("nothing to make a playlist from yet: import a listening history")
        made = playlist_of_tracks(
            read, [_choice(row, read) for row in inputs.choices], inputs.context_shares
        )
        if not made.items:
            raise FailedPrecondition(
                "no track to list yet: your recommended artists' tracks are still being"
                " fetched and you have no plays of your own; ask again in a minute"
            )
        return _playlist(request.prompt, read, made)

    async def _rediscovery(self, user_id: UUID, limit: int) -> common_pb2.RecommendationSet:
        now = datetime.now(UTC)
        past = await store.load_past_artists(self.pool, user_id)
        items = []
        for scored in rediscoveries(past, now, limit):
            because, parts = explain(scored.parts)
            items.append(
                common_pb2.Recommendation(
                    artist=scored.artist,
                    score=scored.score,
                    mode=common_pb2.RECOMMENDATION_MODE_REDISCOVERY,
                    because=because,
                    parts=[common_pb2.ExplanationPart(**part) for part in parts],
                )
            )
        return common_pb2.RecommendationSet(
            model_version="rediscovery-1", created_at=now.isoformat(), items=items
        )


def _choice(row: store.PlaylistChoiceRow, read: PlaylistPrompt) -> TrackChoice:
    mood = known_mood(mood_vector(row.tags), row.estimated_mood)
    if row.familiar:
        return TrackChoice(
            row.artist, row.track, row.track_uri, True, row.weight, mood, row.taste, YOUR_PLAYS
        )
    tracks = [
        ArtistTrack(
            track.name,
            track.track_uri,
            track.plays,
            mood_vector(track.tags),
            track.source,
            track.mbid,
        )
        for track in row.tracks
    ]
    return recommended_choice(row.artist, row.weight, row.taste, mood, tracks, read.mood)


def _playlist(prompt: str, read: PlaylistPrompt, made: MadePlaylist) -> common_pb2.Playlist:
    return common_pb2.Playlist(
        prompt=prompt,
        energy=read.mood.energy,
        valence=read.mood.valence,
        acoustic=read.mood.acoustic,
        mood_confidence=read.mood.confidence,
        hour_band=read.hour_band or "",
        familiarity=read.familiarity,
        tracks=[
            common_pb2.PlaylistTrack(
                artist=item.choice.artist,
                track=item.choice.track,
                track_uri=item.choice.track_uri,
                familiar=item.choice.familiar,
                score=item.score,
                reason=item.reason,
                source=item.choice.source,
                mbid=item.choice.mbid,
            )
            for item in made.items
        ],
        left_out=made.left_out,
        left_out_note=left_out_note(made.left_out),
    )


def _recommendation(
    item: store.StoredItem, popularity: Mapping[str, float] | None = None
) -> common_pb2.Recommendation:
    return common_pb2.Recommendation(
        artist=item.artist,
        score=item.score,
        mode=common_pb2.RECOMMENDATION_MODE_DISCOVERY,
        because=item.because,
        parts=[common_pb2.ExplanationPart(**part) for part in item.parts],
        similar_to=item.similar_to,
        top_tags=item.top_tags,
        taste=item.taste,
        popularity_percentile=(popularity or {}).get(item.artist.lower()),
    )


def _steering_message(steering: Steering) -> common_pb2.Steering:
    return common_pb2.Steering(
        tastes=dict(steering.tastes),
        familiarity_set=steering.familiarity is not None,
        familiarity=steering.familiarity or 0.0,
        description=steering.describe(),
    )


def _uuid(value: str, field_name: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidArgument(f"{field_name} is not a valid id: {value[:64]!r}") from None
