"""`fullcircle up` on a running stack starts only what died, and `fullcircle restart SERVICE`
restarts one service: the CLI as a process against the stack's real service processes, the
other processes left alone (their pids unchanged)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time

import pytest

from fullcircle.grpc_server import check_health
from tests.support.cli import run_cli
from tools.stack.local import SERVICES, LocalStack, StackState

pytestmark = pytest.mark.e2e


def _cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in the environment the stack was started with (the services it starts get
    the same settings and secrets as the ones running)."""
    return run_cli(stack.data_dir, *args, env=stack.env)


def _reap_when_it_ends(pid: int) -> threading.Thread:
    """The services of this stack are children of the test process: reap one as it ends, so
    the CLI, another process, sees it gone rather than a zombie of ours."""
    reaper = threading.Thread(target=os.waitpid, args=(pid, 0), daemon=True)
    reaper.start()
    return reaper


def _pids(stack: LocalStack) -> dict[str, int]:
    state = StackState.load(stack.data_dir)
    assert state is not None
    return dict(state.pids)


def _not_serving(stack: LocalStack, patience_s: float = 60.0) -> list[str]:
    """The services that do not answer SERVING within `patience_s` (a gateway reports
    NOT_SERVING until its next health round sees the restarted model again)."""
    state = StackState.load(stack.data_dir)
    assert state is not None
    deadline = time.monotonic() + patience_s
    while True:
        down = [
            service
            for service in SERVICES
            if not asyncio.run(check_health(f"127.0.0.1:{state.ports[service]}", 2.0))
        ]
        if not down or time.monotonic() > deadline:
            return down
        time.sleep(0.5)


def test_up_starts_only_the_dead_service_and_restart_only_the_named_one(
    local_stack: LocalStack, stack: StackState
) -> None:
    before = _pids(local_stack)
    features = before["features"]
    reaper = _reap_when_it_ends(features)
    os.kill(features, signal.SIGKILL)
    reaper.join(timeout=15)

    brought_back = _cli(local_stack, "up", "--detach")
    assert brought_back.returncode == 0, brought_back.stdout + brought_back.stderr
    assert "starting features (it was not running)" in brought_back.stdout
    after_up = _pids(local_stack)
    assert after_up["features"] != features
    assert {name: pid for name, pid in after_up.items() if name != "features"} == {
        name: pid for name, pid in before.items() if name != "features"
    }, "up touched a service that was running"
    assert _not_serving(local_stack) == []

    model = after_up["model"]
    _reap_when_it_ends(model)
    restarted = _cli(local_stack, "restart", "model")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    after_restart = _pids(local_stack)
    assert after_restart["model"] != model
    assert f"model restarted (pid {after_restart['model']})" in restarted.stdout
    assert {name: pid for name, pid in after_restart.items() if name != "model"} == {
        name: pid for name, pid in after_up.items() if name != "model"
    }, "restart touched another service"
    assert _not_serving(local_stack) == []

    again = _cli(local_stack, "up", "--detach")
    assert again.returncode == 0 and "the stack is already running" in again.stdout
    assert _pids(local_stack) == after_restart


def test_restarting_an_unknown_service_lists_the_services(local_stack: LocalStack) -> None:
    refused = _cli(local_stack, "restart", "modle")
    assert refused.returncode == 1
    output = refused.stdout + refused.stderr
    assert "unknown service 'modle'" in output and "Traceback" not in output
    assert "ingest, enrich, features, model, gateway" in output
    for infrastructure in ("redis", "lastfm"):
        assert "unknown service" in _cli(local_stack, "restart", infrastructure).stdout
