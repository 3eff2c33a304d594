"""docker-compose.yml runs what the local stack runs: the same service commands and variables,
health checks, restarts, and the data stores the architecture names."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import yaml

from tools.stack import local as stack
from tools.stack.local import SERVICES, service_command

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_each_service_runs_the_local_stacks_command_with_a_health_check_and_restarts() -> None:
    services = compose()["services"]
    for name in SERVICES:
        service = services[name]
        assert service["command"] == service_command(name)
        assert service["restart"] == "unless-stopped"
        port = service["environment"]["GRPC_PORT"]
        assert service["healthcheck"]["test"] == [
            "CMD",
            "python",
            "-m",
            "fullcircle.health",
            f"127.0.0.1:{port}",
        ]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"


def test_compose_sets_every_variable_the_local_stack_sets() -> None:
    source = inspect.getsource(stack.LocalStack._service_env)
    stack_variables = {
        node.value
        for node in ast.walk(ast.parse(source.strip().replace("\n    ", "\n")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isupper()
    }
    assert {"DATABASE_URL", "REDIS_URL", "GRPC_PORT", "MODEL_ADDRESS"} <= stack_variables
    gateway_only = {"GATEWAY_ADMIN_TOKEN"}  # a secret no other service needs
    assert gateway_only <= stack_variables
    for name in SERVICES:
        environment = set(compose()["services"][name]["environment"])
        expected = stack_variables if name == "gateway" else stack_variables - gateway_only
        assert expected <= environment, expected - environment
        if name != "gateway":
            assert not gateway_only & environment, f"{name} must not get the admin token"


def test_postgres_16_and_redis_7_with_append_only_persistence() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert "--appendonly" in services["redis"]["command"]
    assert (
        services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1]
        == "yes"
    )
    assert services["gateway"]["environment"]["MODEL_ADDRESS"] == "model:50052"
    assert services["model"]["environment"]["GRPC_PORT"] == "50052"


def test_the_image_installs_the_pinned_constraints() -> None:
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "-c constraints.txt" in dockerfile
    assert "COPY services" in dockerfile and "COPY fullcircle" in dockerfile
