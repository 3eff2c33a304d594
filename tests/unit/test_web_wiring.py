"""The web app is wired as a service: `fullcircle up` starts it with the gateway's address and
an HTTP port of its own (a replica gets another), compose runs the same command on port 8080
with a health check, and it reaches nothing but the gateway and Redis."""

from __future__ import annotations

from pathlib import Path

import yaml

from tools.stack.local import STACK_SERVICES, WEB, LocalStack, StackState, service_command

ROOT = Path(__file__).resolve().parents[2]


def _state(tmp_path: Path) -> StackState:
    state = StackState(str(tmp_path), "postgresql://db", "redis://r", "http://lastfm")
    for number, name in enumerate((*STACK_SERVICES, "web-2"), start=1):
        state.ports[name] = state.ports[f"{name}_metrics"] = 1000 + number
    state.ports["web_http"], state.ports["web-2_http"] = 8080, 8099
    return state


def test_the_local_stack_starts_web_with_the_gateways_address_and_its_own_port(
    tmp_path: Path,
) -> None:
    assert STACK_SERVICES[-1] == WEB
    stack = LocalStack(tmp_path, {"GATEWAY_ADMIN_TOKEN": "t"})
    state = _state(tmp_path)
    env = stack._service_env(state, WEB)
    assert env["GATEWAY_ADDRESS"] == state.gateway_address
    assert (env["WEB_PORT"], env["GRPC_PORT"]) == ("8080", str(state.ports[WEB]))
    assert stack._service_env(state, "web-2")["WEB_PORT"] == "8099"
    assert "GATEWAY_ADMIN_TOKEN" not in env
    assert "WEB_PORT" not in stack._service_env(state, "gateway")
    assert state.web_url == "http://127.0.0.1:8080"


def test_compose_runs_web_on_8080_with_a_health_check_and_no_database() -> None:
    web = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]
    assert web["command"] == service_command(WEB)
    assert web["ports"] == ["8080:8080"] and web["environment"]["WEB_PORT"] == "8080"
    port = web["environment"]["GRPC_PORT"]
    assert web["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "fullcircle.health",
        f"127.0.0.1:{port}",
    ]
    assert web["environment"]["GATEWAY_ADDRESS"] == "gateway:50051"
    assert "DATABASE_URL" not in web["environment"] and "postgres" not in web["depends_on"]
    web_only = LocalStack._web_env(_state(Path(".")), WEB)
    assert set(web_only) <= set(web["environment"])


def test_web_imports_no_other_service_and_no_database_or_bus() -> None:
    for path in (ROOT / "services" / "web").rglob("*.py"):
        text = path.read_text()
        for forbidden in ("services.gateway", "services.model", "fullcircle.db", "fullcircle.bus"):
            assert forbidden not in text, f"{path.name} imports {forbidden}"
        assert "psycopg" not in text, path.name
