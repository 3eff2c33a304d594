"""The CLI's admin commands (`user add`, `user key`, `user list`, `user revoke`, `spotify
unlink`) against the running stack: they go through the gateway's Admin API with the token the
stack keeps in its data folder, and a user's mistake ends in a message, not a stack trace."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid

import grpc
import pytest

from fullcircle.client import FullCircleClient
from tests.support.cli import run_cli
from tools.stack.local import LocalStack

pytestmark = pytest.mark.e2e


def _cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "FULLCIRCLE_ADMIN_TOKEN"}
    return run_cli(stack.data_dir, *args, env=env, timeout_s=60)


def _kept_key(stack: LocalStack, name: str) -> str:
    key: str = json.loads((stack.data_dir / "credentials.json").read_text())[name]
    return key


async def _code(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_the_cli_adds_listeners_makes_and_revokes_keys_through_the_admin_api(
    local_stack: LocalStack,
) -> None:
    state = local_stack.running()
    assert state is not None
    token_file = local_stack.data_dir / "admin.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    name = f"cli-{uuid.uuid4().hex[:6]}"

    added = _cli(local_stack, "user", "add", name)
    assert added.returncode == 0, added.stdout + added.stderr
    first_key = _kept_key(local_stack, name)
    assert f"API key (shown once): {first_key}" in added.stdout

    again = _cli(local_stack, "user", "add", name)
    assert again.returncode == 1 and "Traceback" not in again.stdout + again.stderr
    assert f"user {name!r} exists already" in again.stdout

    made = _cli(local_stack, "user", "key", name)
    assert made.returncode == 0, made.stdout + made.stderr
    second_key = _kept_key(local_stack, name)
    assert second_key != first_key and second_key in made.stdout

    listed = _cli(local_stack, "user", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    row = next(line for line in listed.stdout.splitlines() if name in line)
    cells = [cell.strip() for cell in row.strip(" │").split("│")]
    assert cells[0] == name and cells[-1] == "2", listed.stdout

    unknown = _cli(local_stack, "user", "key", f"nobody-{uuid.uuid4().hex[:6]}")
    assert unknown.returncode == 1 and "no user" in unknown.stdout
    assert "Traceback" not in unknown.stdout + unknown.stderr

    first_id = first_key.split("_")[1]
    revoked = _cli(local_stack, "user", "revoke", first_id)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert f"revoked {first_id}" in revoked.stdout
    twice = _cli(local_stack, "user", "revoke", first_id)
    assert twice.returncode == 1 and f"no active key {first_id!r}" in twice.stdout

    # no wait for KEY_CACHE_S: a revocation ends the cached owner at once
    async with (
        FullCircleClient(state.gateway_address, first_key) as old,
        FullCircleClient(state.gateway_address, second_key) as new,
    ):
        assert await _code(old.taste_profile()) == grpc.StatusCode.UNAUTHENTICATED
        assert await _code(new.taste_profile()) == grpc.StatusCode.NOT_FOUND  # accepted

    not_linked = _cli(local_stack, "spotify", "unlink", "--user", name)
    assert not_linked.returncode == 1
    assert f"{name} has no linked Spotify account" in not_linked.stdout


def test_a_wrong_admin_token_is_a_message(local_stack: LocalStack) -> None:
    refused = run_cli(
        local_stack.data_dir,
        "user",
        "list",
        env={**os.environ, "FULLCIRCLE_ADMIN_TOKEN": "not-the-token"},
        timeout_s=60,
    )
    assert refused.returncode == 1 and "wrong admin token" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr
