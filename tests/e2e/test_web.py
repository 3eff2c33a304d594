"""The web app over HTTP on the running stack: sign-in by key and by one-time link, sign-out,
and every way a request can be wrong (a wrong key, no or a wrong CSRF token, an altered
cookie, another listener's import) answered by a page that says so (4xx, never a stack
trace, never another listener's data); an export with markup for names imported through the
upload form, its report and the taste page showing the names as text. The API key appears in
no page, no URL and no line of the web app's log."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path

import httpx
import pytest

from fullcircle.client import FullCircleClient
from tests.e2e.web_support import (
    HOSTILE_ARTIST,
    HOSTILE_FILE,
    HOSTILE_TRACK,
    form_token,
    hostile_export,
    sign_in,
    sign_in_link,
)
from tests.support.playlist_files import xspf_tracks
from tools.stack.local import LocalStack, StackState

pytestmark = pytest.mark.e2e


def _error(response: httpx.Response) -> str:
    assert "Traceback" not in response.text and 'File "' not in response.text
    found = re.search(r'<p id="error-message">(.*?)</p>', response.text, re.S)
    assert found, response.text[:500]
    return found.group(1)


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'<meta name="csrf" content="([^"]+)">', page.text)
    assert found, page.text[:300]
    return found.group(1)


async def test_sign_in_sign_out_and_every_wrong_request_gets_a_clear_page(
    local_stack: LocalStack, stack: StackState, new_listener, shared_data: Path, tmp_path: Path
) -> None:
    _, key = await new_listener(f"web-{uuid.uuid4().hex[:6]}")
    _, other_key = await new_listener(f"web-other-{uuid.uuid4().hex[:6]}")
    async with FullCircleClient(stack.gateway_address, other_key) as other:
        others_import = await other.import_history(hostile_export(shared_data, tmp_path))
    pages: list[httpx.Response] = []
    with httpx.Client(base_url=stack.web_url, timeout=60, event_hooks={}) as web:
        assert web.get("/healthz").text == "ok"
        first = web.get("/now")
        assert first.status_code == 303 and first.headers["location"] == "/signin"

        wrong = sign_in(web, key[:-4] + "AAAA")
        assert wrong.status_code == 401 and "not one Full-Circle knows" in _error(wrong)
        no_token = web.post("/signin", data={"api_key": key})
        assert no_token.status_code == 403 and "sign-in form" in _error(no_token)
        assert SESSION not in web.cookies

        signed_in = sign_in(web, key)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/now"
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and key.lower() not in cookie
        now = web.get("/now")
        assert now.status_code == 200
        pages.append(now)
        csrf = _csrf(now)

        for form in ({}, {"csrf": "not-the-token"}):
            refused = web.post("/feedback", data={**form, "artist": "Sade", "kind": "dislike"})
            assert refused.status_code == 403 and "security token" in _error(refused)
        not_understood = web.post("/feedback", data={"csrf": csrf, "kind": "love"})
        assert not_understood.status_code == 400

        theirs = web.get(f"/import/{others_import}")
        assert theirs.status_code == 404, theirs.text[:300]
        assert HOSTILE_FILE not in theirs.text and "Nina Simone" not in theirs.text
        assert web.get(f"/import/{uuid.uuid4()}").status_code == 404
        assert web.get("/import/not-an-id").status_code in (400, 404)
        assert web.get("/no-such-page").status_code == 404

        token = web.cookies[SESSION]
        web.cookies.set(SESSION, token[:-2] + ("xy" if not token.endswith("xy") else "yz"))
        tampered = web.get("/taste")
        assert tampered.status_code == 401 and "Sign in again" in _error(tampered)
        web.cookies.clear()
        web.cookies.set(SESSION, token)
        pages += [web.get(path) for path in ("/taste", "/import", "/settings", "/playlists")]
        assert all(page.status_code == 200 for page in pages), [p.status_code for p in pages]

        out = web.post("/signout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/signin"
        web.cookies.set(SESSION, token)
        after = web.get("/now")
        assert after.status_code == 401

    link = await sign_in_link(stack, key)
    with httpx.Client(timeout=60) as browser:
        opened = browser.get(link)
        assert opened.status_code == 303 and browser.cookies.get(SESSION)
        assert browser.get(f"{stack.web_url}/settings").status_code == 200
    with httpx.Client(timeout=60) as someone_else:
        again = someone_else.get(link)
        assert again.status_code == 400 and "already used or has expired" in _error(again)

    log = (local_stack.logs / "web.log").read_text()
    for text in [*(page.text for page in pages), log, link]:
        assert key not in text and key.split("_")[-1] not in text
    assert link.rsplit("/", 1)[1] not in log, "a sign-in token was logged"


SESSION = "fc_session"


async def test_an_export_with_markup_for_names_imports_through_the_form_and_shows_as_text(
    stack: StackState, new_listener, shared_data: Path, tmp_path: Path
) -> None:
    _, key = await new_listener(f"web-hostile-{uuid.uuid4().hex[:6]}")
    export = hostile_export(shared_data, tmp_path)
    async with httpx.AsyncClient(base_url=stack.web_url, timeout=120) as web:
        page = await web.get("/signin")
        await web.post("/signin", data={"csrf": form_token(page.text), "api_key": key})
        csrf = _csrf(await web.get("/import"))
        with export.open("rb") as file:
            upload = await web.post(
                "/import",
                data={"csrf": csrf},
                files={"export": (export.name, file, "application/json")},
            )
        assert upload.status_code == 303, upload.text[:500]
        progress = upload.headers["location"]
        updates = []
        async with web.stream("GET", f"{progress}/events", timeout=180) as events:
            async for line in events.aiter_lines():
                if line.startswith("data: "):
                    updates.append(json.loads(line.removeprefix("data: ")))
                if updates and updates[-1].get("finished"):
                    break
        final = updates[-1]
        assert final["stage"] == "done" and final["percent"] == 100, final
        assert "&lt;img src=x onerror=alert(2)&gt;.json" in final["report"]
        assert HOSTILE_FILE not in final["report"]
        report_page = await web.get(progress)
        assert "&lt;img src=x onerror=alert(2)&gt;.json" in report_page.text

        taste = await _taste_with(web, "Nina Simone")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in taste
        assert HOSTILE_ARTIST not in taste and HOSTILE_TRACK not in taste

        # the playlist page's exports: a file to download, Spotify (not linked: said so)
        csrf = _csrf(await web.get("/playlists"))
        prompt = "my favourites"
        made = await web.post("/playlists", data={"csrf": csrf, "prompt": prompt})
        assert made.status_code == 200 and 'id="export"' in made.text
        assert HOSTILE_ARTIST not in made.text and HOSTILE_TRACK not in made.text
        form = {"csrf": csrf, "prompt": prompt}
        xspf = await web.post("/playlists/export", data={**form, "to": "xspf"})
        assert xspf.status_code == 200, xspf.text[:300]
        assert xspf.headers["content-disposition"] == 'attachment; filename="my-favourites.xspf"'
        assert xspf_tracks(xspf.content)
        spotify = await web.post("/playlists/export", data={**form, "to": "spotify"})
        assert spotify.status_code == 409 and "no Spotify account is linked" in _error(spotify)
        unknown = await web.post("/playlists/export", data={**form, "to": "mp3"})
        assert unknown.status_code == 400
        forged = await web.post("/playlists/export", data={"prompt": prompt, "to": "xspf"})
        assert forged.status_code == 403


async def _taste_with(web: httpx.AsyncClient, artist: str) -> str:
    """The taste page once the profile names `artist` (features builds it after the import)."""
    deadline = asyncio.get_running_loop().time() + 180
    while True:
        page = await web.get("/taste")
        assert page.status_code == 200
        if artist in page.text:
            return page.text
        assert asyncio.get_running_loop().time() < deadline, "no taste profile in 180 s"
        await asyncio.sleep(2)


async def test_an_upload_that_fails_shows_the_imports_own_error_message(
    stack: StackState, new_listener, tmp_path: Path
) -> None:
    _, key = await new_listener(f"web-garbage-{uuid.uuid4().hex[:6]}")
    garbage = tmp_path / "history.json"
    garbage.write_text("this is not a Spotify export")
    async with FullCircleClient(stack.gateway_address, key) as client:  # the gateway's words
        import_id = await client.import_history(garbage)
        expected = [update async for update in client.watch_import(import_id, 120)][-1]
    assert expected.stage == "failed" and expected.message
    async with httpx.AsyncClient(base_url=stack.web_url, timeout=120) as web:
        page = await web.get("/signin")
        await web.post("/signin", data={"csrf": form_token(page.text), "api_key": key})
        csrf = _csrf(await web.get("/import"))
        upload = await web.post(
            "/import",
            data={"csrf": csrf},
            files={"export": ("history.json", garbage.read_bytes(), "application/json")},
        )
        assert upload.status_code == 303, upload.text[:300]
        async with web.stream("GET", f"{upload.headers['location']}/events") as events:
            async for line in events.aiter_lines():
                if line.startswith("data: ") and json.loads(line[6:]).get("finished"):
                    final = json.loads(line[6:])
                    break
        assert final["stage"] == "failed"
        assert final["message"] == expected.message
        assert 'class="failed"' in final["report"]
        page = await web.get(upload.headers["location"])
        assert 'id="import-message">' in page.text and "Traceback" not in page.text
        empty = await web.post(
            "/import",
            data={"csrf": csrf},
            files={"export": ("empty.json", b"", "application/json")},
        )
        assert empty.status_code == 400 and "Traceback" not in empty.text
        none = await web.post("/import", data={"csrf": csrf})
        assert none.status_code == 400 and "Choose your export" in _error(none)


async def test_settings_link_spotify_in_two_steps_and_set_the_time_zone(
    stack: StackState, new_listener, spotify
) -> None:
    listener = f"web-spotify-{uuid.uuid4().hex[:6]}"
    _, key = await new_listener(listener)
    spotify.login_as(listener)
    async with httpx.AsyncClient(base_url=stack.web_url, timeout=60) as web:
        page = await web.get("/signin")
        await web.post("/signin", data={"csrf": form_token(page.text), "api_key": key})
        settings = await web.get("/settings")
        assert '<p id="spotify-status">Not linked.</p>' in settings.text
        assert ">Link Spotify</button>" in settings.text
        csrf = _csrf(settings)
        begun = await web.post("/settings", data={"csrf": csrf, "action": "spotify_start"})
        assert begun.status_code == 200, begun.text[:300]
        found = re.search(r'id="spotify-authorize" href="([^"]+)"', begun.text)
        assert found, begun.text[:2000]
        authorize = found.group(1).replace("&amp;", "&")
        async with httpx.AsyncClient(timeout=30) as browser:
            landed = (await browser.get(authorize)).headers["location"]
        linked = await web.post(
            "/settings", data={"csrf": csrf, "action": "spotify_finish", "redirect_url": landed}
        )
        assert linked.status_code == 200 and 'id="spotify-linked"' in linked.text
        status = (await web.get("/settings")).text  # as ingest keeps the link now
        assert re.search(r'<b class="ok">Linked</b> since \d{4}-\d\d-\d\d \d\d:\d\d UTC', status)
        assert ">Relink Spotify</button>" in status and "No sync yet." in status
        zone = await web.post(
            "/settings", data={"csrf": csrf, "action": "time_zone", "time_zone": "Asia/Tokyo"}
        )
        assert zone.status_code == 200 and "<b>Asia/Tokyo</b>" in zone.text
        wrong = await web.post(
            "/settings", data={"csrf": csrf, "action": "time_zone", "time_zone": "Mars/Base"}
        )
        assert wrong.status_code == 400 and "Traceback" not in wrong.text
