"""Histories from other services through the running stack, as a listener sends them: every
real Last.fm, ListenBrainz, YouTube and Apple Music file in ../shared/data imported over gRPC
stores the plays its independent count gives (tests/unit/test_listen_exports.py counts each
with the csv and json modules) under its source, with the per-file report on WatchImport;
and `fullcircle import FOLDER` uploads a folder holding a Spotify file and a Last.fm CSV."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from fullcircle.client import AdminClient, FullCircleClient
from tools.stack.local import LocalStack, StackState

from .test_admin import _cli
from .test_pipeline import _import

pytestmark = pytest.mark.e2e

SOURCES_REDIS_DB = 15


@pytest.fixture(scope="module")
def sources_stack(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_admin_url: str,
    redis_server_url: str,
    shared_data: Path,
) -> Iterator[LocalStack]:
    """A stack of this module's own (its own database and Redis db, stopped with the module):
    the 14,000 artists these histories bring are enriched there, not in the stack every other
    e2e test shares and waits on."""
    name = f"fc_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    redis_url = f"{redis_server_url}/{SOURCES_REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LASTFM_", "DATABASE_URL", "REDIS_URL", "FULLCIRCLE_", "SPOTIFY_"))
    }
    env |= {
        "DATABASE_URL": psycopg.conninfo.make_conninfo(postgres_admin_url, dbname=name),
        "REDIS_URL": redis_url,
        "FULLCIRCLE_LASTFM_CATALOG": f"hetrec:{shared_data / 'hetrec2011-lastfm-2k'}",
        "BUS_CLAIM_IDLE_MS": "2000",
    }
    stack = LocalStack(tmp_path_factory.mktemp("sources-stack"), env)
    stack.up(report=print)
    try:
        yield stack
    finally:
        stack.down(report=print)
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _listener(stack: LocalStack, name: str) -> tuple[uuid.UUID, str]:
    state = stack.running()
    assert state is not None, "a service of the sources stack has died"
    async with AdminClient(state.gateway_address, stack.admin_token()) as admin:
        created = await admin.create_user(name)
    return uuid.UUID(created.user_id), created.api_key


# file -> (plays, rows set aside, kind, source); the plays are the independent counts the
# unit tests check the reader against.
SOURCES = {
    "lastfm-csv-pingw33n/lastfm_scrobbles.csv": (
        58_265,
        303,
        "lastfm scrobbles (lastfm-to-csv)",
        "lastfm",
    ),
    "lastfm-ghan-csv-sachawheeler/scrobbles.csv": (
        11_622,
        0,
        "lastfm scrobbles (lastfm.ghan.nl)",
        "lastfm",
    ),
    "listenbrainz-export-koito/listenbrainz_shoko1_1749780844.zip": (
        5,
        0,
        "listenbrainz listens",
        "listenbrainz",
    ),
    "listenbrainz-export-koito/listenbrainz_shoko1_123456789.zip": (
        19,
        0,
        "listenbrainz listens",
        "listenbrainz",
    ),
    "listenbrainz-api-emomert/listenbrainz.json": (100, 0, "listenbrainz listens", "listenbrainz"),
    "youtube-takeout-ten5/watch-history.json": (5_117, 5_290, "youtube watch history", "youtube"),
    "youtube-takeout-tunaerol/watch-history.json": (
        727,
        2_225,
        "youtube watch history",
        "youtube",
    ),
    "apple-music-play-activity-vietvudanh/Apple Music Play Activity.csv": (
        5_465,
        491,
        "apple music play activity",
        "apple_music",
    ),
    "apple-music-track-play-history-hjx2020/Apple Music - Track Play History.csv": (
        12_601,
        167,
        "apple music track play history",
        "apple_music",
    ),
    "apple-music-recently-played-brodyupton/Apple Music - Recently Played Tracks.csv": (
        200,
        0,
        "apple music recently played",
        "apple_music",
    ),
}


async def _stored_sources(state: StackState, user_id: uuid.UUID) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(state.database_url) as conn:
        cur = await conn.execute(
            "SELECT source, count(*) FROM ingest.plays WHERE user_id = %s GROUP BY 1", (user_id,)
        )
        return {str(source): int(count) for source, count in await cur.fetchall()}


@pytest.mark.parametrize("name", list(SOURCES), ids=[name.split("/")[0] for name in SOURCES])
async def test_a_real_history_of_another_service_is_stored_through_the_stack(
    sources_stack: LocalStack, shared_data: Path, name: str
) -> None:
    plays, set_aside, kind, source = SOURCES[name]
    stack = sources_stack.running()
    assert stack is not None
    user_id, api_key = await _listener(sources_stack, f"source-{uuid.uuid4().hex[:8]}")
    async with FullCircleClient(stack.gateway_address, api_key) as client:
        progress = await _import(client, shared_data / name)
    final = progress[-1]
    assert final.stage == "done", final.message
    assert (final.plays_read, final.plays_new) == (plays, plays)
    assert final.set_aside == set_aside
    (report,) = final.files
    assert (report.kind, report.music_plays) == (kind, plays)
    assert sum(report.set_aside.values()) == set_aside
    assert await _stored_sources(stack, user_id) == {source: plays}


def test_the_cli_imports_a_folder_like_its_zip(
    sources_stack: LocalStack, shared_data: Path, tmp_path: Path
) -> None:
    local_stack = sources_stack
    folder = tmp_path / "my_exports"
    (folder / "Spotify Extended Streaming History").mkdir(parents=True)
    spotify = shared_data / "spotify-history-efrrowini" / "Streaming_History_Audio_2022.json"
    (folder / "Spotify Extended Streaming History" / spotify.name).write_bytes(spotify.read_bytes())
    scrobbles = shared_data / "lastfm-ghan-csv-sachawheeler" / "scrobbles.csv"
    (folder / "scrobbles.csv").write_bytes(scrobbles.read_bytes())
    (folder / "ReadMeFirst.pdf").write_bytes(b"%PDF-1.4")
    name = f"folder-{uuid.uuid4().hex[:6]}"
    assert _cli(local_stack, "user", "add", name).returncode == 0
    imported = _cli(local_stack, "import", str(folder), "--user", name)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "imported" in imported.stdout and "11656 plays read, 11656 new" in imported.stdout
    assert "scrobbles.csv" in imported.stdout and "my_exports" in imported.stdout

    missing = _cli(local_stack, "import", str(tmp_path / "nowhere"), "--user", name)
    assert missing.returncode == 1 and "no such file or folder" in missing.stdout
