"""Who may call the gateway's Admin API: only the admin token, compared by digest; a listener's
key is refused as such. The local stack makes the token once, keeps it readable only by its
owner and gives it to gateways only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from fullcircle.errors import PermissionDenied, Unauthenticated
from services.gateway.admin import ADMIN_SERVICE, AdminInterceptor
from services.gateway.auth import ADMIN_CALLS
from services.gateway.domain.keys import key_id_of, new_api_key
from tools.stack.local import SERVICES, LocalStack, StackState

ADMIN_TOKEN = "an-admin-token-of-this-test"


class Context:
    """The part of a gRPC servicer context the check reads."""

    def __init__(self, authorization: str | None) -> None:
        self.metadata = (("authorization", authorization),) if authorization else ()

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata


def _authorise(configured: str | None, authorization: str | None) -> None:
    interceptor = AdminInterceptor(SecretStr(configured) if configured else None)
    interceptor._authorise(Context(authorization))  # type: ignore[arg-type]


def test_only_the_admin_token_passes() -> None:
    _authorise(ADMIN_TOKEN, f"Bearer {ADMIN_TOKEN}")
    _authorise(ADMIN_TOKEN, f"bearer  {ADMIN_TOKEN} ")
    with pytest.raises(PermissionDenied, match="listener's API key"):
        _authorise(ADMIN_TOKEN, f"Bearer {new_api_key().token}")
    with pytest.raises(Unauthenticated, match="wrong admin token"):
        _authorise(ADMIN_TOKEN, f"Bearer {ADMIN_TOKEN}x")
    with pytest.raises(Unauthenticated, match="missing"):
        _authorise(ADMIN_TOKEN, None)
    with pytest.raises(Unauthenticated, match="missing"):
        _authorise(ADMIN_TOKEN, ADMIN_TOKEN)  # no Bearer scheme


def test_without_a_configured_token_every_admin_call_is_refused() -> None:
    for configured in (None, ""):
        with pytest.raises(Unauthenticated, match="missing"):
            _authorise(configured, "Bearer ")  # an empty token never matches an empty one
        with pytest.raises(PermissionDenied, match="GATEWAY_ADMIN_TOKEN"):
            _authorise(configured, "Bearer anything")


def test_the_interceptor_keeps_a_digest_not_the_token() -> None:
    interceptor = AdminInterceptor(SecretStr(ADMIN_TOKEN))
    assert ADMIN_TOKEN not in repr(vars(interceptor))
    assert ADMIN_TOKEN.encode() not in b"".join(
        value for value in vars(interceptor).values() if isinstance(value, bytes)
    )


def test_the_listener_interceptor_leaves_exactly_the_admin_service_to_it() -> None:
    assert f"/{ADMIN_SERVICE}/" == ADMIN_CALLS


def test_a_key_is_named_by_its_id_or_the_whole_key() -> None:
    key = new_api_key()
    assert key_id_of(key.key_id) == key_id_of(f"fc_{key.key_id}") == key.key_id
    assert key_id_of(key.token) == key.key_id
    # not shaped like a key id (PostgreSQL text cannot even hold the NUL): nothing to look up
    assert key_id_of("Beyoncé\x00") == key_id_of("abc") == key_id_of("A1B2C3D4E5F6") == ""


def test_the_stack_keeps_one_admin_token_for_gateways_only(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, {"GATEWAY_ADMIN_TOKEN_UNRELATED": "x"})
    token = stack.admin_token()
    assert len(token) >= 32 and stack.admin_token() == token
    assert stat.S_IMODE((tmp_path / "admin.token").stat().st_mode) == 0o600
    assert LocalStack(tmp_path, {}).admin_token() == token  # the CLI reads the same one
    state = StackState(str(tmp_path), "postgresql://db", "redis://r", "http://lastfm")
    for name in (*SERVICES, "gateway-2"):
        state.ports[name] = state.ports[f"{name}_metrics"] = 1
    for name in (*SERVICES, "gateway-2"):
        env = stack._service_env(state, name)
        assert env.get("GATEWAY_ADMIN_TOKEN") == (token if name.startswith("gateway") else None)


def test_a_token_from_the_environment_wins_and_reaches_no_other_service(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path, {"GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN})
    assert stack.admin_token() == ADMIN_TOKEN and not (tmp_path / "admin.token").exists()
    state = StackState(str(tmp_path), "postgresql://db", "redis://r", "http://lastfm")
    for name in SERVICES:
        state.ports[name] = state.ports[f"{name}_metrics"] = 1
    assert stack._service_env(state, "gateway")["GATEWAY_ADMIN_TOKEN"] == ADMIN_TOKEN
    assert "GATEWAY_ADMIN_TOKEN" not in stack._service_env(state, "model")
