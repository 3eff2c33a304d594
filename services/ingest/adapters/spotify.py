"""Spotify through spotipy: linking an account (Authorization Code with PKCE), syncing plays and
writing playlists.

All retry policy lives in `SpotifyWebClient` (the kernel's tenacity policy): spotipy gets a
plain `requests.Session`, so its own urllib3 retries (which would swallow 429's Retry-After)
never run. Nothing touches the disk.
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

import requests
import spotipy
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.exceptions import SpotifyException, SpotifyOauthError
from tenacity import RetryCallState

from fullcircle.retry import jittered_backoff, retrying
from services.ingest.domain.sync import RECENTLY_PLAYED_LIMIT, SyncBatch, sync_batch_from_pages
from services.ingest.domain.token_box import TokenSet
from services.ingest.domain.track_search import SEARCH_LIMIT, best_match, search_query

log = logging.getLogger(__name__)

RECENTLY_PLAYED_SCOPE = "user-read-recently-played"
# Writing playlists (`POST /me/playlists`, `/playlists/{id}/items`): Full-Circle's are private.
PLAYLIST_SCOPE = "playlist-modify-private"
LINK_SCOPES = f"{RECENTLY_PLAYED_SCOPE} {PLAYLIST_SCOPE} playlist-modify-public"
PLAYLIST_ITEMS_PER_CALL = 100  # Spotify takes at most 100 URIs a call
_T = TypeVar("_T")


class SpotifyError(Exception):
    """Spotify could not be reached or answered something a sync cannot use."""


class SpotifyRelinkRequired(SpotifyError):
    """Spotify refuses the stored grant (revoked or expired refresh token): link again."""

    def __init__(self, detail: str, user_name: str | None = None) -> None:
        self.detail = detail
        self.user_name = user_name
        super().__init__(
            f"Spotify no longer accepts this account's authorization ({detail}); re-link your "
            f"account with `fullcircle spotify link --user {user_name or 'NAME'}`"
        )


class SpotifyNotLinked(SpotifyError):
    """The listener has no linked Spotify account."""


class SpotifyForbidden(SpotifyError):
    """Spotify answered 403 to a write: the grant lacks the scope, or a development-mode app
    writes for a user not added to it in Spotify's dashboard."""


class SpotifyNotFound(SpotifyError):
    """Spotify answered 404 (a playlist the listener deleted)."""


class SpotifyUnavailable(SpotifyError):
    """Spotify kept failing (5xx, network) or rate limiting past what one sync waits for."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class SpotifyEndpoints:
    """Where the Accounts service and the Web API live; the local server serves both."""

    accounts_url: str = "https://accounts.spotify.com"
    api_url: str = "https://api.spotify.com"

    @classmethod
    def local(cls, base_url: str) -> SpotifyEndpoints:
        """Both services at one base URL, as the local Spotify stand-in of the tests serves them."""
        return cls(accounts_url=base_url, api_url=base_url)

    @property
    def authorize_url(self) -> str:
        return f"{self.accounts_url.rstrip('/')}/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.accounts_url.rstrip('/')}/api/token"

    @property
    def api_prefix(self) -> str:
        """spotipy's `Spotify.prefix`: the Web API base with its `/v1/`."""
        return f"{self.api_url.rstrip('/')}/v1/"


class _RedactSecrets(logging.Filter):
    """Blanks bearer tokens, codes and refresh tokens in spotipy's DEBUG lines (it logs them)."""

    _patterns = (
        re.compile(r"(Bearer\s+)[^'\"\s,}]+"),
        re.compile(
            r"((?:'|\")(?:access_token|refresh_token|code|code_verifier)(?:'|\")\s*:\s*(?:'|\"))"
            r"[^'\"]*"
        ),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for pattern in self._patterns:
            redacted = pattern.sub(r"\1<redacted>", redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_redaction_lock = threading.Lock()


def _redact_spotipy_logs() -> None:
    with _redaction_lock:
        for name in ("spotipy.client", "spotipy.oauth2"):
            spotipy_logger = logging.getLogger(name)
            if not any(isinstance(f, _RedactSecrets) for f in spotipy_logger.filters):
                spotipy_logger.addFilter(_RedactSecrets())


def _token_set(token_info: dict[str, Any], previous_refresh_token: str | None = None) -> TokenSet:
    return TokenSet(
        access_token=token_info["access_token"],
        refresh_token=token_info.get("refresh_token") or previous_refresh_token or "",
        expires_at=datetime.fromtimestamp(int(token_info["expires_at"]), UTC),
        scope=token_info.get("scope") or "",
    )


class SpotifyAuth:
    """Authorization Code with PKCE through `spotipy.SpotifyPKCE`, tokens kept in memory only."""

    def __init__(
        self,
        client_id: str,
        redirect_uri: str,
        *,
        scope: str = LINK_SCOPES,
        endpoints: SpotifyEndpoints | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not client_id:
            raise SpotifyError("no Spotify client id configured; set it in the ingest settings")
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.endpoints = endpoints or SpotifyEndpoints()
        self.timeout_s = timeout_s
        _redact_spotipy_logs()

    def _pkce(self) -> tuple[spotipy.SpotifyPKCE, MemoryCacheHandler]:
        cache = MemoryCacheHandler()
        pkce = spotipy.SpotifyPKCE(
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            scope=self.scope,
            cache_handler=cache,
            open_browser=False,
            requests_timeout=self.timeout_s,
        )
        # spotipy reads both through `self.`, so instance attributes re-point this one client.
        pkce.OAUTH_AUTHORIZE_URL = self.endpoints.authorize_url
        pkce.OAUTH_TOKEN_URL = self.endpoints.token_url
        return pkce, cache

    def authorize_url(self, state: str) -> tuple[str, str]:
        """The consent URL to send the listener to, and the PKCE code verifier to keep for it."""
        pkce, _ = self._pkce()
        pkce.get_pkce_handshake_parameters()
        return pkce.get_authorize_url(state), str(pkce.code_verifier)

    def exchange(self, code: str, code_verifier: str) -> TokenSet:
        """Tokens for the `code` Spotify redirected back with; `SpotifyError` if refused."""
        pkce, cache = self._pkce()
        pkce.code_verifier = code_verifier
        pkce.code_challenge = pkce._get_code_challenge()
        try:
            pkce.get_access_token(code=code, check_cache=False)
        except SpotifyOauthError as error:
            raise SpotifyError(
                f"Spotify refused the authorization code ({error.error}: "
                f"{error.error_description}); start `fullcircle spotify link` again"
            ) from None
        except requests.RequestException as error:
            raise SpotifyUnavailable(
                f"cannot reach Spotify accounts: {type(error).__name__}"
            ) from None
        token_info = cache.get_cached_token()
        if token_info is None:
            raise SpotifyError("Spotify accounts answered without tokens")
        return _token_set(token_info)

    def refresh(self, refresh_token: str, *, user_name: str | None = None) -> TokenSet:
        """A fresh access token; `SpotifyRelinkRequired` when the refresh token is revoked."""
        pkce, _ = self._pkce()
        try:
            token_info = pkce.refresh_access_token(refresh_token)
        except SpotifyOauthError as error:
            if error.error == "invalid_grant":
                raise SpotifyRelinkRequired(
                    f"{error.error}: {error.error_description}", user_name
                ) from None
            raise SpotifyUnavailable(
                f"Spotify accounts refused a token refresh ({error.error})"
            ) from None
        except requests.RequestException as error:
            raise SpotifyUnavailable(
                f"cannot reach Spotify accounts: {type(error).__name__}"
            ) from None
        return _token_set(token_info, refresh_token)


class TokenProvider(Protocol):
    """Hands out a listener's access token, and a new one after Spotify answered 401."""

    def access_token(self) -> str: ...

    def refreshed_access_token(self) -> str: ...


class StoredTokens:
    """A `TokenProvider` over one listener's `TokenSet`; `on_refresh` persists each new set.

    Spotify rotates PKCE refresh tokens, so the service must store every refreshed set (sealed
    with `TokenBox`) before the next sync, or the old refresh token is gone.
    """

    def __init__(
        self,
        auth: SpotifyAuth,
        tokens: TokenSet,
        on_refresh: Callable[[TokenSet], None],
        *,
        user_name: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._auth = auth
        self.tokens = tokens
        self._on_refresh = on_refresh
        self._user_name = user_name
        self._clock = clock

    def __repr__(self) -> str:
        return f"StoredTokens(user_name={self._user_name!r}, tokens={self.tokens!r})"

    def access_token(self) -> str:
        if self.tokens.expires_within(self._clock()):
            return self.refreshed_access_token()
        return self.tokens.access_token

    def refreshed_access_token(self) -> str:
        self.tokens = self._auth.refresh(self.tokens.refresh_token, user_name=self._user_name)
        self._on_refresh(self.tokens)
        return self.tokens.access_token


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long one sync keeps trying before it gives up and the schedule tries again later."""

    max_rate_limited: int = 3
    max_retry_after_s: float = 120.0
    max_server_errors: int = 4
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 8.0
    max_pages: int = 100


def _retry_after_s(headers: Any) -> float | None:
    raw = (headers or {}).get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True, slots=True)
class WrittenPlaylist:
    playlist_id: str
    url: str
    items: int
    created: bool  # False: an existing playlist's items were replaced in place


class SpotifyWebClient:
    """The Web API through spotipy with retries: `GET /me/player/recently-played` paged on
    `after`, and playlists written with the endpoints Spotify serves since its 2026 changes
    (`POST /me/playlists`, `PUT` / `POST /playlists/{id}/items`)."""

    def __init__(
        self,
        *,
        endpoints: SpotifyEndpoints | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoints = endpoints or SpotifyEndpoints()
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self._sleep = sleep
        _redact_spotipy_logs()

    def _spotify(self, access_token: str) -> spotipy.Spotify:
        # A plain Session has no urllib3 Retry mounted: every status reaches `_call` intact.
        spotify = spotipy.Spotify(
            auth=access_token,
            requests_session=requests.Session(),
            requests_timeout=self.timeout_s,
            retries=0,
            status_retries=0,
            backoff_factor=0,
        )
        spotify.prefix = self.endpoints.api_prefix
        return spotify

    def fetch_since(
        self,
        token_provider: TokenProvider,
        after_ms: int | None,
        *,
        user_name: str | None = None,
    ) -> SyncBatch:
        """Every play Spotify lists after the `after_ms` cursor (all it has if None), in pages.

        Raises `SpotifyRelinkRequired` when the grant is revoked and `SpotifyUnavailable` when
        retries run out (its `retry_after_s` says when Spotify wants to be asked again).
        """
        spotify = self._spotify(token_provider.access_token())
        pages: list[dict[str, Any]] = []
        cursor = after_ms
        for _ in range(self.retry.max_pages):
            page_cursor = cursor

            def recently_played(client: spotipy.Spotify, after: int | None = page_cursor) -> Any:
                return client.current_user_recently_played(limit=RECENTLY_PLAYED_LIMIT, after=after)

            page = self._call(
                spotify, token_provider, recently_played, user_name, "recently-played"
            )
            if not isinstance(page, dict):
                raise SpotifyError("Spotify answered recently-played without a JSON body")
            items = page.get("items") or []
            pages.append(page)
            if len(items) < RECENTLY_PLAYED_LIMIT:
                break
            next_cursor = sync_batch_from_pages([page], cursor).cursor_ms
            if next_cursor is None or (cursor is not None and next_cursor <= cursor):
                break
            cursor = next_cursor
        batch = sync_batch_from_pages(pages, after_ms)
        log.info(
            "spotify sync%s: %d plays in %d pages, cursor %s%s",
            f" for {user_name}" if user_name else "",
            len(batch.plays),
            batch.pages,
            batch.cursor_ms,
            ", possible gap" if batch.possible_gap else "",
        )
        return batch

    def search_tracks(
        self,
        token_provider: TokenProvider,
        wanted: list[tuple[str, str]],
        *,
        user_name: str | None = None,
    ) -> dict[tuple[str, str], str | None]:
        """(artist, title) -> the URI of the track Spotify's search finds for it, None when
        none of its answers match (domain/track_search.py), one `GET /search` each."""
        spotify = self._spotify(token_provider.access_token())
        found: dict[tuple[str, str], str | None] = {}
        for artist, title in wanted:
            answer = self._call(
                spotify,
                token_provider,
                partial(_search, search_query(artist, title)),
                user_name,
                "a track search",
            )
            items = (answer or {}).get("tracks", {}).get("items") or []
            found[artist, title] = best_match(items, artist, title)
        return found

    def write_playlist(
        self,
        token_provider: TokenProvider,
        name: str,
        description: str,
        uris: list[str],
        *,
        playlist_id: str | None = None,
        user_name: str | None = None,
    ) -> WrittenPlaylist:
        """Make the listener's private playlist hold exactly `uris`, in order: the existing
        `playlist_id` replaced in place (its first 100 by `PUT`, the rest appended 100 at a
        time), or a new one made when there is none or the listener deleted it. A retry after a
        failure halfway replaces again, so it never leaves a track twice."""
        spotify = self._spotify(token_provider.access_token())
        head, rest = uris[:PLAYLIST_ITEMS_PER_CALL], uris[PLAYLIST_ITEMS_PER_CALL:]
        created = False
        if playlist_id:
            try:
                self._call(
                    spotify,
                    token_provider,
                    lambda client: client.playlist_replace_items(playlist_id, head),
                    user_name,
                    "a playlist's items",
                )
            except SpotifyNotFound:
                log.info("spotify playlist %s is gone: making a new one", playlist_id)
                playlist_id = None
        if not playlist_id:
            made = self._call(
                spotify,
                token_provider,
                lambda client: client.current_user_playlist_create(
                    name, public=False, description=description
                ),
                user_name,
                "a new playlist",
            )
            if not isinstance(made, dict) or not made.get("id"):
                raise SpotifyError("Spotify answered the new playlist without its id")
            playlist_id, created = str(made["id"]), True
            made_id = playlist_id
            self._call(
                spotify,
                token_provider,
                lambda client: client.playlist_replace_items(made_id, head),
                user_name,
                "a playlist's items",
            )
        for start in range(0, len(rest), PLAYLIST_ITEMS_PER_CALL):
            self._call(
                spotify,
                token_provider,
                partial(_add_items, playlist_id, rest[start : start + PLAYLIST_ITEMS_PER_CALL]),
                user_name,
                "a playlist's items",
            )
        url = f"https://open.spotify.com/playlist/{playlist_id}"
        return WrittenPlaylist(playlist_id, url, len(uris), created)

    def _call(
        self,
        spotify: spotipy.Spotify,
        token_provider: TokenProvider,
        request: Callable[[spotipy.Spotify], _T],
        user_name: str | None,
        what: str,
    ) -> _T:
        """One Web API request under the kernel's retry policy: 429 waits as long as Retry-After
        says, 5xx and network errors back off with jitter, a 401 refreshes the token once."""
        policy = self.retry
        failures: Counter[type[_Retried]] = Counter()
        refreshed = False

        def attempt() -> _T:
            nonlocal refreshed
            try:
                return request(spotify)
            except SpotifyException as error:
                status = error.http_status
                if status == 429:
                    failures[_RateLimited] += 1
                    raise _RateLimited(_retry_after_s(error.headers)) from None
                if status == 401:
                    if refreshed:
                        raise SpotifyRelinkRequired(
                            "a freshly refreshed access token was refused", user_name
                        ) from None
                    log.info("spotify access token refused (401): refreshing it once")
                    try:
                        spotify.set_auth(token_provider.refreshed_access_token())
                    except SpotifyRelinkRequired as relink:
                        if relink.user_name is None and user_name is not None:
                            raise SpotifyRelinkRequired(relink.detail, user_name) from None
                        raise
                    refreshed = True
                    raise _TokenRefreshed from None
                if status >= 500:
                    failures[_ServerFailed] += 1
                    raise _ServerFailed(f"HTTP {status}") from None
                if status == 403:
                    raise SpotifyForbidden(
                        f"Spotify refused to write {what} (403: {error.msg}): the link may "
                        "predate playlist access (re-link with `fullcircle spotify link`), or "
                        "a development-mode Spotify app writes only for the users added to it "
                        "in Spotify's developer dashboard"
                    ) from None
                if status == 404:
                    raise SpotifyNotFound(f"Spotify has no {what} there: {error.msg}") from None
                raise SpotifyError(f"Spotify answered {status} to {what}: {error.msg}") from None
            except (requests.ConnectionError, requests.Timeout) as error:
                failures[_ServerFailed] += 1
                raise _ServerFailed(type(error).__name__) from None

        backoff = jittered_backoff(policy.backoff_base_s, policy.backoff_cap_s)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _TokenRefreshed):
                return 0.0
            if isinstance(error, _RateLimited):
                return policy.backoff_base_s if error.wait_s is None else error.wait_s
            return float(backoff(state))

        def give_up(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _RateLimited):
                return (
                    failures[_RateLimited] > policy.max_rate_limited
                    or state.upcoming_sleep > policy.max_retry_after_s
                )
            return failures[_ServerFailed] > policy.max_server_errors

        try:
            return retrying(
                retry_on=lambda error: isinstance(error, _Retried),
                stop=give_up,
                wait=wait,
                what="spotify",
                sleep=self._sleep,
            )(attempt)
        except _RateLimited as limited:
            wait_s = policy.backoff_base_s if limited.wait_s is None else limited.wait_s
            if failures[_RateLimited] > policy.max_rate_limited:
                message = f"Spotify kept rate limiting ({failures[_RateLimited]} times)"
            else:
                message = f"Spotify asks to wait {wait_s:.0f}s, longer than a sync waits"
            raise SpotifyUnavailable(message, wait_s) from None
        except _ServerFailed as failed:
            raise SpotifyUnavailable(
                f"Spotify is unavailable ({failed}, {failures[_ServerFailed]} attempts); "
                "the next sync retries"
            ) from None


def _search(query: str, client: spotipy.Spotify) -> Any:
    return client.search(query, limit=SEARCH_LIMIT, type="track")


def _add_items(playlist_id: str, uris: list[str], client: spotipy.Spotify) -> Any:
    return client.playlist_add_items(playlist_id, uris)


class _Retried(Exception):
    """A failure `_call` tries again (never leaves the module)."""


class _RateLimited(_Retried):
    def __init__(self, wait_s: float | None) -> None:
        super().__init__(f"rate limited, Retry-After {wait_s}")
        self.wait_s = wait_s


class _ServerFailed(_Retried):
    pass


class _TokenRefreshed(_Retried):
    pass
