"""The committed gRPC stubs are exactly what `make protos` generates from proto/."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts/gen_protos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    _generator().generate(tmp_path)
    generated = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*_pb2*.py*")}
    committed = {
        p.relative_to(ROOT): p.read_bytes() for p in (ROOT / "fullcircle/v1").glob("*_pb2*.py*")
    }
    assert set(generated) == set(committed), "run `make protos` and commit the stubs"
    drifted = [str(path) for path in generated if generated[path] != committed[path]]
    assert not drifted, f"stale stubs (run `make protos`): {drifted}"


def test_stub_imports_follow_the_proto_package() -> None:
    source = (ROOT / "fullcircle/v1/gateway_pb2_grpc.py").read_text()
    assert "from fullcircle.v1 import gateway_pb2" in source


def test_committed_asyncapi_document_matches_the_event_models() -> None:
    from fullcircle.asyncapi import DOCUMENT, render

    assert DOCUMENT.read_text() == render(), "run `make asyncapi` and commit deploy/asyncapi.json"


def test_asyncapi_document_describes_every_stream_with_its_event_schema() -> None:
    import json

    from fullcircle.asyncapi import DOCUMENT
    from fullcircle.events import ALL_EVENTS

    document = json.loads(DOCUMENT.read_text())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {event.stream for event in ALL_EVENTS} <= addresses
    assert {event.__name__ for event in ALL_EVENTS} <= set(document["components"]["schemas"])
