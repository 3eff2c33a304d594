"""A local HTTP server that answers like accounts.spotify.com and api.spotify.com/v1 for tests.

Bodies follow the recorded Web API responses in ../shared/data/spotify-api-*; each listener's
play history is scripted (`ScriptedPlay`), and `/_faults`, `/_stats`, `/_reset` serve tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "fullcircle-local-client"
DEFAULT_LISTENER = "listener"
HISTORY_WINDOW = 50
"""Spotify remembers only the last 50 plays over 30 s; `None` lets tests page further back."""
MAX_LIMIT = 50
MIN_COUNTED_MS = 30_000
ACCESS_TOKEN_TTL_S = 3600
PUBLIC_API = "https://api.spotify.com/v1"
PUBLIC_WEB = "https://open.spotify.com"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_ARTIST_PATH = re.compile(r"^/v1/artists/([^/]+)$")
_MARKETS = ("AR", "AU", "AT", "BE", "BR", "CA", "DE", "ES", "FR", "GB", "IN", "PK", "SE", "US")
_SERVER_ERRORS = frozenset({500, 502, 503})
_PLAYLIST_ITEMS_PATH = re.compile(r"^/v1/playlists/([^/]+)/items$")
_SEARCH_FIELD = re.compile(r'(track|artist):"([^"]*)"')
MAX_PLAYLIST_ITEMS_PER_CALL = 100
PLAYLIST_WRITE_SCOPES = ("playlist-modify-private", "playlist-modify-public")
# A status that answers the call normally: [0, 500] lets one call through, then fails one.
PASS = 0


def spotify_id(kind: str, name: str) -> str:
    """A stable 22-character base62 Spotify id for a scripted artist, album or track."""
    number = int.from_bytes(hashlib.sha256(f"{kind}\x00{name}".encode()).digest()[:17], "big")
    digits = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "".join(digits)


def format_played_at(moment: datetime) -> str:
    """`2023-09-22T15:43:33.750Z`: UTC with milliseconds, as the API writes `played_at`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _unix_ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _images(seed: str) -> list[dict[str, Any]]:
    return [
        {"height": size, "url": f"https://i.scdn.co/image/{seed}{size}", "width": size}
        for size in (640, 300, 64)
    ]


def simplified_artist(name: str, artist_id: str | None = None) -> dict[str, Any]:
    """An artist as tracks and albums embed it (six keys, like the recordings)."""
    artist_id = artist_id or spotify_id("artist", name)
    return {
        "external_urls": {"spotify": f"{PUBLIC_WEB}/artist/{artist_id}"},
        "href": f"{PUBLIC_API}/artists/{artist_id}",
        "id": artist_id,
        "name": name,
        "type": "artist",
        "uri": f"spotify:artist:{artist_id}",
    }


def track_object(
    track_name: str,
    artist_name: str,
    album_name: str,
    duration_ms: int,
    *,
    featured_artists: Iterable[str] = (),
) -> dict[str, Any]:
    """A full track object in the shape of GetSeveralTracksRequest.json / recently-played."""
    track_id = spotify_id("track", f"{artist_name}\x00{track_name}")
    album_id = spotify_id("album", f"{artist_name}\x00{album_name}")
    artists = [simplified_artist(name) for name in (artist_name, *featured_artists)]
    return {
        "album": {
            "album_type": "album",
            "artists": [simplified_artist(artist_name)],
            "available_markets": list(_MARKETS),
            "external_urls": {"spotify": f"{PUBLIC_WEB}/album/{album_id}"},
            "href": f"{PUBLIC_API}/albums/{album_id}",
            "id": album_id,
            "images": _images(album_id),
            "name": album_name,
            "release_date": "2020-01-01",
            "release_date_precision": "day",
            "total_tracks": 10,
            "type": "album",
            "uri": f"spotify:album:{album_id}",
        },
        "artists": artists,
        "available_markets": list(_MARKETS),
        "disc_number": 1,
        "duration_ms": duration_ms,
        "explicit": False,
        "external_ids": {"isrc": f"QZ{track_id[:10].upper()}"},
        "external_urls": {"spotify": f"{PUBLIC_WEB}/track/{track_id}"},
        "href": f"{PUBLIC_API}/tracks/{track_id}",
        "id": track_id,
        "is_local": False,
        "name": track_name,
        "popularity": 50,
        "preview_url": None,
        "track_number": 1,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
    }


@dataclass(frozen=True, slots=True)
class ScriptedPlay:
    """One play in a listener's scripted history: a full track object and when it was played.

    `ms_played` (default: the whole track) decides whether the API lists it (over 30 s only).
    """

    track: Mapping[str, Any]
    played_at: datetime
    ms_played: int | None = None

    @classmethod
    def of(
        cls,
        track_name: str,
        artist_name: str,
        album_name: str,
        played_at: datetime,
        *,
        duration_ms: int = 215_000,
        ms_played: int | None = None,
    ) -> ScriptedPlay:
        """A play of a track built from names, in the recorded track shape."""
        track = track_object(track_name, artist_name, album_name, duration_ms)
        return cls(track=track, played_at=played_at, ms_played=ms_played)

    @property
    def counted(self) -> bool:
        """Whether Spotify lists the play at all: only plays over 30 s count."""
        played = self.track["duration_ms"] if self.ms_played is None else self.ms_played
        return int(played) > MIN_COUNTED_MS


def recorded_plays(response_path: Path) -> list[ScriptedPlay]:
    """The plays of a recorded recently-played response, with its track objects untouched."""
    response = json.loads(response_path.read_text(encoding="utf-8"))
    return [
        ScriptedPlay(
            track=item["track"],
            played_at=datetime.fromisoformat(item["played_at"].replace("Z", "+00:00")),
        )
        for item in response["items"]
    ]


@dataclass
class FaultPlan:
    """Answers to give instead of the next Web API calls (`/v1/...`), one status per call.

    429 carries `Retry-After: retry_after_s`; 401 expires the caller's access token first, as
    Spotify does when a token runs out; 403 answers as Spotify does to a development-mode app
    writing for a user not added to it; 500/502/503 are bare server errors; PASS (0) lets the
    call through (to fail a later call of a sequence).
    """

    api_statuses: list[int] = field(default_factory=list)
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        allowed = {PASS, 429, 401, 403} | _SERVER_ERRORS
        unknown = [status for status in self.api_statuses if status not in allowed]
        if unknown:
            raise ValueError(f"cannot inject statuses {unknown}; choose from {sorted(allowed)}")


@dataclass
class _Grant:
    listener: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: str


@dataclass
class _AccessToken:
    listener: str
    scope: str
    expires_at: float


class SpotifyApiError(Exception):
    """A Web API error answer: `{"error": {"status": ..., "message": ...}}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AccountsError(Exception):
    """An Accounts service error answer: `{"error": ..., "error_description": ...}` (400)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class LocalSpotifyServer:
    """The Accounts service and the Web API over one scripted history per listener."""

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        host: str = "127.0.0.1",
        port: int = 0,
        plays: Mapping[str, Iterable[ScriptedPlay]] | None = None,
        login_as: str = DEFAULT_LISTENER,
        history_window: int | None = HISTORY_WINDOW,
        access_token_ttl_s: int = ACCESS_TOKEN_TTL_S,
        rotate_refresh_tokens: bool = True,
        faults: FaultPlan | None = None,
    ) -> None:
        self.client_id = client_id
        self.history_window = history_window
        self.access_token_ttl_s = access_token_ttl_s
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self._lock = threading.Lock()
        self._history: dict[str, list[ScriptedPlay]] = {}
        self._login_as = login_as
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, tuple[str, str]] = {}
        self._revoked: set[str] = set()
        self._faults = faults or FaultPlan()
        self._calls: Counter[str] = Counter()
        self._faults_served: Counter[str] = Counter()
        self._playlists: dict[str, _Playlist] = {}
        self._catalog: list[dict[str, Any]] = []
        for listener, listener_plays in (plays or {}).items():
            self.add_plays(listener, listener_plays)
        self._httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for both the Accounts service (`/authorize`, `/api/token`) and `/v1`."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalSpotifyServer:
        """Serve from a background thread; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns at once, not after 0.5 s
            name="local-spotify",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve on the calling thread until `stop()` runs on another."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalSpotifyServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- scripting, for tests -------------------------------------------------------------

    def add_plays(self, listener: str, plays: Iterable[ScriptedPlay]) -> None:
        """Append plays to `listener`'s history (any order; kept sorted by `played_at`)."""
        with self._lock:
            history = self._history.setdefault(listener, [])
            history.extend(plays)
            history.sort(key=lambda play: play.played_at)

    def login_as(self, listener: str) -> None:
        """The listener whose consent the next `/authorize` grants (Spotify's login page)."""
        with self._lock:
            self._login_as = listener

    def revoke_refresh_tokens(self, listener: str) -> None:
        """Revoke every refresh token of `listener`, as removing the app in Spotify's settings."""
        with self._lock:
            self._revoked.add(listener)

    def set_faults(self, faults: FaultPlan) -> None:
        """Replace the pending fault plan."""
        with self._lock:
            self._faults = faults

    def stats(self) -> dict[str, Any]:
        """Calls per endpoint, faults served, and pending faults."""
        with self._lock:
            return {
                "calls": dict(self._calls),
                "faults_served": dict(self._faults_served),
                "pending_faults": list(self._faults.api_statuses),
            }

    def reset(self) -> None:
        """Forget call counts and pending faults (history and tokens stay)."""
        with self._lock:
            self._calls.clear()
            self._faults_served.clear()
            self._faults = FaultPlan()

    # --- Accounts service -----------------------------------------------------------------

    def authorize(self, params: Mapping[str, str]) -> str:
        """The redirect location for an `/authorize` request the listener accepts at once."""
        if params.get("client_id") != self.client_id:
            raise AccountsError("invalid_client", "Invalid client")
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")):
            raise AccountsError("invalid_request", "Invalid redirect URI")
        answer: dict[str, str] = {}
        if params.get("response_type") != "code":
            answer["error"] = "unsupported_response_type"
        elif params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            answer["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(32)
            with self._lock:
                self._codes[code] = _Grant(
                    listener=self._login_as,
                    client_id=self.client_id,
                    redirect_uri=redirect_uri,
                    code_challenge=params["code_challenge"],
                    scope=params.get("scope", ""),
                )
            answer["code"] = code
        if "state" in params:
            answer["state"] = params["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return f"{redirect_uri}{separator}{urlencode(answer)}"

    def token(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The `/api/token` answer for an authorization_code (PKCE) or refresh_token grant."""
        if form.get("client_id") != self.client_id:
            raise AccountsError("invalid_client", "Invalid client")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        if grant_type is None:
            raise AccountsError("unsupported_grant_type", "grant_type parameter is missing")
        raise AccountsError(
            "unsupported_grant_type",
            "grant_type must be client_credentials, authorization_code or refresh_token",
        )

    def _exchange_code(self, form: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None:
            raise AccountsError("invalid_grant", "Invalid authorization code")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise AccountsError("invalid_grant", "Invalid redirect URI")
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        if base64.urlsafe_b64encode(digest).decode().rstrip("=") != grant.code_challenge:
            raise AccountsError("invalid_grant", "code_verifier was incorrect")
        return self._issue(grant.listener, grant.scope, new_refresh=True)

    def _refresh_grant(self, form: Mapping[str, str]) -> dict[str, Any]:
        refresh_token = form.get("refresh_token", "")
        with self._lock:
            holder = self._refresh.get(refresh_token)
            if holder is None:
                raise AccountsError("invalid_grant", "Invalid refresh token")
            listener, scope = holder
            if listener in self._revoked:
                raise AccountsError("invalid_grant", "Refresh token revoked")
            if self.rotate_refresh_tokens:
                del self._refresh[refresh_token]
        return self._issue(listener, scope, new_refresh=self.rotate_refresh_tokens)

    def _issue(self, listener: str, scope: str, *, new_refresh: bool) -> dict[str, Any]:
        access_token = "BQ" + secrets.token_urlsafe(60)
        answer: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl_s,
            "scope": scope,
        }
        with self._lock:
            self._access[access_token] = _AccessToken(
                listener, scope, time.time() + self.access_token_ttl_s
            )
            if new_refresh:
                refresh_token = "AQ" + secrets.token_urlsafe(90)
                self._refresh[refresh_token] = (listener, scope)
                answer["refresh_token"] = refresh_token
        return answer

    # --- Web API ----------------------------------------------------------------------------

    def listener_for(self, authorization: str | None) -> str:
        """The listener an `Authorization: Bearer` header belongs to, or a 401 like Spotify's."""
        if not authorization or not authorization.startswith("Bearer "):
            raise SpotifyApiError(401, "No token provided")
        token = authorization.removeprefix("Bearer ").strip()
        with self._lock:
            access = self._access.get(token)
            if access is None:
                raise SpotifyApiError(401, "Invalid access token")
            if access.expires_at <= time.time():
                raise SpotifyApiError(401, "The access token expired")
            return access.listener

    def injected_fault(self, authorization: str | None) -> tuple[int, int] | None:
        """The next injected (status, retry_after_s), if any; a 401 expires the caller's token."""
        with self._lock:
            if not self._faults.api_statuses:
                return None
            status = self._faults.api_statuses.pop(0)
            if status == PASS:
                return None
            self._faults_served[str(status)] += 1
            if status == 401 and authorization:
                access = self._access.get(authorization.removeprefix("Bearer ").strip())
                if access is not None:
                    access.expires_at = 0.0
            return status, self._faults.retry_after_s

    def record_call(self, endpoint: str) -> None:
        with self._lock:
            self._calls[endpoint] += 1

    def recently_played(self, listener: str, params: Mapping[str, str]) -> dict[str, Any]:
        """`GET /v1/me/player/recently-played`: newest first, only plays over 30 s, cursors."""
        limit = _int_param(params, "limit", 20)
        if not 1 <= limit <= MAX_LIMIT:
            raise SpotifyApiError(400, "Invalid limit")
        after = _optional_int(params, "after")
        before = _optional_int(params, "before")
        if after is not None and before is not None:
            raise SpotifyApiError(400, "Only one of 'after' or 'before' may be specified")
        with self._lock:
            counted = [play for play in self._history.get(listener, []) if play.counted]
        if self.history_window is not None:
            counted = counted[-self.history_window :]
        if after is not None:
            newer = [play for play in counted if _unix_ms(play.played_at) > after]
            page, more = newer[:limit], len(newer) > limit
        else:
            older = [
                play for play in counted if before is None or _unix_ms(play.played_at) < before
            ]
            page, more = older[-limit:], len(older) > limit
        page = page[::-1]
        base = f"{self.url}/v1/me/player/recently-played"
        next_url = None
        if page and more:
            if after is not None:
                next_params = {"after": _unix_ms(page[0].played_at), "limit": limit}
            else:
                next_params = {"before": _unix_ms(page[-1].played_at), "limit": limit}
            next_url = f"{base}?{urlencode(next_params)}"
        cursors = None
        if page:
            cursors = {
                "after": str(_unix_ms(page[0].played_at)),
                "before": str(_unix_ms(page[-1].played_at)),
            }
        return {
            "items": [
                {
                    "track": dict(play.track),
                    "played_at": format_played_at(play.played_at),
                    "context": None,
                }
                for play in page
            ],
            "next": next_url,
            "cursors": cursors,
            "limit": limit,
            "href": f"{base}?{urlencode(params)}" if params else base,
        }

    def _catalog_tracks(self) -> dict[str, Mapping[str, Any]]:
        with self._lock:
            return {
                str(play.track["id"]): play.track
                for history in self._history.values()
                for play in history
            }

    def tracks(self, params: Mapping[str, str]) -> dict[str, Any]:
        """`GET /v1/tracks?ids=`: one track object (or null for an unknown id) per id."""
        ids = [track_id for track_id in params.get("ids", "").split(",") if track_id]
        if not ids:
            raise SpotifyApiError(400, "invalid id")
        if len(ids) > MAX_LIMIT:
            raise SpotifyApiError(400, "Too many ids requested")
        if any(not _SPOTIFY_ID.match(track_id) for track_id in ids):
            raise SpotifyApiError(400, "invalid id")
        catalog = self._catalog_tracks()
        return {"tracks": [catalog.get(track_id) for track_id in ids]}

    # --- Search ---------------------------------------------------------------------------

    def add_catalog(self, tracks: Iterable[tuple[str, str]]) -> None:
        """Tracks (artist, title) the search knows besides the scripted plays' own."""
        made = [track_object(title, artist, f"{artist} album", 200_000) for artist, title in tracks]
        with self._lock:
            self._catalog.extend(made)

    def search(self, params: Mapping[str, str]) -> dict[str, Any]:
        """`GET /v1/search?type=track&q=`: the tracks whose fields hold the query's
        (`track:"..." artist:"..."` filters, else the words anywhere), in the paging shape of
        SearchTracksRequest.json (spotify-web-api-java)."""
        if params.get("type") != "track":
            raise SpotifyApiError(400, "Bad search type field")
        query = params.get("q", "").strip()
        if not query:
            raise SpotifyApiError(400, "No search query")
        limit = min(max(_int_param(params, "limit", 20), 1), MAX_LIMIT)
        offset = max(_int_param(params, "offset", 0), 0)
        fields = {name: value.casefold() for name, value in _SEARCH_FIELD.findall(query)}
        words = _SEARCH_FIELD.sub(" ", query).casefold().split()
        with self._lock:
            known = {str(t["id"]): t for t in self._catalog}
        known |= self._catalog_tracks()

        def matches(track: Mapping[str, Any]) -> bool:
            title = str(track["name"]).casefold()
            artists = " ".join(str(a["name"]) for a in track["artists"]).casefold()
            return (
                fields.get("track", "") in title
                and fields.get("artist", "") in artists
                and all(word in f"{title} {artists}" for word in words)
            )

        found = [track for track in known.values() if matches(track)]
        base = f"{PUBLIC_API}/search"
        page = {"query": query, "type": "track", "limit": limit}
        return {
            "tracks": {
                "href": f"{base}?{urlencode({**page, 'offset': offset})}",
                "items": found[offset : offset + limit],
                "limit": limit,
                "next": (
                    f"{base}?{urlencode({**page, 'offset': offset + limit})}"
                    if offset + limit < len(found)
                    else None
                ),
                "offset": offset,
                "previous": (
                    f"{base}?{urlencode({**page, 'offset': max(0, offset - limit)})}"
                    if offset
                    else None
                ),
                "total": len(found),
            }
        }

    # --- Playlists (Spotify's endpoints since its 2026 changes: /me/playlists, /items) ------

    def playlist(self, playlist_id: str) -> dict[str, Any]:
        """A playlist as the test sees it: name, description, public, owner and item URIs."""
        with self._lock:
            found = self._playlists.get(playlist_id)
            if found is None:
                raise KeyError(playlist_id)
            return {
                "name": found.name,
                "description": found.description,
                "public": found.public,
                "owner": found.owner,
                "uris": list(found.uris),
            }

    def playlists_of(self, listener: str) -> list[str]:
        with self._lock:
            return [pid for pid, found in self._playlists.items() if found.owner == listener]

    def create_playlist(self, authorization: str | None, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /v1/me/playlists` (CreatePlaylistRequest.json's shape, 201)."""
        listener = self._writer(authorization, bool(body.get("public", True)))
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise SpotifyApiError(400, "Missing required field: name")
        playlist_id = spotify_id("playlist", f"{listener}/{name}/{secrets.token_hex(4)}")
        found = _Playlist(
            listener, name, str(body.get("description") or ""), bool(body.get("public", True))
        )
        with self._lock:
            self._playlists[playlist_id] = found
        return self._playlist_object(playlist_id, found)

    def playlist_items(self, authorization: str | None, playlist_id: str) -> dict[str, Any]:
        """`GET /v1/playlists/{id}/items`: the paging object of playlist track objects."""
        self.listener_for(authorization)
        found = self._owned_playlist(playlist_id, None)
        href = f"{PUBLIC_API}/playlists/{playlist_id}/items"
        catalog = self._catalog_tracks()
        return {
            "href": href,
            "items": [
                {
                    "added_at": format_played_at(datetime.now(UTC)),
                    "added_by": _user_object(found.owner),
                    "is_local": False,
                    "track": catalog.get(uri.rsplit(":", 1)[-1])
                    or {"type": "track", "uri": uri, "id": uri.rsplit(":", 1)[-1]},
                }
                for uri in found.uris[:MAX_PLAYLIST_ITEMS_PER_CALL]
            ],
            "limit": MAX_PLAYLIST_ITEMS_PER_CALL,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": len(found.uris),
        }

    def add_playlist_items(
        self, authorization: str | None, playlist_id: str, body: Any, *, replace: bool
    ) -> dict[str, Any]:
        """`POST /v1/playlists/{id}/items` (a JSON list of URIs, or {"uris": [...]}) appends,
        `PUT` replaces them all; at most 100 a call, as Spotify takes; `{"snapshot_id"}`."""
        uris = body.get("uris") if isinstance(body, dict) else body
        if not isinstance(uris, list) or not all(isinstance(uri, str) for uri in uris):
            raise SpotifyApiError(400, "Invalid request: uris must be a list of strings")
        if len(uris) > MAX_PLAYLIST_ITEMS_PER_CALL:
            raise SpotifyApiError(400, "You can add a maximum of 100 tracks per request.")
        if any(not uri.startswith(("spotify:track:", "spotify:episode:")) for uri in uris):
            raise SpotifyApiError(400, "Invalid track uri")
        with self._lock:
            existing = self._playlists.get(playlist_id)
        listener = self._writer(authorization, existing.public if existing else False)
        found = self._owned_playlist(playlist_id, listener)
        with self._lock:
            found.uris = list(uris) if replace else [*found.uris, *uris]
            found.snapshot += 1
            return {"snapshot_id": f"{playlist_id}-{found.snapshot}"}

    def _writer(self, authorization: str | None, public: bool) -> str:
        """The listener a playlist write is for, if their token holds the scope it needs."""
        listener = self.listener_for(authorization)
        token = (authorization or "").removeprefix("Bearer ").strip()
        with self._lock:
            scopes = set(self._access[token].scope.split())
        needed = "playlist-modify-public" if public else "playlist-modify-private"
        if needed not in scopes:
            raise SpotifyApiError(403, "Insufficient client scope")
        return listener

    def _owned_playlist(self, playlist_id: str, writer: str | None) -> _Playlist:
        with self._lock:
            found = self._playlists.get(playlist_id)
        if found is None:
            raise SpotifyApiError(404, "Not found.")
        if writer is not None and found.owner != writer:
            raise SpotifyApiError(403, "You cannot add tracks to a playlist you don't own.")
        return found

    def _playlist_object(self, playlist_id: str, found: _Playlist) -> dict[str, Any]:
        href = f"{PUBLIC_API}/playlists/{playlist_id}"
        empty = {
            "href": f"{href}/items",
            "limit": MAX_PLAYLIST_ITEMS_PER_CALL,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": len(found.uris),
            "items": [],
        }
        return {
            "collaborative": False,
            "description": found.description,
            "external_urls": {"spotify": f"{PUBLIC_WEB}/playlist/{playlist_id}"},
            "href": href,
            "id": playlist_id,
            "images": [],
            "name": found.name,
            "owner": _user_object(found.owner),
            "public": found.public,
            "snapshot_id": f"{playlist_id}-{found.snapshot}",
            "items": empty,
            "tracks": dict(empty),
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist_id}",
        }

    def artist(self, artist_id: str) -> dict[str, Any]:
        """`GET /v1/artists/{id}`: the full artist object (GetArtistRequest.json's keys)."""
        if not _SPOTIFY_ID.match(artist_id):
            raise SpotifyApiError(400, "invalid id")
        for track in self._catalog_tracks().values():
            for artist in track.get("artists", []):
                if artist.get("id") == artist_id:
                    return {
                        "external_urls": dict(artist["external_urls"]),
                        "followers": {"href": None, "total": 1000},
                        "genres": [],
                        "href": artist["href"],
                        "id": artist_id,
                        "images": _images(artist_id),
                        "name": artist["name"],
                        "popularity": 50,
                        "type": "artist",
                        "uri": artist["uri"],
                    }
        raise SpotifyApiError(404, "non existing id")


@dataclass
class _Playlist:
    owner: str
    name: str
    description: str
    public: bool
    uris: list[str] = field(default_factory=list)
    snapshot: int = 1


def _user_object(listener: str) -> dict[str, Any]:
    return {
        "external_urls": {"spotify": f"{PUBLIC_WEB}/user/{listener}"},
        "href": f"{PUBLIC_API}/users/{listener}",
        "id": listener,
        "type": "user",
        "uri": f"spotify:user:{listener}",
    }


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    value = _optional_int(params, name)
    return default if value is None else value


def _optional_int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise SpotifyApiError(400, f"Invalid {name}") from None


def _handler_class(server: LocalSpotifyServer) -> type[BaseHTTPRequestHandler]:
    class SpotifyRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            # The default line would print `?code=` and other secrets of the query string.
            logger.debug("%s %s", self.command, urlsplit(self.path).path)

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def do_PUT(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query))
            endpoint = f"{self.command} {parts.path}"
            try:
                if parts.path.startswith("/_"):
                    self._control(parts.path, body)
                elif endpoint == "GET /authorize":
                    server.record_call("GET /authorize")
                    self._send(HTTPStatus.FOUND, b"", location=server.authorize(params))
                elif endpoint == "POST /api/token":
                    server.record_call(endpoint)
                    form = dict(parse_qsl(body.decode("utf-8")))
                    self._send_json(HTTPStatus.OK, server.token(form))
                elif parts.path.startswith("/v1/"):
                    self._web_api(parts.path, params, body)
                else:
                    self._send_json(
                        HTTPStatus.NOT_FOUND,
                        {"error": {"status": 404, "message": "Service not found"}},
                    )
            except AccountsError as error:
                self._send_json(
                    HTTPStatus(error.status),
                    {"error": error.error, "error_description": error.description},
                )
            except SpotifyApiError as error:
                self._send_json(
                    HTTPStatus(error.status),
                    {"error": {"status": error.status, "message": error.message}},
                )

        def _web_api(self, path: str, params: dict[str, str], body: bytes) -> None:
            path = path.rstrip("/")  # spotipy asks for `tracks/?ids=`; Spotify accepts both.
            artist_match = _ARTIST_PATH.match(path)
            items_match = _PLAYLIST_ITEMS_PATH.match(path)
            if artist_match:
                endpoint = "GET /v1/artists/{id}"
            elif items_match:
                endpoint = f"{self.command} /v1/playlists/{{id}}/items"
            else:
                endpoint = f"{self.command} {path}"
            server.record_call(endpoint)
            authorization = self.headers.get("Authorization")
            fault = server.injected_fault(authorization)
            if fault is not None:
                self._send_fault(*fault)
                return
            listener = server.listener_for(authorization)
            if endpoint == "GET /v1/me/player/recently-played":
                self._send_json(HTTPStatus.OK, server.recently_played(listener, params))
            elif endpoint == "GET /v1/tracks":
                self._send_json(HTTPStatus.OK, server.tracks(params))
            elif artist_match is not None:
                self._send_json(HTTPStatus.OK, server.artist(artist_match.group(1)))
            elif endpoint == "GET /v1/search":
                self._send_json(HTTPStatus.OK, server.search(params))
            elif endpoint == "POST /v1/me/playlists":
                created = server.create_playlist(authorization, _json_body(body))
                self._send_json(HTTPStatus.CREATED, created)
            elif items_match is not None and self.command == "GET":
                self._send_json(
                    HTTPStatus.OK, server.playlist_items(authorization, items_match.group(1))
                )
            elif items_match is not None:
                answer = server.add_playlist_items(
                    authorization,
                    items_match.group(1),
                    _json_body(body, query=params),
                    replace=self.command == "PUT",
                )
                status = HTTPStatus.OK if self.command == "PUT" else HTTPStatus.CREATED
                self._send_json(status, answer)
            else:
                raise SpotifyApiError(404, "Service not found")

        def _send_fault(self, status: int, retry_after_s: int) -> None:
            if status == 429:
                body = {"error": {"status": 429, "message": "API rate limit exceeded"}}
                self._send_json(HTTPStatus(429), body, retry_after=str(retry_after_s))
            elif status == 401:
                body = {"error": {"status": 401, "message": "The access token expired"}}
                self._send_json(HTTPStatus(401), body)
            elif status == 403:
                body = {"error": {"status": 403, "message": "Forbidden"}}
                self._send_json(HTTPStatus(403), body)
            else:
                self._send(HTTPStatus(status), b"", content_type="text/plain")

        def _control(self, path: str, body: bytes) -> None:
            if path == "/_stats":
                self._send_json(HTTPStatus.OK, server.stats())
            elif path == "/_reset" and self.command == "POST":
                server.reset()
                self._send_json(HTTPStatus.OK, {"reset": True})
            elif path == "/_faults" and self.command == "POST":
                try:
                    plan = json.loads(body or b"{}")
                    server.set_faults(
                        FaultPlan(
                            api_statuses=[int(status) for status in plan.get("api", [])],
                            retry_after_s=int(plan.get("retry_after", 1)),
                        )
                    )
                    for listener in plan.get("revoke_refresh_tokens_of", []):
                        server.revoke_refresh_tokens(str(listener))
                except (ValueError, TypeError, AttributeError) as error:
                    self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
                    return
                self._send_json(HTTPStatus.OK, server.stats())
            else:
                self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no control endpoint {path}"})

        def _send_json(
            self, status: HTTPStatus, body: Mapping[str, Any], retry_after: str | None = None
        ) -> None:
            payload = json.dumps(body).encode("utf-8")
            self._send(status, payload, "application/json; charset=utf-8", retry_after=retry_after)

        def _send(
            self,
            status: HTTPStatus,
            payload: bytes,
            content_type: str = "application/json; charset=utf-8",
            *,
            location: str | None = None,
            retry_after: str | None = None,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if location is not None:
                self.send_header("Location", location)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(payload)

    return SpotifyRequestHandler


def _json_body(body: bytes, query: Mapping[str, str] | None = None) -> Any:
    """A request's JSON body; `?uris=a,b` stands for one, as Spotify takes it."""
    if not body and query and query.get("uris"):
        return {"uris": query["uris"].split(",")}
    try:
        return json.loads(body or b"{}")
    except ValueError:
        raise SpotifyApiError(400, "Error parsing JSON.") from None


def start_spotify_server(
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    host: str = "127.0.0.1",
    port: int = 0,
    plays: Mapping[str, Iterable[ScriptedPlay]] | None = None,
    login_as: str = DEFAULT_LISTENER,
    history_window: int | None = HISTORY_WINDOW,
    access_token_ttl_s: int = ACCESS_TOKEN_TTL_S,
    rotate_refresh_tokens: bool = True,
    faults: FaultPlan | None = None,
) -> LocalSpotifyServer:
    """A started `LocalSpotifyServer` (use it as a context manager, or call `.stop()`)."""
    return LocalSpotifyServer(
        client_id=client_id,
        host=host,
        port=port,
        plays=plays,
        login_as=login_as,
        history_window=history_window,
        access_token_ttl_s=access_token_ttl_s,
        rotate_refresh_tokens=rotate_refresh_tokens,
        faults=faults,
    ).start()
