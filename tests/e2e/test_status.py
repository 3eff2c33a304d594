"""`fullcircle status` against the running stack: the Last.fm requests it reports are the ones
the Last.fm server (the local catalog server, counting what it receives) received, retries
included."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest

from fullcircle.client import FullCircleClient
from tests.support.cli import run_cli
from tools.stack.local import LocalStack, StackState

pytestmark = pytest.mark.e2e


def _lastfm(state: StackState, path: str, body: dict[str, object] | None = None) -> dict:
    root = state.lastfm_api_root.removesuffix("2.0/")
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(
        urllib.request.Request(root + path, data=data), timeout=10
    ) as reply:
        answer: dict = json.loads(reply.read())
        return answer


def _received(state: StackState) -> int:
    return int(_lastfm(state, "_stats")["total_calls"])


def _until_quiet(state: StackState, quiet_s: float = 3.0, patience_s: float = 300.0) -> int:
    """Last.fm's count once nothing has reached it for `quiet_s` (enrichment has settled)."""
    deadline = time.monotonic() + patience_s
    last, since = _received(state), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, "enrichment never settled"
        time.sleep(0.5)
        if (now := _received(state)) != last:
            last, since = now, time.monotonic()
    return last


def _unheard_history(shared_data: Path, folder: Path, artists: int = 40) -> Path:
    """A small extended history of catalog artists no other test plays (a random stretch of
    HetRec's artists), so enrich must ask Last.fm about them now; rows shaped like a real
    export's (one of efrrowini's as the template)."""
    names = [
        line.split("\t")[1]
        for line in (shared_data / "hetrec2011-lastfm-2k/artists.dat")
        .read_text(encoding="utf-8", errors="replace")
        .splitlines()[1:]
        if line.count("\t") >= 1
    ]
    start = uuid.uuid4().int % (len(names) - artists)
    template = json.loads(
        (shared_data / "spotify-history-efrrowini/Streaming_History_Audio_2026.json").read_text()
    )[0]
    rows = []
    for index, name in enumerate(names[start : start + artists]):
        for play in range(3):
            rows.append(
                template
                | {
                    "ts": f"2026-0{1 + play}-{1 + index % 28:02d}T12:00:00Z",
                    "ms_played": 200_000,
                    "master_metadata_album_artist_name": name,
                    "master_metadata_track_name": f"Song {play}",
                    "spotify_track_uri": f"spotify:track:{uuid.uuid4().hex[:22]}",
                    "skipped": False,
                }
            )
    path = folder / "unheard.json"
    path.write_text(json.dumps(rows))
    return path


async def test_status_counts_every_lastfm_request_the_server_received(
    local_stack: LocalStack, stack: StackState, new_listener, shared_data: Path, tmp_path: Path
) -> None:
    _user_id, key = await new_listener(f"status-{uuid.uuid4().hex[:6]}")
    export = _unheard_history(shared_data, tmp_path)
    faults_before = _lastfm(stack, "_stats")["faults_served"].get("8", 0)
    # Last.fm's "try again" on the first requests: their retries are requests too
    _lastfm(stack, "_faults", {"fail_next": 5, "fail_with": 8})
    async with FullCircleClient(stack.gateway_address, key) as client:
        import_id = await client.import_history(export)
        async for update in client.watch_import(import_id, deadline_s=120):
            final = update
    assert final.stage == "done", final.message
    for _ in range(5):  # another test's enrichment may still trickle in: read between two quiets
        before = _until_quiet(stack)
        shown = run_cli(local_stack.data_dir, "status", env=local_stack.env)
        if _received(stack) == before:
            break
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert _lastfm(stack, "_stats")["faults_served"].get("8", 0) >= faults_before + 5
    counted = re.search(r"Last\.fm HTTP requests in the last hour: ([\d,]+)", shown.stdout)
    assert counted is not None, shown.stdout
    assert int(counted.group(1).replace(",", "")) == before > 0
    with psycopg.connect(stack.database_url) as conn:
        logged = conn.execute("SELECT count(*) FROM enrich.fetch_log").fetchone()
    assert logged is not None
    print(f"Last.fm received {before} requests; status shows {counted.group(1)}; the fetch log")
    print(f"that status counted before has {logged[0]} lines ({1 - logged[0] / before:.0%} fewer)")
