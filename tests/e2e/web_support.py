"""Helpers of the web app's end-to-end tests: sign in over HTTP, a one-time sign-in link, and
a small export whose names are hostile markup."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
from redis.asyncio import Redis

from services.web.adapters.sessions import SessionStore
from tools.stack.local import StackState

HOSTILE_ARTIST = "<script>alert(1)</script>"
HOSTILE_TRACK = '" onmouseover="x'
HOSTILE_FILE = "<img src=x onerror=alert(2)>.json"


def form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(web: httpx.Client, api_key: str) -> httpx.Response:
    page = web.get("/signin")
    return web.post("/signin", data={"csrf": form_token(page.text), "api_key": api_key})


async def sign_in_link(stack: StackState, api_key: str) -> str:
    """A one-time sign-in link, made as `fullcircle web-link` makes one."""
    redis = Redis.from_url(stack.redis_url)
    try:
        token = await SessionStore(redis, 3600, 600).create_link(api_key)
    finally:
        await redis.aclose()
    return f"{stack.web_url}/signin/link/{token}"


def hostile_export(shared_data: Path, folder: Path) -> Path:
    """A small extended-history file (from a real one's row shape) whose artist and track
    names are markup, and whose file name is too."""
    template = json.loads(
        (shared_data / "spotify-history-efrrowini/Streaming_History_Audio_2026.json").read_text()
    )[0]
    rows = [
        template
        | {
            "ts": f"2025-{1 + month:02d}-{1 + day:02d}T{8 + day % 12:02d}:00:00Z",
            "ms_played": 200_000,
            "master_metadata_album_artist_name": HOSTILE_ARTIST if day % 2 else "Nina Simone",
            "master_metadata_track_name": HOSTILE_TRACK if day % 2 else "Sinnerman",
            "spotify_track_uri": f"spotify:track:{uuid.uuid4().hex[:22]}",
            "skipped": False,
        }
        for month in range(6)
        for day in range(12)
    ]
    path = folder / HOSTILE_FILE
    path.write_text(json.dumps(rows))
    return path
