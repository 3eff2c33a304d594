"""The web app's entry layer: routes that turn a request into gateway calls with the
session's API key, and the process that serves them (HTTP by uvicorn; gRPC health on
GRPC_PORT like every service, SERVING while Redis answers and the gateway is reachable;
Prometheus on METRICS_PORT).

Every page needs a session except sign-in. No session cookie: the browser is sent to sign in.
A cookie that names no session (expired, signed out, altered): a 401 page that says so. Every
POST carries the session's CSRF token in its form (sign-in: a token in its own cookie, the
double-submit pattern); a missing or wrong one is a 403 page. A gateway error is a page that
says what happened in words (its code decides the status), never a stack trace; a key the
gateway no longer accepts ends the session. The API key travels only in the sign-in form's
body and in gRPC metadata; request lines are logged by route, sign-in tokens and import ids
replaced by their names, without query strings."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import uvicorn
from grpc_health.v1 import health_pb2, health_pb2_grpc
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CollectorRegistry, Histogram, start_http_server
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from fullcircle.client import FullCircleClient
from fullcircle.grpc_server import GrpcServer, tls_from_files
from fullcircle.logs import configure_logging
from fullcircle.v1 import common_pb2, gateway_pb2
from services.web import charts
from services.web.adapters.sessions import Session, SessionStore
from services.web.domain import views
from services.web.settings import WebSettings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "fc_session"
SIGNIN_CSRF_COOKIE = "fc_signin_csrf"
FEEDBACK = {
    "like": common_pb2.FEEDBACK_KIND_LIKE,
    "dislike": common_pb2.FEEDBACK_KIND_DISLIKE,
    "hide": common_pb2.FEEDBACK_KIND_DO_NOT_RECOMMEND,
}
PLAYLIST_EXPORTS = {
    "spotify": gateway_pb2.PLAYLIST_FORMAT_SPOTIFY,
    "m3u8": gateway_pb2.PLAYLIST_FORMAT_FILE_M3U8,
    "xspf": gateway_pb2.PLAYLIST_FORMAT_FILE_XSPF,
    "jspf": gateway_pb2.PLAYLIST_FORMAT_FILE_JSPF,
}
EXPORT_DEADLINE_S = 300.0  # writing to Spotify waits out its rate limits
# gRPC code -> (HTTP status, what the listener reads)
GATEWAY_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "That was not accepted"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "Not possible yet"),
    grpc.StatusCode.NOT_FOUND: (404, "Not found"),
    grpc.StatusCode.PERMISSION_DENIED: (404, "Not found"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "Too many requests"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "Already there"),
    grpc.StatusCode.UNAVAILABLE: (503, "Full-Circle is not answering"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "Full-Circle took too long"),
}


class PageError(Exception):
    """Ends a request with an error page: status, title, and a sentence for the listener."""

    def __init__(self, status: int, title: str, message: str, sign_in: bool = False) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.sign_in = status, title, message, sign_in


class Web:
    """The routes, over one shared gateway channel and the session store."""

    def __init__(
        self, settings: WebSettings, store: SessionStore, channel: grpc.aio.Channel
    ) -> None:
        self.settings, self.store, self.channel = settings, store, channel
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            enable_async=False,
        )

    # --- plumbing -------------------------------------------------------------------------

    def client(self, session: Session) -> FullCircleClient:
        return FullCircleClient(
            self.settings.gateway_address, session.api_key, channel=self.channel
        )

    def page(
        self,
        template: str,
        request: Request,
        session: Session | None,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            request=request,
            path=request.url.path,
            csrf=session.csrf if session else "",
            signed_in=session is not None,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def error_page(self, request: Request, error: PageError) -> HTMLResponse:
        response = self.page(
            "error.html",
            request,
            None,
            status=error.status,
            title=error.title,
            message=error.message,
            sign_in=error.sign_in,
        )
        if error.sign_in:
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def session(self, request: Request) -> Session:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise HTTPException(303, headers={"Location": "/signin"})
        session = await self.store.get(token)
        if session is None:
            raise PageError(
                401,
                "Signed out",
                "Your session has ended (it expired, you signed out, or the cookie was not "
                "one this app gave). Sign in again.",
                sign_in=True,
            )
        return session

    async def checked_form(self, request: Request, session: Session) -> Any:
        """The POSTed form, once its CSRF token is the session's."""
        form = await request.form(max_part_size=1024 * 1024)
        given = form.get("csrf")
        if not isinstance(given, str) or not hmac.compare_digest(given, session.csrf):
            raise PageError(
                403,
                "Form expired",
                "This form was not sent by this page (its security token is missing or "
                "wrong). Go back, reload the page and try again.",
            )
        return form

    async def call(self, session: Session, rpc: Callable[[], Awaitable[Any]]) -> Any:
        """A gateway call turned into a page error when it fails."""
        try:
            return await rpc()
        except grpc.aio.AioRpcError as exc:
            raise await self.gateway_error(session, exc) from None

    async def call_or_none(self, session: Session, rpc: Callable[[], Awaitable[Any]]) -> Any:
        """As `call`, but None where the gateway has nothing yet (NOT_FOUND: no history
        imported, no set made): the page then says what to do."""
        try:
            return await rpc()
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise await self.gateway_error(session, exc) from None

    async def gateway_error(self, session: Session, exc: grpc.aio.AioRpcError) -> PageError:
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            await self.store.delete(session.token)
            return PageError(
                401,
                "Signed out",
                "Your API key is no longer accepted (it was revoked). Sign in with a new one.",
                sign_in=True,
            )
        status, title = GATEWAY_ERRORS.get(exc.code(), (502, "Something went wrong"))
        log.warning("gateway answered %s: %s", exc.code().name, exc.details())
        return PageError(status, title, exc.details() or title)

    def set_session_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            max_age=self.settings.session_ttl_s,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.settings.cookie_secure,
        )

    # --- sign-in --------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return RedirectResponse("/now", 303)

    async def health(self, request: Request) -> Response:
        healthy = await self.healthy()
        return PlainTextResponse("ok" if healthy else "not serving", 200 if healthy else 503)

    async def healthy(self) -> bool:
        """Redis answers and the gateway is reachable. The gateway's own health is not ours:
        while it reports NOT_SERVING (its model down) pages still sign in and explain."""
        try:
            redis_ok = bool(await asyncio.wait_for(self.store.redis.ping(), 2.0))
        except Exception:
            redis_ok = False
        if not redis_ok:
            return False
        try:
            await health_pb2_grpc.HealthStub(self.channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2.0
            )
        except grpc.aio.AioRpcError:
            return False
        return True

    async def signin_form(self, request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.page("signin.html", request, None, title="Sign in", signin_csrf=token)
        response.set_cookie(
            SIGNIN_CSRF_COOKIE, token, path="/signin", httponly=True, samesite="strict",
            secure=self.settings.cookie_secure,
        )  # fmt: skip
        return response

    async def signin(self, request: Request) -> Response:
        form = await request.form(max_part_size=64 * 1024)
        cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
        given = form.get("csrf")
        if not cookie or not isinstance(given, str) or not hmac.compare_digest(given, cookie):
            raise PageError(
                403,
                "Form expired",
                "The sign-in form was not sent by this app's page. Open the sign-in page "
                "again and send it from there.",
            )
        api_key = form.get("api_key")
        if not isinstance(api_key, str) or not api_key.strip():
            raise PageError(400, "No API key", "Paste your API key into the box.")
        return await self.start_session(request, api_key.strip())

    async def start_session(self, request: Request, api_key: str) -> Response:
        """Check the key with the gateway, then a fresh session for it (never an old one)."""
        probe = FullCircleClient(self.settings.gateway_address, api_key, channel=self.channel)
        try:
            await probe.steering()
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise PageError(
                    401,
                    "Key not accepted",
                    "That API key is not one Full-Circle knows (or it was revoked). Check it "
                    "and try again; `fullcircle user key NAME` makes a new one.",
                ) from None
            status, title = GATEWAY_ERRORS.get(exc.code(), (502, "Something went wrong"))
            raise PageError(status, title, exc.details() or title) from None
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            await self.store.delete(old)
        session = await self.store.create(api_key)
        response = RedirectResponse("/now", 303)
        self.set_session_cookie(response, session)
        response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
        return response

    async def signin_link(self, request: Request) -> Response:
        api_key = await self.store.redeem_link(request.path_params["token"])
        if api_key is None:
            raise PageError(
                400,
                "Link used or expired",
                "This sign-in link was already used or has expired (links work once, for "
                "ten minutes). Sign in with your API key, or ask for a new link.",
            )
        return await self.start_session(request, api_key)

    async def signout(self, request: Request) -> Response:
        session = await self.session(request)
        await self.checked_form(request, session)
        await self.store.delete(session.token)
        response = RedirectResponse("/signin", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- Now ------------------------------------------------------------------------------

    def recs_fragment(self, request: Request, session: Session, rec_set: Any) -> str:
        return self.templates.get_template("_recs.html").render(
            cards=[views.card(item) for item in rec_set.items],
            rec_set=rec_set,
            csrf=session.csrf,
        )

    async def current_set(
        self,
        session: Session,
        mode: common_pb2.RecommendationMode = common_pb2.RECOMMENDATION_MODE_DISCOVERY,
    ) -> common_pb2.RecommendationSet:
        """The listener's 20 current recommendations (none before their first set)."""
        client = self.client(session)
        rec_set = await self.call_or_none(session, lambda: client.recommendations(20, mode=mode))
        return rec_set or common_pb2.RecommendationSet()

    async def now(self, request: Request) -> Response:
        session = await self.session(request)
        rec_set = await self.current_set(session)
        return self.page(
            "now.html",
            request,
            session,
            title="Now",
            recs=self.recs_fragment(request, session, rec_set),
            set_id=rec_set.set_id,
        )

    async def feedback(self, request: Request) -> Response:
        session = await self.session(request)
        form = await self.checked_form(request, session)
        artist, kind = form.get("artist"), FEEDBACK.get(str(form.get("kind")))
        if not isinstance(artist, str) or not artist or kind is None:
            raise PageError(400, "Not understood", "Choose like, dislike or hide on an artist.")
        client = self.client(session)
        await self.call(session, lambda: client.feedback(artist, kind))
        if request.headers.get("x-requested-with") != "fetch":
            return RedirectResponse("/now", 303)
        rec_set = await self.current_set(session)
        return HTMLResponse(self.recs_fragment(request, session, rec_set))

    async def now_events(self, request: Request) -> Response:
        """Server-sent events: each new set as its rendered list (the browser swaps it in);
        the browser's EventSource reconnects with Last-Event-ID, which resumes the stream."""
        session = await self.session(request)
        client = self.client(session)
        last = request.headers.get("last-event-id", "")[:64]

        async def events() -> AsyncIterator[str]:
            yield "retry: 3000\n\n"
            try:
                stream = client.subscribe(last, self.settings.subscribe_deadline_s)
                async for event in stream:
                    data = json.dumps(
                        {
                            "set_id": event.set.set_id,
                            "html": self.recs_fragment(request, session, event.set),
                        }
                    )
                    yield f"id: {event.event_id}\nevent: set\ndata: {data}\n\n"
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                    await self.store.delete(session.token)
                    yield "event: signed-out\ndata: {}\n\n"
                elif exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                    log.warning("live updates ended: %s", exc.code().name)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    # --- Rediscover -----------------------------------------------------------------------

    async def rediscover(self, request: Request) -> Response:
        session = await self.session(request)
        rec_set = await self.current_set(session, common_pb2.RECOMMENDATION_MODE_REDISCOVERY)
        return self.page(
            "rediscover.html",
            request,
            session,
            title="Rediscover",
            cards=[views.card(item) for item in rec_set.items],
        )

    # --- Your taste -----------------------------------------------------------------------

    async def taste(self, request: Request) -> Response:
        session = await self.session(request)
        profile = await self.call_or_none(session, lambda: self.client(session).taste_profile())
        profile = profile or common_pb2.TasteProfile()
        names = views.taste_names(profile)
        evolution = views.evolution_rows(profile)
        clock = views.clock_rows(profile)
        evolution_svg, clock_svg = await asyncio.gather(
            asyncio.to_thread(charts.evolution_svg, evolution) if evolution else _none(),
            asyncio.to_thread(charts.clock_svg, clock) if clock else _none(),
        )
        return self.page(
            "taste.html",
            request,
            session,
            title="Your taste",
            profile=profile,
            names=names,
            clusters=sorted(profile.clusters, key=lambda c: -c.all_time_share),
            contexts=views.contexts_by_kind(profile),
            evolution_svg=evolution_svg,
            clock_svg=clock_svg,
        )

    # --- Import ---------------------------------------------------------------------------

    async def import_form(self, request: Request) -> Response:
        session = await self.session(request)
        return self.page("import.html", request, session, title="Import")

    async def import_upload(self, request: Request) -> Response:
        """The upload is spooled to a temporary file (never whole in memory) and sent on to
        the gateway in chunks; several files (JSON or CSV files, a folder) go as one zip of them.
        The page's script (X-Requested-With: fetch) is answered 201 with the import's page
        as Location, a plain form post with a redirect there."""
        session = await self.session(request)
        form = await self.checked_form(request, session)
        uploads = [f for f in form.getlist("export") if isinstance(f, UploadFile) and f.filename]
        if not uploads:
            raise PageError(400, "No file", "Choose your export: the zip or its JSON or CSV files.")
        with tempfile.TemporaryDirectory(prefix="fullcircle-web-") as folder:
            path = await asyncio.to_thread(_export_file, uploads, Path(folder))
            client = self.client(session)
            import_id = await self.call(session, lambda: client.import_history(path))
        if request.headers.get("x-requested-with") == "fetch":  # the page's script goes on
            return Response(status_code=201, headers={"Location": f"/import/{import_id}"})
        return RedirectResponse(f"/import/{import_id}", 303)

    async def import_page(self, request: Request) -> Response:
        session = await self.session(request)
        import_id = request.path_params["import_id"]
        first = await self.call(session, lambda: self._latest_progress(session, import_id))
        return self.page(
            "import_progress.html",
            request,
            session,
            title="Import",
            import_id=import_id,
            progress=first,
            percent=views.import_percent(first),
            report=self.templates.get_template("_import_report.html").render(progress=first),
        )

    async def _latest_progress(self, session: Session, import_id: str) -> Any:
        """The import's latest update for the page's first paint. WatchImport replays every
        update from the first: read them until the final one, or until none follows within
        half a second (the import is still running; the page's events go on from there)."""
        stream = self.client(session).watch_import(import_id, self.settings.gateway_deadline_s)
        updates = aiter(stream)
        try:
            latest = await anext(updates)
            while not latest.finished:
                try:
                    latest = await asyncio.wait_for(anext(updates), 0.5)
                except (TimeoutError, StopAsyncIteration):
                    break
        except StopAsyncIteration:
            raise PageError(404, "Not found", "No such import of yours.") from None
        finally:
            with contextlib.suppress(Exception):
                stream.cancel()  # type: ignore[attr-defined]
        return latest

    async def import_events(self, request: Request) -> Response:
        session = await self.session(request)
        import_id = request.path_params["import_id"]
        stream = self.client(session).watch_import(import_id)

        async def events() -> AsyncIterator[str]:
            try:
                async for update in stream:
                    data = {
                        "stage": update.stage,
                        "percent": views.import_percent(update),
                        "message": update.message,
                        "plays_read": update.plays_read,
                        "plays_stored": update.plays_stored,
                        "finished": update.finished,
                        "report": self.templates.get_template("_import_report.html").render(
                            progress=update
                        ),
                    }
                    yield f"event: progress\ndata: {json.dumps(data)}\n\n"
                    if update.finished:
                        break
            except grpc.aio.AioRpcError as exc:
                error = await self.gateway_error(session, exc)
                yield f"event: failed\ndata: {json.dumps({'message': error.message})}\n\n"
            yield "event: end\ndata: {}\n\n"

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    # --- Playlists ------------------------------------------------------------------------

    async def playlists(self, request: Request) -> Response:
        session = await self.session(request)
        playlist = None
        if request.method == "POST":
            form = await self.checked_form(request, session)
            prompt = str(form.get("prompt", "")).strip()[:200]
            if not prompt:
                raise PageError(400, "No prompt", 'Describe the music, e.g. "chill night".')
            playlist = await self.call(session, lambda: self.client(session).playlist(prompt))
        return self.page(
            "playlists.html",
            request,
            session,
            title="Playlists",
            playlist=playlist,
            track_url=views.track_url,
        )

    async def export_playlist(self, request: Request) -> Response:
        """The playlist of a prompt into the listener's Spotify account (the page shows where,
        and the tracks Spotify was not given), or downloaded as an M3U8, XSPF or JSPF file."""
        session = await self.session(request)
        form = await self.checked_form(request, session)
        prompt = str(form.get("prompt", "")).strip()[:200]
        chosen = PLAYLIST_EXPORTS.get(str(form.get("to", "")))
        if not prompt or chosen is None:
            raise PageError(400, "Nothing to export", "Make a playlist first, then export it.")
        client = self.client(session)
        written = await self.call(
            session, lambda: client.export_playlist(prompt, chosen, deadline_s=EXPORT_DEADLINE_S)
        )
        if chosen != gateway_pb2.PLAYLIST_FORMAT_SPOTIFY:
            return Response(
                written.content,
                media_type=written.media_type,
                headers={
                    "Content-Disposition": f'attachment; filename="{written.file_name}"',
                    "Cache-Control": "no-store",
                },
            )
        return self.page(
            "playlists.html",
            request,
            session,
            title="Playlists",
            playlist=written.playlist,
            spotify=written.spotify,
            without_uri=list(written.without_uri),
            track_url=views.track_url,
        )

    # --- Settings -------------------------------------------------------------------------

    async def settings_page(self, request: Request) -> Response:
        session = await self.session(request)
        client = self.client(session)
        shown: dict[str, Any] = {}  # what a POST answered, shown on the page once
        if request.method == "POST":
            answer = await self.settings_action(session, await self.checked_form(request, session))
            if isinstance(answer, Response):
                return answer
            shown = answer
        profile = await self.call_or_none(session, client.taste_profile)
        exclusions, steering, api_keys, link = await self.call(
            session,
            lambda: asyncio.gather(
                client.exclusions(),
                client.steering(),
                client.api_keys(),
                self.spotify_link(client),
            ),
        )
        profile = profile or common_pb2.TasteProfile()
        response = self.page(
            "settings.html",
            request,
            session,
            title="Settings",
            time_zone=shown.get("time_zone") or profile.time_zone,
            exclusions=exclusions,
            steering=steering,
            tastes=[c.name for c in profile.clusters if c.cluster_id != 0],
            spotify=shown.get("spotify"),
            link=link,
            api_keys=api_keys,
            new_key=shown.get("new_key"),
            confirm_revoke=shown.get("confirm_revoke"),
        )
        response.headers["Cache-Control"] = "no-store"  # a new key's secret is on it, once
        return response

    async def spotify_link(self, client: FullCircleClient) -> common_pb2.SpotifyLinkStatus | None:
        """The Spotify link's status, or None while ingest (which keeps it) does not answer:
        the rest of Settings works without it."""
        try:
            return await client.spotify_link()
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            log.warning("Spotify link status unknown: %s", exc.code().name)
            return None

    async def settings_action(self, session: Session, form: Any) -> Response | dict[str, Any]:
        """One Settings form: a redirect when the page only needs reloading, else what the
        page shows of the answer (the zone as now read, Spotify's next step, a new key)."""
        client = self.client(session)
        action = str(form.get("action"))
        if action == "time_zone":
            zone = str(form.get("time_zone", "")).strip()[:100]
            return {"time_zone": await self.call(session, lambda: client.set_time_zone(zone))}
        if action.startswith("spotify"):
            # Spotify's two steps (as `fullcircle spotify link`): the address to open, then the
            # address Spotify sent the browser back to, pasted here
            redirect_url = str(form.get("redirect_url", "")).strip()[:4000]
            return {"spotify": await self.call(session, lambda: client.link_spotify(redirect_url))}
        if action == "create_key":
            name = str(form.get("name", "")).strip()[:64]
            return {"new_key": await self.call(session, lambda: client.create_api_key(name))}
        if action == "revoke_key":
            return await self.revoke_key(session, str(form.get("key_id", "")).strip()[:64],
                                         confirmed=form.get("confirm") == "yes")  # fmt: skip
        await self.call(session, lambda: _apply_setting(client, form))
        return RedirectResponse("/settings", 303)

    async def revoke_key(
        self, session: Session, key_id: str, confirmed: bool
    ) -> Response | dict[str, Any]:
        """Revoke one of the listener's keys. The key this session signed in with only once
        confirmed (unconfirmed: the page asks); the session then ends, since nothing it could
        call would be accepted any more."""
        client = self.client(session)
        key_id = key_id.removeprefix("fc_").split("_")[0]  # as the gateway reads a key's name
        keys = await self.call(session, client.api_keys)
        own = next((key for key in keys if key.key_id == key_id and key.current), None)
        if own is not None and not confirmed:
            return {"confirm_revoke": own}
        await self.call(session, lambda: client.revoke_api_key(key_id))
        if own is None:
            return RedirectResponse("/settings", 303)
        await self.store.delete(session.token)
        response = RedirectResponse("/signin", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # --- the app --------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/", self.index),
            Route("/healthz", self.health),
            Route("/signin", self.signin_form, methods=["GET"]),
            Route("/signin", self.signin, methods=["POST"]),
            Route("/signin/link/{token}", self.signin_link, methods=["GET"]),
            Route("/signout", self.signout, methods=["POST"]),
            Route("/now", self.now),
            Route("/now/events", self.now_events),
            Route("/feedback", self.feedback, methods=["POST"]),
            Route("/rediscover", self.rediscover),
            Route("/taste", self.taste),
            Route("/import", self.import_form, methods=["GET"]),
            Route("/import", self.import_upload, methods=["POST"]),
            Route("/import/{import_id}", self.import_page),
            Route("/import/{import_id}/events", self.import_events),
            Route("/playlists", self.playlists, methods=["GET", "POST"]),
            Route("/playlists/export", self.export_playlist, methods=["POST"]),
            Route("/settings", self.settings_page, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

        async def page_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, PageError)
            return self.error_page(request, exc)

        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            if exc.status_code == 303 and exc.headers:
                return RedirectResponse(exc.headers["Location"], 303)
            titles = {404: "Not found", 405: "Not allowed"}
            title = titles.get(exc.status_code, "Not possible")
            return self.error_page(request, PageError(exc.status_code, title, exc.detail))

        async def crash(request: Request, exc: Exception) -> Response:
            log.exception("error on %s %s", request.method, request.url.path)
            return self.error_page(
                request,
                PageError(500, "Something went wrong", "This page failed; it has been logged."),
            )

        return Starlette(
            routes=routes,
            exception_handlers={PageError: page_error, HTTPException: http_error, Exception: crash},
        )


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


async def _none() -> None:
    return None


def _export_file(uploads: list[UploadFile], folder: Path) -> Path:
    """One file for the gateway: the upload itself, or a zip of several (a folder's files)."""
    import shutil
    import zipfile

    if len(uploads) == 1:
        path = folder / (Path(uploads[0].filename or "export").name or "export")
        with path.open("wb") as out:
            shutil.copyfileobj(uploads[0].file, out)
        return path
    path = folder / "export.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, upload in enumerate(uploads):
            name = (upload.filename or f"file-{number}").replace("\\", "/").lstrip("/")
            with archive.open(name, "w") as out:
                shutil.copyfileobj(upload.file, out)
    return path


async def _apply_setting(client: FullCircleClient, form: Any) -> None:
    action = form.get("action")
    if action == "exclude":
        await client.exclude(
            artist=str(form.get("artist", "")).strip(),
            track=str(form.get("track", "")).strip(),
            played_between=str(form.get("played_between", "")).strip(),
            platform=str(form.get("platform", "")).strip(),
            hours=str(form.get("hours", "")).strip(),
        )
    elif action == "remove_exclusion":
        await client.remove_exclusion(str(form.get("exclusion_id", "")))
    elif action == "steer":
        way = str(form.get("way", ""))
        await client.steer({str(form.get("taste", "")): way if way in ("more", "less") else ""})
    elif action == "familiarity":
        raw = str(form.get("familiarity", "")).strip()
        await client.steer(familiarity=float(raw) if raw else -1.0)
    else:
        raise PageError(400, "Not understood", "That setting is not one this page knows.")


# --- the process ----------------------------------------------------------------------------


_ROUTES = (
    (re.compile(r"^/signin/link/[^/]+$"), "/signin/link/{token}"),
    (re.compile(r"^/import/[^/]+/events$"), "/import/{import_id}/events"),
    (re.compile(r"^/import/[^/]+$"), "/import/{import_id}"),
    (re.compile(r"^/static/"), "/static"),
    (
        re.compile(
            r"^/(now|now/events|feedback|taste|rediscover|playlists|playlists/export|import|settings)?$"
        ),
        "",
    ),
    (re.compile(r"^/(signin|signout|healthz)$"), ""),
)


def _route(path: str) -> str:
    """The path as logged and labelled: tokens and ids by their names (a log is no place for
    them), any path the app does not serve as "other" (labels stay few)."""
    for pattern, name in _ROUTES:
        if pattern.match(path):
            return name or path
    return "other"


class RequestMetrics:
    """ASGI middleware: times each request by route and status (also sent to the browser as
    a Server-Timing header: the server's time until the response started); logs the request
    line with sign-in tokens and import ids cut off (a log is no place for them)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.latency = Histogram(
            "fullcircle_web_request_seconds",
            "web requests, until the response started",
            ["route", "status"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = _route(scope["path"])

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status, took = str(message["status"]), time.perf_counter() - started
                self.latency.labels(route, status).observe(took)
                log.info("%s %s %s", scope["method"], route, status)
                timing = (b"server-timing", f"app;dur={1000 * took:.1f}".encode())
                message = {**message, "headers": [*message.get("headers", []), timing]}
            await send(message)

        await self.app(scope, receive, timed_send)


async def serve(settings: WebSettings) -> None:
    """Run the web app until SIGTERM or SIGINT (uvicorn drains open requests)."""
    configure_logging(settings.log_level, "web", settings.log_format)
    ca = _read(settings.gateway_ca_file) if settings.gateway_ca_file else None
    options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    channel = (
        grpc.aio.insecure_channel(settings.gateway_address, options=options)
        if ca is None
        else grpc.aio.secure_channel(
            settings.gateway_address, grpc.ssl_channel_credentials(ca), options=options
        )
    )
    redis = Redis.from_url(settings.redis_url)
    web = Web(settings, SessionStore(redis, settings.session_ttl_s, settings.link_ttl_s), channel)
    registry = CollectorRegistry()
    app = RequestMetrics(web.app(), registry)
    grpc_server = GrpcServer(
        settings.grpc_host,
        settings.grpc_port,
        tls=tls_from_files(settings.grpc_tls_cert_file, settings.grpc_tls_key_file),
    )
    await grpc_server.start()
    await asyncio.to_thread(charts.warm_up)
    if settings.metrics_port >= 0:
        server, _ = start_http_server(settings.metrics_port, settings.metrics_host, registry)
        log.info("metrics on %s:%d/metrics", settings.metrics_host, server.server_port)
    config = uvicorn.Config(
        app,
        host=settings.web_host,
        port=settings.web_port,
        access_log=False,
        log_config=None,
        lifespan="off",
        timeout_graceful_shutdown=int(settings.grpc_grace_seconds),
    )
    http = uvicorn.Server(config)
    watch = asyncio.create_task(_watch_health(web, grpc_server, http, settings))
    try:
        await http.serve()  # returns on SIGTERM / SIGINT, after draining
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        await grpc_server.stop(settings.grpc_grace_seconds)
        await channel.close()
        await redis.aclose()


async def _watch_health(
    web: Web, grpc_server: GrpcServer, http: uvicorn.Server, settings: WebSettings
) -> None:
    """SERVING while the HTTP server is up and the gateway and Redis answer."""
    serving: bool | None = None
    while True:
        healthy = http.started and await web.healthy()
        if healthy != serving:
            serving = healthy
            await grpc_server.set_serving(healthy)
            if healthy:
                log.info("web ready on http://%s:%d", settings.web_host, settings.web_port)
            else:
                log.warning("web NOT_SERVING (the gateway or Redis is not reachable)")
        await asyncio.sleep(settings.health_interval_s if healthy else 0.5)
