"""Feedback and explanations over gRPC: a dislike removes the artist from the very next answer,
a hidden artist stays hidden until its date, a like remakes the set, and every recommendation
explains itself in parts that sum to 100%."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from fullcircle.client import FullCircleClient
from fullcircle.stack import StackState
from fullcircle.v1 import common_pb2

from .test_subscriptions import _new_set

pytestmark = pytest.mark.e2e

ARTISTS = ["Alpha Band", "Beta Band", "Gamma Band", "Delta Band"]


async def test_dislike_hide_like_and_explain(stack: StackState, new_listener) -> None:
    user_id, key = await new_listener(f"feedback-{uuid.uuid4().hex[:6]}")
    await _new_set(stack, user_id, 1, ARTISTS)
    async with FullCircleClient(stack.gateway_address, key) as client:
        before = [item.artist for item in (await client.recommendations(10)).items]
        assert before == ARTISTS

        explained = await client.explain("alpha band")
        assert explained.artist == "Alpha Band"
        assert sum(part.percent for part in explained.parts) == 100
        assert explained.because.startswith("because: ")

        assert await client.feedback("Alpha Band", common_pb2.FEEDBACK_KIND_DISLIKE) == ""
        after = [item.artist for item in (await client.recommendations(10)).items]
        assert after == ARTISTS[1:], "a dislike shows in the very next answer"

        until = await client.feedback("beta band", common_pb2.FEEDBACK_KIND_DO_NOT_RECOMMEND, 7)
        assert until
        assert [i.artist for i in (await client.recommendations(10)).items] == ARTISTS[2:]

        events = aiter(client.subscribe(deadline_s=60))
        assert (await anext(events)).set.set_id  # the current set
        await client.feedback("Gamma Band", common_pb2.FEEDBACK_KIND_LIKE)
        remade = await asyncio.wait_for(anext(events), 30)
        assert remade.set.model_version.endswith("r1"), "a like remakes the set (revision 1)"

        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await client.explain("Nobody Recommended This")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as no_kind:
            await client.feedback("Delta Band", common_pb2.FEEDBACK_KIND_UNSPECIFIED)
        assert no_kind.value.code() == grpc.StatusCode.INVALID_ARGUMENT
