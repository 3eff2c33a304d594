"""Last.fm through pylast: artist top tags and similar artists, at the rate limit, with retries.

The same code path serves the real Last.fm and the local catalog server: for a plain-http API
root (the local server) pylast's https request is carried over http by a transport mount."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import httpx2
import pylast

from services.enrich.domain.ratelimit import TokenBucket
from services.enrich.domain.tags import canonical_tag

log = logging.getLogger(__name__)

T = TypeVar("T")

NOT_FOUND = "6"
RETRYABLE = {"8", "11", "16", "29", "500", "502", "503", "504"}


@dataclass(frozen=True)
class ArtistKnowledge:
    """What Last.fm says about one artist; `found` is False for Last.fm's error 6."""

    name: str
    found: bool
    tags: list[tuple[str, int]]
    similar: list[tuple[str, float]] | None  # None when not asked for


class LastfmUnavailable(RuntimeError):
    """Last.fm kept failing after the retries; the work is retried later from the bus."""


class _PlainHttp(httpx2.HTTPTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http")
        return super().handle_request(request)


class LastfmClient:
    """Thread-safe: one token bucket for every concurrent call of the process."""

    def __init__(self, api_key: str, api_root: str, rate: float, retries: int) -> None:
        parts = urlsplit(api_root)
        self.network = pylast.LastFMNetwork(api_key=api_key)
        self.network.ws_server = (parts.netloc, parts.path or "/2.0/")
        if parts.scheme == "http":
            self.network.proxy = {f"https://{parts.netloc}": _PlainHttp()}
        self.bucket = TokenBucket(rate)
        self.retries = retries
        self.calls = 0

    def artist(self, name: str, similar_limit: int | None) -> ArtistKnowledge:
        """Top tags (and similar artists when `similar_limit` is set) of one artist."""
        artist = self.network.get_artist(name)
        try:
            top_tags = self._call(lambda: artist.get_top_tags())
        except pylast.WSError as exc:
            if str(exc.status) == NOT_FOUND:
                return ArtistKnowledge(name, False, [], None)
            raise
        tags: dict[str, int] = {}
        for item in top_tags:
            tag = canonical_tag(str(item.item.get_name()))
            if tag and tag not in tags:
                tags[tag] = int(float(item.weight))
        similar = None
        if similar_limit:
            similar = [
                (str(item.item.get_name()), float(item.match))
                for item in self._call(lambda: artist.get_similar(limit=similar_limit))
            ]
        return ArtistKnowledge(name, True, sorted(tags.items(), key=lambda t: -t[1]), similar)

    def _call(self, request: Callable[[], T]) -> T:
        for attempt in range(self.retries + 1):
            self.bucket.acquire()
            self.calls += 1
            try:
                return request()
            except pylast.WSError as exc:
                if str(exc.status) not in RETRYABLE or attempt == self.retries:
                    if str(exc.status) in RETRYABLE:
                        raise LastfmUnavailable(f"Last.fm error {exc.status}: {exc}") from exc
                    raise
                backoff = 2.0**attempt if str(exc.status) == "29" else 0.2 * 2**attempt
                log.warning("Last.fm error %s, retrying in %.1fs", exc.status, backoff)
                time.sleep(backoff)
            except (pylast.NetworkError, pylast.MalformedResponseError) as exc:
                if attempt == self.retries:
                    raise LastfmUnavailable(f"Last.fm unreachable: {exc}") from exc
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")
