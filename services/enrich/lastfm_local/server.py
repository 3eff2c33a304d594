"""A local HTTP server that answers like ws.audioscrobbler.com/2.0/ from a ``Catalog``.

XML (pylast's format) and ``format=json`` bodies follow recorded Last.fm responses; call
counting (``/_stats``, ``/_reset``) and fault injection (``/_faults``) exist for tests.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

from services.enrich.lastfm_local.catalog import (
    Catalog,
    CatalogArtist,
    CatalogTrack,
    TagWeight,
)

logger = logging.getLogger(__name__)

ERROR_INVALID_METHOD = 3
ERROR_INVALID_PARAMETERS = 6
ERROR_OPERATION_FAILED = 8
ERROR_INVALID_API_KEY = 10
ERROR_RATE_LIMIT = 29
HTTP_500_FAULT = 500

ERROR_MESSAGES = {
    ERROR_INVALID_METHOD: "Invalid Method - No method with that name in this package",
    ERROR_OPERATION_FAILED: "Operation failed - Most likely the backend service failed. "
    "Please try again.",
    ERROR_INVALID_API_KEY: "Invalid API key - You must be granted a valid key by last.fm",
    ERROR_RATE_LIMIT: "Rate Limit Exceeded - Your IP has made too many requests in a short "
    "period, exceeding our API guidelines",
}
# Last.fm answers its error bodies with these HTTP statuses (not-found is a 400 there too).
ERROR_HTTP_STATUS = {
    ERROR_INVALID_METHOD: HTTPStatus.BAD_REQUEST,
    ERROR_INVALID_PARAMETERS: HTTPStatus.BAD_REQUEST,
    ERROR_OPERATION_FAILED: HTTPStatus.BAD_REQUEST,
    ERROR_INVALID_API_KEY: HTTPStatus.FORBIDDEN,
    ERROR_RATE_LIMIT: HTTPStatus.TOO_MANY_REQUESTS,
}
ARTIST_NOT_FOUND = "The artist you supplied could not be found"
TRACK_NOT_FOUND = "Track not found"
TAG_NOT_FOUND = "The tag you supplied could not be found"
ARTIST_MISSING = "You must supply either an artist name or a musicbrainz id."
TRACK_MISSING = "You must supply a track name"
TAG_MISSING = "Invalid parameters - Your request is missing a required parameter"
FAULT_KINDS = (ERROR_RATE_LIMIT, ERROR_OPERATION_FAILED, HTTP_500_FAULT)
IMAGE_SIZES = ("small", "medium", "large", "extralarge", "mega")
API_PATHS = ("/2.0/", "/2.0")


class LastfmError(Exception):
    """A Last.fm API error answered with Last.fm's error body."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message or ERROR_MESSAGES.get(code, "Invalid parameters"))
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, "Invalid parameters")


@dataclass(frozen=True, slots=True)
class LastfmReply:
    """One answer in both of Last.fm's formats: the XML ``<lfm>`` child and the JSON body."""

    xml: ET.Element
    json: dict[str, Any]


@dataclass(slots=True)
class FaultPlan:
    """Faults the server injects: a delay before every call, the next N calls failing, and
    Last.fm's own rate limit (error 29 for a call beyond ``max_rate`` in the trailing second;
    0 = no limit).

    ``fail_with`` is a Last.fm error code (29 rate limit, 8 operation failed) or 500 for a
    bare HTTP 500.
    """

    delay_s: float = 0.0
    fail_next: int = 0
    fail_with: int = ERROR_RATE_LIMIT
    max_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.fail_with not in FAULT_KINDS:
            msg = f"fail_with must be one of {FAULT_KINDS}, got {self.fail_with}"
            raise ValueError(msg)
        if self.delay_s < 0 or self.fail_next < 0 or self.max_rate < 0:
            msg = "delay_s, fail_next and max_rate must not be negative"
            raise ValueError(msg)


def artist_url(name: str) -> str:
    """The artist's page on last.fm, as Last.fm spells it in responses."""
    return f"https://www.last.fm/music/{quote_plus(name)}"


def track_url(artist: str, track: str) -> str:
    """The track's page on last.fm."""
    return f"{artist_url(artist)}/_/{quote_plus(track)}"


def track_counts(artist: CatalogArtist, rank: int) -> tuple[int, int]:
    """A top track's (playcount, listeners): the catalog has no per-track counts, so the
    artist's are shared out falling with the rank, as Last.fm's top tracks fall."""
    return max(1, artist.playcount * 3 // (10 * rank)), max(
        1, int(artist.listeners * 0.6 / rank**0.5)
    )


def tag_url(tag: str) -> str:
    """The tag's page on last.fm."""
    return f"https://www.last.fm/tag/{quote_plus(tag)}"


def _match_text(match: float) -> str:
    return format(match, "g")


def _sub(parent: ET.Element, tag: str, text: str | int | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = str(text)
    return element


def _xml_images(parent: ET.Element) -> None:
    for size in IMAGE_SIZES:
        _sub(parent, "image", "", size=size)


def _json_images() -> list[dict[str, str]]:
    return [{"#text": "", "size": size} for size in IMAGE_SIZES]


def _tag_list_reply(attrs: dict[str, str], tags: tuple[TagWeight, ...]) -> LastfmReply:
    root = ET.Element("toptags", attrs)
    for tag, weight in tags:
        element = _sub(root, "tag")
        _sub(element, "name", tag)
        _sub(element, "count", weight)
        _sub(element, "url", tag_url(tag))
    body = {
        "toptags": {
            "tag": [{"count": w, "name": t, "url": tag_url(t)} for t, w in tags],
            "@attr": attrs,
        }
    }
    return LastfmReply(root, body)


def _int_param(params: dict[str, str], name: str, default: int, maximum: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise LastfmError(
            ERROR_INVALID_PARAMETERS, f"Invalid parameters - {name} must be a number"
        ) from error
    return max(1, min(value, maximum))


class LastfmApi:
    """The Last.fm methods the project uses, answered from a catalog (no HTTP here)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.methods: dict[str, Callable[[dict[str, str]], LastfmReply]] = {
            "artist.gettoptags": self.artist_top_tags,
            "artist.getsimilar": self.artist_similar,
            "artist.getinfo": self.artist_info,
            "artist.getcorrection": self.artist_correction,
            "artist.gettoptracks": self.artist_top_tracks,
            "track.gettoptags": self.track_top_tags,
            "tag.gettopartists": self.tag_top_artists,
        }

    def call(self, method: str, params: dict[str, str]) -> LastfmReply:
        """Answer one API method (names are case-insensitive, as on Last.fm)."""
        handler = self.methods.get(method.lower())
        if handler is None:
            raise LastfmError(ERROR_INVALID_METHOD)
        return handler(params)

    def _artist(self, params: dict[str, str]) -> CatalogArtist:
        name = params.get("artist", "").strip()
        mbid = params.get("mbid", "").strip()
        autocorrect = params.get("autocorrect", "0").strip() == "1"
        if mbid:
            found = self.catalog.artist_by_mbid(mbid)
            if found is not None:
                return found
        if not name and not mbid:
            raise LastfmError(ERROR_INVALID_PARAMETERS, ARTIST_MISSING)
        found = self.catalog.artist(name, autocorrect=autocorrect) if name else None
        if found is None:
            raise LastfmError(ERROR_INVALID_PARAMETERS, ARTIST_NOT_FOUND)
        return found

    def _track(self, params: dict[str, str]) -> tuple[CatalogArtist, CatalogTrack]:
        artist = self._artist(params)
        name = params.get("track", "").strip()
        if not name:
            raise LastfmError(ERROR_INVALID_PARAMETERS, TRACK_MISSING)
        track = artist.track(name)
        if track is None:
            raise LastfmError(ERROR_INVALID_PARAMETERS, TRACK_NOT_FOUND)
        return artist, track

    def artist_top_tags(self, params: dict[str, str]) -> LastfmReply:
        """artist.getTopTags: the artist's tags with counts (top = 100)."""
        artist = self._artist(params)
        return _tag_list_reply({"artist": artist.name}, artist.top_tags)

    def artist_similar(self, params: dict[str, str]) -> LastfmReply:
        """artist.getSimilar: similar artists with their match, honouring ``limit``."""
        artist = self._artist(params)
        limit = _int_param(params, "limit", 100, 1000)
        similar = artist.similar_artists[:limit]
        root = ET.Element("similarartists", {"artist": artist.name})
        body_artists = []
        for name, match in similar:
            mbid = self._mbid_of(name)
            element = _sub(root, "artist")
            _sub(element, "name", name)
            _sub(element, "mbid", mbid)
            _sub(element, "match", _match_text(match))
            _sub(element, "url", artist_url(name))
            _xml_images(element)
            _sub(element, "streamable", "0")
            body_artists.append(
                {
                    "name": name,
                    "mbid": mbid,
                    "match": _match_text(match),
                    "url": artist_url(name),
                    "image": _json_images(),
                    "streamable": "0",
                }
            )
        body = {"similarartists": {"artist": body_artists, "@attr": {"artist": artist.name}}}
        return LastfmReply(root, body)

    def _mbid_of(self, name: str) -> str:
        known = self.catalog.artist(name)
        return known.mbid if known is not None else ""

    def artist_info(self, params: dict[str, str]) -> LastfmReply:
        """artist.getInfo: name, mbid, stats, five similar artists, five tags, a short bio."""
        artist = self._artist(params)
        similar = artist.similar_artists[:5]
        tags = artist.top_tags[:5]
        summary = (
            f"{artist.name} has {artist.listeners} listeners in the local catalog."
            if artist.listeners
            else ""
        )
        root = ET.Element("artist")
        _sub(root, "name", artist.name)
        _sub(root, "mbid", artist.mbid)
        _sub(root, "url", artist_url(artist.name))
        _xml_images(root)
        _sub(root, "streamable", "0")
        _sub(root, "ontour", "0")
        stats = _sub(root, "stats")
        _sub(stats, "listeners", artist.listeners)
        _sub(stats, "playcount", artist.playcount)
        similar_element = _sub(root, "similar")
        for name, _match in similar:
            element = _sub(similar_element, "artist")
            _sub(element, "name", name)
            _sub(element, "url", artist_url(name))
            _xml_images(element)
        tags_element = _sub(root, "tags")
        for tag, _weight in tags:
            element = _sub(tags_element, "tag")
            _sub(element, "name", tag)
            _sub(element, "url", tag_url(tag))
        bio = _sub(root, "bio")
        links = _sub(bio, "links")
        _sub(links, "link", "", rel="original", href=artist_url(artist.name) + "/+wiki")
        _sub(bio, "published", "01 Jan 2011, 00:00")
        _sub(bio, "summary", summary)
        _sub(bio, "content", summary)
        body = {
            "artist": {
                "name": artist.name,
                "mbid": artist.mbid,
                "url": artist_url(artist.name),
                "image": _json_images(),
                "streamable": "0",
                "ontour": "0",
                "stats": {"listeners": str(artist.listeners), "playcount": str(artist.playcount)},
                "similar": {
                    "artist": [
                        {"name": n, "url": artist_url(n), "image": _json_images()}
                        for n, _m in similar
                    ]
                },
                "tags": {"tag": [{"name": t, "url": tag_url(t)} for t, _w in tags]},
                "bio": {
                    "links": {
                        "link": {
                            "#text": "",
                            "rel": "original",
                            "href": artist_url(artist.name) + "/+wiki",
                        }
                    },
                    "published": "01 Jan 2011, 00:00",
                    "summary": summary,
                    "content": summary,
                },
            }
        }
        return LastfmReply(root, body)

    def artist_correction(self, params: dict[str, str]) -> LastfmReply:
        """artist.getCorrection: the catalog's spelling of the artist (spelling forgiven)."""
        artist = self._artist({**params, "autocorrect": "1"})
        root = ET.Element("corrections")
        correction = _sub(root, "correction", index="0")
        element = _sub(correction, "artist")
        _sub(element, "name", artist.name)
        _sub(element, "mbid", artist.mbid)
        _sub(element, "url", artist_url(artist.name))
        body = {
            "corrections": {
                "correction": {
                    "artist": {
                        "name": artist.name,
                        "mbid": artist.mbid,
                        "url": artist_url(artist.name),
                    },
                    "@attr": {"index": "0"},
                }
            }
        }
        return LastfmReply(root, body)

    def artist_top_tracks(self, params: dict[str, str]) -> LastfmReply:
        """artist.getTopTracks: the artist's tracks, most played first, paged with ``limit``
        and ``page`` (an artist without tracks answers an empty page, as Last.fm does)."""
        artist = self._artist(params)
        tracks = self.catalog.top_tracks(artist)
        limit = _int_param(params, "limit", 50, 1000)
        page = _int_param(params, "page", 1, 1_000_000)
        first = (page - 1) * limit
        page_attrs = {
            "artist": artist.name,
            "page": str(page),
            "perPage": str(limit),
            "totalPages": str(-(-len(tracks) // limit)),
            "total": str(len(tracks)),
        }
        root = ET.Element("toptracks", page_attrs)
        body_tracks = []
        for rank, track in enumerate(tracks[first : first + limit], start=first + 1):
            playcount, listeners = track_counts(artist, rank)
            url = track_url(artist.name, track.name)
            element = _sub(root, "track", rank=str(rank))
            _sub(element, "name", track.name)
            _sub(element, "duration", track.duration_ms // 1000)
            _sub(element, "playcount", playcount)
            _sub(element, "listeners", listeners)
            _sub(element, "mbid", "")
            _sub(element, "url", url)
            _sub(element, "streamable", "0", fulltrack="0")
            by = _sub(element, "artist")
            _sub(by, "name", artist.name)
            _sub(by, "mbid", artist.mbid)
            _sub(by, "url", artist_url(artist.name))
            _xml_images(element)
            body_tracks.append(
                {
                    "name": track.name,
                    "playcount": str(playcount),
                    "listeners": str(listeners),
                    "mbid": "",
                    "url": url,
                    "streamable": "0",
                    "artist": {
                        "name": artist.name,
                        "mbid": artist.mbid,
                        "url": artist_url(artist.name),
                    },
                    "image": _json_images(),
                    "@attr": {"rank": str(rank)},
                }
            )
        body = {"toptracks": {"track": body_tracks, "@attr": page_attrs}}
        return LastfmReply(root, body)

    def track_top_tags(self, params: dict[str, str]) -> LastfmReply:
        """track.getTopTags: the track's own tags (an unknown track is Last.fm's 6)."""
        artist, track = self._track(params)
        return _tag_list_reply({"artist": artist.name, "track": track.name}, track.tags)

    def tag_top_artists(self, params: dict[str, str]) -> LastfmReply:
        """tag.getTopArtists: artists carrying the tag, paged with ``limit`` and ``page``."""
        requested = params.get("tag", "").strip()
        if not requested:
            raise LastfmError(ERROR_INVALID_PARAMETERS, TAG_MISSING)
        tag = self.catalog.tag_name(requested)
        if tag is None:
            raise LastfmError(ERROR_INVALID_PARAMETERS, TAG_NOT_FOUND)
        carriers = self.catalog.top_artists_for_tag(tag)
        limit = _int_param(params, "limit", 50, 1000)
        page = _int_param(params, "page", 1, 1_000_000)
        total_pages = max(1, -(-len(carriers) // limit))
        first = (page - 1) * limit
        page_attrs = {
            "tag": tag,
            "page": str(page),
            "perPage": str(limit),
            "totalPages": str(total_pages),
            "total": str(len(carriers)),
        }
        root = ET.Element("topartists", page_attrs)
        body_artists = []
        for rank, carrier in enumerate(carriers[first : first + limit], start=first + 1):
            artist = carrier.artist
            element = _sub(root, "artist", rank=str(rank))
            _sub(element, "name", artist.name)
            _sub(element, "mbid", artist.mbid)
            _sub(element, "url", artist_url(artist.name))
            _sub(element, "streamable", "0")
            _xml_images(element)
            body_artists.append(
                {
                    "name": artist.name,
                    "mbid": artist.mbid,
                    "url": artist_url(artist.name),
                    "streamable": "0",
                    "image": _json_images(),
                    "@attr": {"rank": str(rank)},
                }
            )
        body = {"topartists": {"artist": body_artists, "@attr": page_attrs}}
        return LastfmReply(root, body)


def render_xml(reply: LastfmReply) -> bytes:
    """The ``<lfm status="ok">`` document Last.fm sends for a reply."""
    lfm = ET.Element("lfm", {"status": "ok"})
    lfm.append(reply.xml)
    return _xml_document(lfm)


def render_error_xml(error: LastfmError) -> bytes:
    """Last.fm's failed document: ``<lfm status="failed"><error code="N">message</error>``."""
    lfm = ET.Element("lfm", {"status": "failed"})
    _sub(lfm, "error", error.message, code=str(error.code))
    return _xml_document(lfm)


def render_error_json(error: LastfmError) -> bytes:
    """Last.fm's JSON error body."""
    return json.dumps({"error": error.code, "message": error.message, "links": []}).encode()


def _xml_document(lfm: ET.Element) -> bytes:
    ET.indent(lfm, space="  ")
    body = ET.tostring(lfm, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'.encode()


class LocalLastfmServer:
    """A running local Last.fm server: ``.url`` for clients, ``.stop()`` or ``with`` to end it."""

    def __init__(
        self,
        catalog: Catalog,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        self.api = LastfmApi(catalog)
        self.faults = faults or FaultPlan()
        self._lock = threading.Lock()
        self._calls_per_method: Counter[str] = Counter()
        self._faults_served: Counter[str] = Counter()
        self._requests: Counter[tuple[str, ...]] = Counter()
        self._recent: deque[float] = deque()
        self._total_calls = 0
        self._http = ThreadingHTTPServer((host, port), _handler_class(self))
        self._http.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return str(self._http.server_address[0])

    @property
    def port(self) -> int:
        """The bound TCP port (the real one when started with port 0)."""
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        """The API root, like ``https://ws.audioscrobbler.com/2.0/``."""
        return f"http://{self.host}:{self.port}/2.0/"

    def start(self) -> LocalLastfmServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="lastfm-local", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop`` is called from another one."""
        self._http.serve_forever()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._http.shutdown()
        self._http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalLastfmServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """Calls since the last reset: total, per method, faults injected, and repeats (a
        request for the same method and names as an earlier one that was answered)."""
        with self._lock:
            repeats = {key: count - 1 for key, count in self._requests.items() if count > 1}
            return {
                "total_calls": self._total_calls,
                "calls_per_method": dict(self._calls_per_method),
                "faults_served": dict(self._faults_served),
                "repeated_calls": sum(repeats.values()),
                "repeated_examples": [
                    [*key, count]
                    for key, count in sorted(repeats.items(), key=lambda kv: -kv[1])[:20]
                ],
            }

    def reset(self) -> None:
        """Zero the counters and clear injected faults."""
        with self._lock:
            self._total_calls = 0
            self._calls_per_method.clear()
            self._faults_served.clear()
            self._requests.clear()
            self._recent.clear()
            self.faults = FaultPlan()

    def set_faults(self, faults: FaultPlan) -> None:
        """Replace the fault plan (delay and the next N failing calls)."""
        with self._lock:
            self.faults = faults

    def _record_call(self, method: str, names: tuple[str, ...] = ()) -> tuple[float, int | None]:
        """Count one API call (`names`: its artist, track or tag, for the repeat count);
        returns the delay to apply and the fault to answer, if any."""
        with self._lock:
            now = time.monotonic()
            self._total_calls += 1
            self._calls_per_method[method] += 1
            fault = None
            if self.faults.fail_next > 0:
                self.faults.fail_next -= 1
                fault = self.faults.fail_with
            elif self.faults.max_rate > 0:
                while self._recent and self._recent[0] <= now - 1.0:
                    self._recent.popleft()
                if len(self._recent) >= self.faults.max_rate:
                    fault = ERROR_RATE_LIMIT
                else:
                    self._recent.append(now)
            if fault is None:
                self._requests[(method, *names)] += 1
            else:
                self._faults_served[str(fault)] += 1
            return self.faults.delay_s, fault


def _handler_class(server: LocalLastfmServer) -> type[BaseHTTPRequestHandler]:
    class LastfmRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lastfm-local/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s " + format, self.client_address[0], *args)

        def do_GET(self) -> None:
            self._dispatch(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._dispatch(self.rfile.read(length) if length else b"")

        def _dispatch(self, body: bytes) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/_stats":
                self._send(HTTPStatus.OK, "application/json", json.dumps(server.stats()).encode())
            elif parts.path == "/_reset":
                server.reset()
                self._send(HTTPStatus.OK, "application/json", b'{"reset": true}')
            elif parts.path == "/_faults" and self.command == "POST":
                self._set_faults(body)
            elif parts.path in API_PATHS:
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                self._answer_api(params)
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

        def _set_faults(self, body: bytes) -> None:
            try:
                plan = FaultPlan(**json.loads(body or b"{}"))
            except (TypeError, ValueError) as error:
                message = json.dumps({"error": str(error)}).encode()
                self._send(HTTPStatus.BAD_REQUEST, "application/json", message)
                return
            server.set_faults(plan)
            self._send(HTTPStatus.OK, "application/json", json.dumps(asdict(plan)).encode())

        def _answer_api(self, params: dict[str, str]) -> None:
            as_json = params.get("format", "").lower() == "json"
            method = params.get("method", "")
            names = tuple(
                params.get(name, "").strip().casefold() for name in ("artist", "track", "tag")
            )
            delay_s, fault = server._record_call(method.lower(), names)
            if delay_s:
                time.sleep(delay_s)
            try:
                if fault == HTTP_500_FAULT:
                    self._send(HTTPStatus.INTERNAL_SERVER_ERROR, "text/html", b"<h1>500</h1>")
                    return
                if fault is not None:
                    raise LastfmError(fault)
                if not params.get("api_key", "").strip():
                    raise LastfmError(ERROR_INVALID_API_KEY)
                reply = server.api.call(method, params)
            except LastfmError as error:
                status = ERROR_HTTP_STATUS.get(error.code, HTTPStatus.BAD_REQUEST)
                if as_json:
                    self._send(status, "application/json", render_error_json(error))
                else:
                    self._send(status, "text/xml; charset=utf-8", render_error_xml(error))
                return
            if as_json:
                body = json.dumps(reply.json, ensure_ascii=False).encode()
                self._send(HTTPStatus.OK, "application/json", body)
            else:
                self._send(HTTPStatus.OK, "text/xml; charset=utf-8", render_xml(reply))

        def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(body)

    return LastfmRequestHandler


def start_lastfm_server(
    catalog: Catalog,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: FaultPlan | None = None,
) -> LocalLastfmServer:
    """Start a local Last.fm server in a background thread (port 0 picks a free port)."""
    return LocalLastfmServer(catalog, host=host, port=port, faults=faults).start()
