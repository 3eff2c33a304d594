"""The bus as an AsyncAPI document, generated from the event models and CONSUMER_GROUPS.

`python -m fullcircle.asyncapi` rewrites deploy/asyncapi.json (`make asyncapi`); a test fails
when the committed document drifts from the code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from faststream.redis import RedisBroker, StreamSub
from faststream.specification import AsyncAPI

from fullcircle.events import ALL_EVENTS, CONSUMER_GROUPS, UNGROUPED_READERS, Event

DOCUMENT = Path(__file__).resolve().parents[1] / "deploy" / "asyncapi.json"
PRODUCERS: dict[str, str] = {
    "imports.requested.v1": "gateway",
    "imports.progress.v1": "ingest",
    "plays.ingested.v1": "ingest",
    "artists.enriched.v1": "enrich",
    "profiles.updated.v1": "features",
    "recommendations.updated.v1": "model (new sets), enrich (tracks attached)",
    "feedback.submitted.v1": "gateway",
    "sync.requested.v1": "gateway",
}


def _handler(event_type: type[Event]) -> Any:
    async def handle(event: Any) -> None:
        """Consumes the event."""

    handle.__annotations__ = {"event": event_type, "return": None}
    handle.__doc__ = event_type.__doc__
    return handle


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every stream: who publishes it, which groups consume it."""
    broker = RedisBroker("redis://redis:6379/0", description="Full-Circle bus (Redis Streams)")
    for event_type in ALL_EVENTS:
        stream = event_type.stream
        for group in CONSUMER_GROUPS[stream]:
            sub = StreamSub(stream, group=group, consumer=group)
            broker.subscriber(stream=sub, title=f"{group}:{stream}")(_handler(event_type))
        if reader := UNGROUPED_READERS.get(stream):
            title = f"{reader} (no group: every replica reads):{stream}"
            broker.subscriber(stream=StreamSub(stream), title=title)(_handler(event_type))
        broker.publisher(
            stream=stream,
            title=f"{PRODUCERS[stream]}:{stream}",
            schema=event_type,
            description=event_type.__doc__,
        )
    specification = AsyncAPI(
        broker, title="Full-Circle bus", version="1", schema_version="3.0.0"
    ).to_specification()
    document: dict[str, Any] = json.loads(specification.to_json())
    return document


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOCUMENT
    target.write_text(render())
    print(f"wrote {target}")
