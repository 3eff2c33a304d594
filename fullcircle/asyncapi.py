"""The bus as an AsyncAPI document, generated from the event models and the topology.

`python -m fullcircle.asyncapi` rewrites deploy/asyncapi.json (`make asyncapi`); a test fails
when the committed document drifts from the code, and another reads the committed document and
fails on a stream with two producing services or a cycle in the causality graph. Each receive
operation lists in `x-publishes` the streams its handler may publish; each send operation names
its one producing service in `x-producer`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from faststream.redis import RedisBroker, StreamSub
from faststream.specification import AsyncAPI

from fullcircle.events import ALL_EVENTS, TOPOLOGY, Event

DOCUMENT = Path(__file__).resolve().parents[1] / "deploy" / "asyncapi.json"
UNGROUPED = "no group: every replica reads"


def _handler(event_type: type[Event]) -> Any:
    async def handle(event: Any) -> None:
        """Consumes the event."""

    handle.__annotations__ = {"event": event_type, "return": None}
    handle.__doc__ = event_type.__doc__
    return handle


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every stream: who publishes it, which groups consume it and
    what each consuming handler publishes in turn."""
    broker = RedisBroker("redis://redis:6379/0", description="Full-Circle bus (Redis Streams)")
    groups = TOPOLOGY.consumer_groups()
    extensions: dict[str, dict[str, Any]] = {}
    for event_type in ALL_EVENTS:
        stream = event_type.stream
        for group in groups[stream]:
            sub = StreamSub(stream, group=group, consumer=group)
            title = f"{group}:{stream}"
            broker.subscriber(stream=sub, title=title)(_handler(event_type))
            extensions[title] = {"x-publishes": list(TOPOLOGY.publishes(group, stream))}
        if reader := TOPOLOGY.ungrouped.get(stream):
            title = f"{reader} ({UNGROUPED}):{stream}"
            broker.subscriber(stream=StreamSub(stream), title=title)(_handler(event_type))
            extensions[title] = {"x-publishes": [], "x-ungrouped": True}
        producer = TOPOLOGY.producers[stream]
        title = f"{producer}:{stream}"
        broker.publisher(
            stream=stream, title=title, schema=event_type, description=event_type.__doc__
        )
        extensions[title] = {"x-producer": producer}
    specification = AsyncAPI(
        broker, title="Full-Circle bus", version="1", schema_version="3.0.0"
    ).to_specification()
    document: dict[str, Any] = json.loads(specification.to_json())
    for name, operation in document["operations"].items():
        operation.update(extensions[name])
    return document


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=True) + "\n"


def _address(document: dict[str, Any], operation: dict[str, Any]) -> str:
    channel = unquote(operation["channel"]["$ref"].removeprefix("#/channels/"))
    address: str = document["channels"][channel]["address"]
    return address


def topology_problems(document: dict[str, Any]) -> list[str]:
    """What breaks a straight pipeline in an AsyncAPI document: a stream with more than one
    producing service, and any cycle of stream -> (a handler of it) -> a stream it publishes.
    Reads without a group (the gateway's fan-out to its clients) are sinks, not edges."""
    producers: dict[str, set[str]] = {}
    edges: dict[str, set[str]] = {}
    for operation in document["operations"].values():
        stream = _address(document, operation)
        if operation["action"] == "send":
            producers.setdefault(stream, set()).add(operation["x-producer"])
        elif not operation.get("x-ungrouped"):
            edges.setdefault(stream, set()).update(operation.get("x-publishes", []))
    problems = [
        f"{stream} has {len(services)} producing services: {', '.join(sorted(services))}"
        for stream, services in sorted(producers.items())
        if len(services) > 1
    ]
    done: set[str] = set()

    def walk(stream: str, path: list[str]) -> None:
        if stream in path:
            cycle = [*path[path.index(stream) :], stream]
            problems.append("cycle: " + " -> ".join(cycle))
            return
        if stream in done:
            return
        for published in sorted(edges.get(stream, ())):
            walk(published, [*path, stream])
        done.add(stream)

    for stream in sorted(edges):
        walk(stream, [])
    return problems


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCUMENT
    target.write_text(render())
    print(f"wrote {target}")
