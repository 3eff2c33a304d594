"""Garbage into every public RPC: each call ends with a clear status, never UNKNOWN or INTERNAL,
and the gateway, the model and ingest keep serving.

The test walks the FullCircle service descriptor and builds each request from its message
descriptor, so a new RPC or a new request field is fuzzed without a change here. Strings get
empty, giant (past the 4 MiB message limit too), odd Unicode, NUL and SQL metacharacters;
numbers their extremes; enums unknown values; uploads random bytes. Fixed seed (derandomize).
(A lone surrogate cannot be sent at all: protobuf refuses to encode one; the importer corpus in
tests/unit covers it in files.) The bugs it found stand at the end with their reproducers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fullcircle.grpc_server import MAX_MESSAGE_BYTES
from fullcircle.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc
from tools.stack.local import LocalStack

from .test_subscriptions import _new_set

pytestmark = pytest.mark.e2e

FULLCIRCLE = gateway_pb2.DESCRIPTOR.services_by_name["FullCircle"]
CLEAR = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,  # the same bytes uploaded twice by one listener
}
# A server stream that is still open and waiting (no import of that id will ever finish, no
# new set will come) is fine; the call's own deadline ends it.
STREAM_WAITING = grpc.StatusCode.DEADLINE_EXCEEDED
CALL_DEADLINE_S = 10.0
STREAM_DEADLINE_S = 2.0

SQL = ["'", "''; DROP TABLE ingest.plays; --", '" OR 1=1 --', "%s", "%(x)s", "\\", "$1", "{}"]
ODD_UNICODE = [
    "\u202eesrever",  # right-to-left override
    "e\u0301\u0301\u0301",  # stacked combining marks
    "\u200d\u200b\ufeff",  # joiners, zero width, BOM
    "🎵🏳️‍🌈",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "ǅ ß ﬁ İ",
    "\uffff\U0010ffff",
    "Beyoncé\x00",
    "\x00",
    " \t\n ",
]
NUMBER_EDGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
}


def _giant(alphabet: list[str]) -> st.SearchStrategy[str]:
    """Past the model's 500-character limits, past the gateway's 4 KiB ones, past the message
    limit."""
    sizes = [501, 4097, 200_000, MAX_MESSAGE_BYTES + 1]
    return st.builds(lambda piece, n: piece * n, st.sampled_from(alphabet), st.sampled_from(sizes))


STRINGS = st.one_of(
    st.just(""),
    st.sampled_from(SQL + ODD_UNICODE),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.uuids().map(str),  # shaped like an id, belonging to no one
    st.builds("".join, st.lists(st.sampled_from(SQL + ODD_UNICODE), min_size=2, max_size=4)),
    _giant(["a", "é", "\x00", "'"]),
)
BYTES = st.one_of(
    st.binary(max_size=2048),
    st.sampled_from([b"PK\x03\x04", b"[{", b'{"ts": ', b"\x00" * 64, b"\xff\xfe"]),
    st.builds(lambda n: b"\x00" * n, st.sampled_from([MAX_MESSAGE_BYTES + 1])),
)


def _number(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    low, high = NUMBER_EDGES.get(field.type, (-(2**31), 2**31 - 1))
    return st.one_of(st.sampled_from([low, -1, 0, 1, 20, 100, 101, high]), st.integers(low, high))


def _value(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return STRINGS
    if field.type == FieldDescriptor.TYPE_BYTES:
        return BYTES
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-(2**31), 2**31 - 1))
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message(field.message_type)
    return _number(field)


def message(descriptor: Descriptor) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for a message of `descriptor`: every field, each maybe left unset."""
    fields = {}
    for field in descriptor.fields:
        value = _value(field)
        if field.is_repeated:
            value = st.lists(value, max_size=3)
        fields[field.name] = st.one_of(st.none(), value)
    return st.fixed_dictionaries(fields).map(
        lambda drawn: {name: value for name, value in drawn.items() if value is not None}
    )


# Valid requests that drawn fields replace one by one, so that calls also get past the first
# check (an unknown kind, say) into the code behind it; other RPCs start from the empty request.
SEED_ARTIST = "Garbage Seed Artist"
BASELINES: dict[str, dict[str, Any]] = {
    "GetRecommendations": {"limit": 20},
    "ExplainRecommendation": {"artist": SEED_ARTIST},
    "SubmitFeedback": {"artist": SEED_ARTIST, "kind": common_pb2.FEEDBACK_KIND_LIKE},
    "CreatePlaylist": {"prompt": "chill night"},
    "ExportPlaylist": {"prompt": "chill night", "format": gateway_pb2.PLAYLIST_FORMAT_FILE_XSPF},
    "DeletePlays": {"artist": SEED_ARTIST},
}
# An account deleted (a drawn confirm=true) takes its key with it: the listener's next calls
# are refused as a stranger's, which is the clear answer for them.
ENDS_THE_ACCOUNT = {"DeleteAccount"}


def _request(method: MethodDescriptor, fields: dict[str, Any]) -> Any:
    message_class = message_factory.GetMessageClass(method.input_type)
    return message_class(**(BASELINES.get(method.name, {}) | fields))


def _call(stub: Any, method: MethodDescriptor, requests: list[Any], key: str) -> grpc.StatusCode:
    """Make the call; the status it ended with (a server stream is read to its first reply)."""
    rpc = getattr(stub, method.name)
    metadata = (("authorization", f"Bearer {key}"),)
    try:
        if method.client_streaming:
            rpc(iter(requests), metadata=metadata, timeout=CALL_DEADLINE_S)
        elif method.server_streaming:
            replies = rpc(requests[0], metadata=metadata, timeout=STREAM_DEADLINE_S)
            for _ in replies:
                replies.cancel()
                break
        else:
            rpc(requests[0], metadata=metadata, timeout=CALL_DEADLINE_S)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        if code == grpc.StatusCode.CANCELLED:  # our own cancel after the first reply
            return grpc.StatusCode.OK
        gone = code == grpc.StatusCode.UNAUTHENTICATED and method.name in ENDS_THE_ACCOUNT
        assert code in CLEAR or gone or (code == STREAM_WAITING and method.server_streaming), (
            f"{method.name} ended {code.name}: {exc.details()!r}"
        )
        assert code == STREAM_WAITING or exc.details(), f"{method.name}: {code.name} says nothing"
        return code
    return grpc.StatusCode.OK


def _serving(address: str) -> bool:
    """The process answers its health check with SERVING (a service reports NOT_SERVING for a
    few seconds while a dependency it checks every 5 s is still starting, so ask again)."""
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(30):
            reply = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return True
            time.sleep(0.5)
    return False


@pytest.fixture(scope="module")
def gateway(local_stack: LocalStack) -> Iterator[gateway_pb2_grpc.FullCircleStub]:
    state = local_stack.running()
    assert state is not None
    with grpc.insecure_channel(state.gateway_address) as channel:
        yield gateway_pb2_grpc.FullCircleStub(channel)


fuzzing = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("method", list(FULLCIRCLE.methods), ids=lambda method: method.name)
async def test_every_rpc_answers_garbage_with_a_clear_status(
    method: MethodDescriptor,
    local_stack: LocalStack,
    gateway: gateway_pb2_grpc.FullCircleStub,
    new_listener,
) -> None:
    state = local_stack.running()
    assert state is not None
    # One listener per RPC (its key's burst covers the examples) with a stored set, so the
    # calls get past "nothing yet" into the code that reads the request.
    user_id, key = await new_listener(f"garbage-{method.name}-{uuid.uuid4().hex[:6]}")
    await _new_set(state, user_id, 1, [SEED_ARTIST, "Another Garbage Artist"])
    requests = st.lists(message(method.input_type), min_size=1, max_size=3)
    statuses: set[grpc.StatusCode] = set()

    @fuzzing
    @given(fields=requests)
    def attempt(fields: list[dict[str, Any]]) -> None:
        built = [_request(method, each) for each in fields]
        statuses.add(_call(gateway, method, built, key))

    attempt()
    for service in ("gateway", "model", "ingest"):
        assert _serving(f"127.0.0.1:{state.ports[service]}"), f"{service} stopped serving"
    assert statuses, f"{method.name} was never called"
    print(method.name, sorted(code.name for code in statuses))


async def test_the_requests_that_once_ended_internal(
    local_stack: LocalStack, gateway: gateway_pb2_grpc.FullCircleStub, new_listener
) -> None:
    """What the fuzzing above found: PostgreSQL text cannot hold NUL (an upload's file name, an
    artist in feedback or explain), and a resume id that is not a stream id (or is the maximum
    one) reached Redis."""
    state = local_stack.running()
    assert state is not None
    user_id, key = await new_listener(f"regress-{uuid.uuid4().hex[:6]}")
    await _new_set(state, user_id, 1, [SEED_ARTIST])
    method = FULLCIRCLE.methods_by_name
    cases = [
        ("ImportHistory", {"file_name": "Beyoncé\x00", "data": b"\x00"}),
        ("ExplainRecommendation", {"artist": "\x00"}),
        ("SubmitFeedback", {"artist": "Beyoncé\x00"}),
        ("RevokeApiKey", {"key_id": "Beyoncé\x00"}),
        ("SubscribeRecommendations", {"last_event_id": "0-x"}),
        ("SubscribeRecommendations", {"last_event_id": "9" * 21}),
        # the maximum stream id: Redis cannot read after it (it ended INTERNAL)
        ("SubscribeRecommendations", {"last_event_id": f"{2**64 - 1}-{2**64 - 1}"}),
        ("SubscribeRecommendations", {"last_event_id": f"{2**64 - 1}"}),
    ]
    for name, fields in cases:
        request = _request(method[name], fields)
        code = _call(gateway, method[name], [request], key)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (name, fields, code)


async def test_uploads_whose_size_lies_or_is_too_big_are_refused_saying_so(
    gateway: gateway_pb2_grpc.FullCircleStub, new_listener, shared_data: Path
) -> None:
    """A declared size that is negative, over the limit, or not the size sent is the caller's
    mistake; the same bytes twice are ALREADY_EXISTS; and none of them keeps a byte."""
    _, key = await new_listener(f"regress-upload-{uuid.uuid4().hex[:6]}")
    method = FULLCIRCLE.methods_by_name["ImportHistory"]
    chunk = gateway_pb2.ImportChunk
    # a real export: its import is done or running when it comes again (a failed one would
    # not block the copy)
    export = (
        shared_data / "spotify-history-efrrowini/Streaming_History_Audio_2022.json"
    ).read_bytes()
    cases = [
        ([chunk(file_name="a.json", size_bytes=-1, data=b"[]")], grpc.StatusCode.INVALID_ARGUMENT),
        ([chunk(file_name="a.json", size_bytes=2**63 - 1)], grpc.StatusCode.RESOURCE_EXHAUSTED),
        ([chunk(size_bytes=3), chunk(data=b"[1, 2]")], grpc.StatusCode.INVALID_ARGUMENT),
        ([chunk(size_bytes=30), chunk(data=b"[1, 2]")], grpc.StatusCode.INVALID_ARGUMENT),
        ([chunk(file_name="2022.json", data=export)], grpc.StatusCode.OK),
        ([chunk(file_name="again.json", data=export)], grpc.StatusCode.ALREADY_EXISTS),
    ]
    for requests, expected in cases:
        assert _call(gateway, method, requests, key) == expected, requests


async def test_deletion_requests_that_name_no_plays_of_the_caller(
    local_stack: LocalStack, gateway: gateway_pb2_grpc.FullCircleStub, new_listener
) -> None:
    """Deletion input that is wrong is refused before anything is deleted: no selector, an id
    that is not one, an empty or inverted range, a blank or NUL artist, all=false, an account
    deletion without confirm; an import that is not the caller's is NOT_FOUND."""
    _, key = await new_listener(f"regress-delete-{uuid.uuid4().hex[:6]}")
    method = FULLCIRCLE.methods_by_name
    between = gateway_pb2.PlayedBetween
    invalid = [
        ("DeletePlays", {}),
        ("DeletePlays", {"import_id": "0-x"}),
        ("DeletePlays", {"played_between": between(from_time="2024-03-01", to_time="2024-03-01")}),
        ("DeletePlays", {"played_between": between(from_time="2024-03-02", to_time="2024-03-01")}),
        ("DeletePlays", {"played_between": between(from_time="9999-99-99", to_time="")}),
        ("DeletePlays", {"artist": "Beyoncé\x00"}),
        ("DeletePlays", {"artist": " \t"}),
        ("DeletePlays", {"all": False}),
        ("DeleteAccount", {"confirm": False}),
    ]
    for name, fields in invalid:
        request = message_factory.GetMessageClass(method[name].input_type)(**fields)
        code = _call(gateway, method[name], [request], key)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (name, fields, code)
    unknown = gateway_pb2.DeletePlaysRequest(import_id=str(uuid.uuid4()))
    assert _call(gateway, method["DeletePlays"], [unknown], key) == grpc.StatusCode.NOT_FOUND
