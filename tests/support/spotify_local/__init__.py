"""A local Spotify Accounts + Web API server that replays recorded response shapes, for tests."""

from tests.support.spotify_local.server import (
    DEFAULT_CLIENT_ID,
    FaultPlan,
    LocalSpotifyServer,
    ScriptedPlay,
    recorded_plays,
    start_spotify_server,
    track_object,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "FaultPlan",
    "LocalSpotifyServer",
    "ScriptedPlay",
    "recorded_plays",
    "start_spotify_server",
    "track_object",
]
