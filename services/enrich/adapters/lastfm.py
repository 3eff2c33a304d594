"""Last.fm through pylast: tags, similar artists, popularity, corrections, tag charts and an
artist's top tracks, at the rate limit of the API key (shared through Redis by every enrich
replica of that key), with the kernel's retry policy and timeouts.

The same code path serves the real Last.fm and the local catalog server: for a plain-http API
root (the local server) pylast's https request is carried over http by a transport mount."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit
from xml.dom import minidom

import httpx2
import pylast
from tenacity import RetryCallState

from fullcircle.ratelimit import RateLimit, process_rate_limit
from fullcircle.retry import jittered_backoff, retrying
from services.enrich.domain.tags import CleanTag, clean_artist_tags, clean_tags

log = logging.getLogger(__name__)

T = TypeVar("T")

NOT_FOUND = "6"
RATE_LIMITED = "29"
RETRYABLE = {"8", "11", "16", "29", "500", "502", "503", "504"}
# Last.fm counts calls where they arrive, and arrival jitter can squeeze one call more into a
# second than the client granted. A process's calls leave 1 / (0.96 x rate) apart: 3% headroom
# was measured to be too little (6 calls in one second at 5/s over 1,003 calls).
RATE_HEADROOM = 0.96


@dataclass(frozen=True, slots=True)
class SimilarArtist:
    """An artist Last.fm finds similar, with its match (0..1)."""

    name: str
    match: float


@dataclass(frozen=True, slots=True)
class ArtistTags:
    """An artist's top tags, cleaned and classed; `found` is False for Last.fm's error 6."""

    artist: str
    found: bool
    tags: tuple[CleanTag, ...] = ()


@dataclass(frozen=True, slots=True)
class SimilarArtists:
    """The artists similar to one artist, strongest match first."""

    artist: str
    found: bool
    similar: tuple[SimilarArtist, ...] = ()


@dataclass(frozen=True, slots=True)
class ArtistInfo:
    """One artist.getInfo answer: Last.fm's spelling, MusicBrainz id, popularity, and its
    (up to five) tags cleaned, in Last.fm's order."""

    artist: str
    found: bool
    name: str = ""
    mbid: str = ""
    listeners: int = 0
    playcount: int = 0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ArtistCorrection:
    """Last.fm's spelling of a requested artist name (the request itself when uncorrected)."""

    requested: str
    found: bool
    corrected: str = ""

    @property
    def changed(self) -> bool:
        return self.found and self.corrected != self.requested


@dataclass(frozen=True, slots=True)
class TrackTags:
    """A track's own top tags, cleaned (the artist's and the track's names are junk)."""

    artist: str
    track: str
    found: bool
    tags: tuple[CleanTag, ...] = ()


@dataclass(frozen=True, slots=True)
class TopTrack:
    """One of an artist's most played tracks on Last.fm, with its playcount there."""

    name: str
    playcount: int
    mbid: str = ""


@dataclass(frozen=True, slots=True)
class ArtistTopTracks:
    """artist.getTopTracks: the artist's most played tracks, most first; `found` is False for
    Last.fm's error 6 (an artist it knows without tracks is found with none)."""

    artist: str
    found: bool
    tracks: tuple[TopTrack, ...] = ()


@dataclass(frozen=True, slots=True)
class TagArtists:
    """The artists Last.fm ranks first for a tag."""

    tag: str
    found: bool
    artists: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ArtistKnowledge:
    """What enrich stores about one artist; `found` is False for Last.fm's error 6.

    `tags` and `similar` keep the (name, number) pairs the store writes; `clean_tags` adds
    each tag's kind; `info` is there when asked for (listeners and playcount)."""

    name: str
    found: bool
    clean_tags: tuple[CleanTag, ...]
    similar: tuple[tuple[str, float], ...] | None  # None when not asked for
    info: ArtistInfo | None = None

    @property
    def tags(self) -> list[tuple[str, int]]:
        return [(clean.tag, clean.weight) for clean in self.clean_tags]


class LastfmUnavailable(RuntimeError):
    """Last.fm kept failing after the retries; the work is retried later from the bus."""


class LastfmRejected(RuntimeError):
    """Last.fm refused the request itself (bad API key, suspended key): retrying cannot help."""


class _NotFound(Exception):
    pass


_RETRIED = (pylast.WSError, pylast.NetworkError, pylast.MalformedResponseError)


def _is_rate_limited(error: BaseException | None) -> bool:
    return isinstance(error, pylast.WSError) and str(error.status) == RATE_LIMITED


class _LastfmTransport(httpx2.HTTPTransport):
    """One connection pool for the process, with our timeout; plain http for the local server.
    Every HTTP request to Last.fm passes here, so `before_each` (the rate limit and the count)
    sees each one: pylast's own retries and the pages it fetches, not only our calls.

    pylast opens and closes a client per request, which would close a shared pool under the
    feet of the other threads, so closing is a no-op here."""

    def __init__(self, timeout_s: float, plain_http: bool, before_each: Callable[[], None]) -> None:
        super().__init__()
        self.timeout = {
            "connect": min(timeout_s, 5.0),
            "read": timeout_s,
            "write": timeout_s,
            "pool": timeout_s,
        }
        self.plain_http = plain_http
        self.before_each = before_each

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.plain_http:
            request.url = request.url.copy_with(scheme="http")
        request.extensions = {**request.extensions, "timeout": self.timeout}
        self.before_each()
        return super().handle_request(request)

    def close(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


def _text(node: minidom.Element | minidom.Document, name: str) -> str:
    found = node.getElementsByTagName(name)
    first = found[0].firstChild if found else None
    return str(getattr(first, "data", "") or "").strip()


def _child_text(node: minidom.Element, name: str) -> str:
    """The text of `node`'s first direct child called `name` (not of a deeper one)."""
    for child in node.childNodes:
        if getattr(child, "tagName", None) == name:
            return str(getattr(child.firstChild, "data", "") or "").strip()
    return ""


def _count(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        return 0


def call_spacing_s(rate: float) -> float:
    """How far apart one process's calls leave at `rate` a second, with the headroom."""
    return 1.0 / (rate * RATE_HEADROOM)


class LastfmClient:
    """Thread-safe: one rate limit (`limit`, else one for this process at `rate` a second) and
    one backoff pause for every HTTP request of the process; `on_request` is told of each
    request as it leaves (enrich counts them for every replica in Redis)."""

    def __init__(
        self,
        api_key: str,
        api_root: str,
        rate: float,
        retries: int,
        *,
        limit: RateLimit | None = None,
        workers: int = 8,
        timeout_s: float = 20.0,
        backoff_s: float = 0.2,
        rate_limit_backoff_s: float = 2.0,
        on_request: Callable[[], None] | None = None,
    ) -> None:
        parts = urlsplit(api_root)
        self.network = pylast.LastFMNetwork(api_key=api_key)
        self.network.ws_server = (parts.netloc, parts.path or "/2.0/")
        self.network.proxy = {
            f"https://{parts.netloc}": _LastfmTransport(
                timeout_s, parts.scheme == "http", self._before_request
            )
        }
        self.on_request = on_request
        self.rate = rate
        self.limit = limit or process_rate_limit("lastfm", rate, spacing_s=call_spacing_s(rate))
        self.retries = retries
        self.workers = workers
        self.backoff_s = backoff_s
        self.rate_limit_backoff_s = rate_limit_backoff_s
        self._lock = threading.Lock()
        self._calls = 0
        self._paused_until = 0.0

    @property
    def calls(self) -> int:
        """HTTP requests made so far, retries (ours and pylast's) and pages included."""
        with self._lock:
            return self._calls

    def _before_request(self) -> None:
        """Each HTTP request waits out a 29's pause and its turn at the rate limit, and is
        counted as it leaves."""
        self._wait_out_pause()
        self.limit.acquire()
        with self._lock:
            self._calls += 1
        if self.on_request is not None:
            self.on_request()

    def artist_top_tags(self, name: str) -> ArtistTags:
        """artist.getTopTags with autocorrect: weights 0-100, cleaned and classed (see
        domain.tags). Last.fm answers a misspelling ("the beatles", "Beyonce") for the artist it
        corrects it to, in the same call, so the listener's spellings meet Last.fm's."""
        artist = self.network.get_artist(name)
        params = {"artist": name, "autocorrect": 1}
        try:
            doc = self._call(lambda: artist._request("artist.getTopTags", False, params))
        except _NotFound:
            return ArtistTags(name, False)
        raw = [
            (_text(tag, "name"), _count(_text(tag, "count")))
            for tag in doc.getElementsByTagName("tag")
        ]
        corrected = doc.getElementsByTagName("toptags")
        names = {name, corrected[0].getAttribute("artist")} if corrected else {name}
        return ArtistTags(name, True, tuple(clean_tags(raw, names=names - {""})))

    def similar_artists(self, name: str, limit: int = 50) -> SimilarArtists:
        """artist.getSimilar: up to `limit` artists with their match, strongest first."""
        try:
            similar = self._call(lambda: self.network.get_artist(name).get_similar(limit=limit))
        except _NotFound:
            return SimilarArtists(name, False)
        return SimilarArtists(
            name,
            True,
            tuple(SimilarArtist(str(item.item.get_name()), float(item.match)) for item in similar),
        )

    def artist_info(self, name: str) -> ArtistInfo:
        """artist.getInfo in one call (pylast's get_listener_count and get_playcount would each
        make their own): Last.fm's spelling, mbid, listeners, playcount and its five tags."""
        artist = self.network.get_artist(name)
        try:
            doc = self._call(lambda: self._info_document(artist))
        except _NotFound:
            return ArtistInfo(name, False)
        root = doc.getElementsByTagName("artist")[0]
        tags_node = doc.getElementsByTagName("tags")
        tag_names = (
            [_text(tag, "name") for tag in tags_node[0].getElementsByTagName("tag")]
            if tags_node
            else []
        )
        # getInfo's tags have no counts: their rank stands in, so cleaning keeps their order.
        ranked = [(tag, len(tag_names) - rank) for rank, tag in enumerate(tag_names) if tag]
        return ArtistInfo(
            artist=name,
            found=True,
            name=_text(root, "name") or name,
            mbid=_text(root, "mbid"),
            listeners=_count(_text(root, "listeners")),
            playcount=_count(_text(root, "playcount")),
            tags=tuple(clean.tag for clean in clean_artist_tags(name, ranked)),
        )

    @staticmethod
    def _info_document(artist: pylast.Artist) -> minidom.Document:
        # The one artist.getInfo request pylast's info getters share; parsed once above.
        document: minidom.Document = artist._request("artist.getInfo", False)
        return document

    def artist_correction(self, name: str) -> ArtistCorrection:
        """artist.getCorrection: Last.fm's spelling of the name, or the name when it is right."""
        try:
            corrected = self._call(lambda: self.network.get_artist(name).get_correction())
        except _NotFound:
            return ArtistCorrection(name, False)
        return ArtistCorrection(name, True, str(corrected) if corrected else name)

    def track_top_tags(self, artist: str, track: str) -> TrackTags:
        """track.getTopTags: the track's own tags, cleaned and classed."""
        try:
            top = self._call(lambda: self.network.get_track(artist, track).get_top_tags())
        except _NotFound:
            return TrackTags(artist, track, False)
        raw = [(str(item.item.get_name()), _count(str(item.weight))) for item in top]
        return TrackTags(artist, track, True, tuple(clean_tags(raw, names=(artist, track))))

    def artist_top_tracks(self, name: str, limit: int = 10) -> ArtistTopTracks:
        """artist.getTopTracks with autocorrect, one page of `limit` tracks in one call (pylast's
        get_top_tracks pages on its own and retries past the rate limit, so the request is
        made here and its document parsed like pylast does). A track named twice is kept once."""
        artist = self.network.get_artist(name)
        params = {"artist": name, "autocorrect": 1, "limit": limit}
        try:
            doc = self._call(lambda: artist._request("artist.getTopTracks", False, params))
        except _NotFound:
            return ArtistTopTracks(name, False)
        tracks: dict[str, TopTrack] = {}
        for node in doc.getElementsByTagName("track"):
            # the track's own fields, not those of its nested <artist>
            title = _child_text(node, "name")
            if title and title.lower() not in tracks:
                tracks[title.lower()] = TopTrack(
                    title, _count(_child_text(node, "playcount")), _child_text(node, "mbid")
                )
        return ArtistTopTracks(name, True, tuple(tracks.values())[:limit])

    def tag_top_artists(self, tag: str, limit: int = 50) -> TagArtists:
        """tag.getTopArtists: the artists ranked first for the tag (an unknown tag: not found)."""
        try:
            top = self._call(
                lambda: self.network.get_tag(tag).get_top_artists(limit=limit, cacheable=False)
            )
        except _NotFound:
            return TagArtists(tag, False)
        names = tuple(dict.fromkeys(str(item.item.get_name()) for item in top))
        return TagArtists(tag, bool(names), names)

    def artist(
        self, name: str, similar_limit: int | None, *, with_info: bool = False
    ) -> ArtistKnowledge:
        """Top tags (and similar artists when `similar_limit` is set, artist.getInfo when
        `with_info`) of one artist; an artist Last.fm does not know costs one call."""
        tags = self.artist_top_tags(name)
        if not tags.found:
            return ArtistKnowledge(name, False, (), None)
        similar = None
        if similar_limit:
            found = self.similar_artists(name, similar_limit)
            similar = tuple((artist.name, artist.match) for artist in found.similar)
        info = self.artist_info(name) if with_info else None
        return ArtistKnowledge(name, True, tags.tags, similar, info)

    def artists(
        self, names: Sequence[str], similar_limit: int | None, *, with_info: bool = False
    ) -> list[ArtistKnowledge]:
        """`artist` for many artists on the client's thread pool, in the order given; the
        shared rate limit keeps the whole pool (and every replica) at the key's rate."""
        with ThreadPoolExecutor(self.workers, thread_name_prefix="lastfm") as pool:
            return list(
                pool.map(lambda name: self.artist(name, similar_limit, with_info=with_info), names)
            )

    def _call(self, request: Callable[[], T]) -> T:
        """One Last.fm call (its HTTP requests each at the rate limit): error 6 raises
        _NotFound at once, 29 pauses every thread, 8/11/16/5xx, timeouts and garbled answers
        are retried with backoff."""

        def attempt() -> T:
            try:
                return request()
            except pylast.WSError as exc:
                status = str(exc.status)
                if status == NOT_FOUND:
                    raise _NotFound from exc
                if status not in RETRYABLE:
                    hint = "; check LASTFM_API_KEY" if status in {"10", "26"} else ""
                    raise LastfmRejected(f"Last.fm refused the request: {exc}{hint}") from exc
                raise

        failures = jittered_backoff(self.backoff_s)
        rate_limited = jittered_backoff(self.rate_limit_backoff_s)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            return float((rate_limited if _is_rate_limited(error) else failures)(state))

        def pause_everyone(error: BaseException, wait_s: float) -> None:
            # Last.fm's 29 is about the key, not this call: every thread waits it out.
            if _is_rate_limited(error):
                self._pause(wait_s)

        policy = retrying(
            retry_on=lambda error: isinstance(error, _RETRIED),
            attempts=self.retries + 1,
            wait=wait,
            what="Last.fm",
            on_retry=pause_everyone,
        )
        try:
            return policy(attempt)
        except _RETRIED as exc:
            raise LastfmUnavailable(
                f"Last.fm failed {policy.statistics['attempt_number']} times, last with: {exc}"
            ) from exc

    def _pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _wait_out_pause(self) -> None:
        with self._lock:
            wait = self._paused_until - time.monotonic()
        if wait > 0:
            time.sleep(wait)
