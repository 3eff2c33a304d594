"""Feedback and explanations over gRPC on a real listener: a dislike removes the artist from the
very next answer, a hidden artist stays hidden until its date, a like remakes the set, and every
recommendation explains itself in parts that sum to 100%."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import grpc
import pytest

from fullcircle.client import FullCircleClient
from fullcircle.v1 import common_pb2
from tools.stack.local import StackState

pytestmark = pytest.mark.e2e


async def test_dislike_hide_like_and_explain(
    stack: StackState, new_listener, shared_data: Path
) -> None:
    _, key = await new_listener(f"feedback-{uuid.uuid4().hex[:6]}")
    async with FullCircleClient(stack.gateway_address, key) as client:
        import_id = await client.import_history(
            shared_data / "spotify-history-sanabil/my_spotify_data.zip"
        )
        async for _ in client.watch_import(import_id, deadline_s=300):
            pass
        deadline = asyncio.get_running_loop().time() + 240
        while True:
            try:
                current = await client.recommendations(10)
                if len(current.items) == 10:
                    break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND
            assert asyncio.get_running_loop().time() < deadline, "no recommendations"
            await asyncio.sleep(1)
        first, second, third = (item.artist for item in current.items[:3])

        explained = await client.explain(first.upper())
        assert explained.artist == first
        assert sum(part.percent for part in explained.parts) == 100
        assert {part.kind for part in explained.parts} <= {
            "seed_artist",
            "tag",
            "popularity",
            "liked_model",
            "co_listening",
        }

        assert await client.feedback(first, common_pb2.FEEDBACK_KIND_DISLIKE) == ""
        after = [item.artist for item in (await client.recommendations(10)).items]
        assert first not in after, "a dislike shows in the very next answer"

        until = await client.feedback(second, common_pb2.FEEDBACK_KIND_DO_NOT_RECOMMEND, 7)
        assert until
        hidden = [item.artist for item in (await client.recommendations(10)).items]
        assert first not in hidden and second not in hidden

        events = aiter(client.subscribe(deadline_s=120))
        assert (await anext(events)).set.set_id  # the current set
        await client.feedback(third, common_pb2.FEEDBACK_KIND_LIKE)
        # every feedback remakes the set as the next revision ("...:r<n>"); the one made after
        # the like reflects all three. A late profile change (enrich still tagging) may land a
        # retrained set of its own meanwhile, named by its model alone: not the one awaited.
        remade = await asyncio.wait_for(anext(events), 60)
        while {item.artist for item in remade.set.items} & {first, second, third} or not (
            remade.set.model_version.rsplit(":", 1)[-1].startswith("r")
        ):
            remade = await asyncio.wait_for(anext(events), 60)

        calm = await client.recommendations(10, prompt="calm acoustic night")
        stored = {item.artist for item in (await client.recommendations(100)).items}
        assert len(calm.items) == 10 and {item.artist for item in calm.items} <= stored
        playlist = await client.playlist("high energy morning music")
        assert (playlist.hour_band, playlist.familiarity) == ("morning", "mixed")
        assert playlist.energy > 0 and len(playlist.tracks) == 25
        assert sum(1 for track in playlist.tracks if not track.familiar) == 8  # 30% new
        assert all(track.track for track in playlist.tracks if track.familiar)
        mine = await client.playlist("my favourites, 10 songs")
        assert len(mine.tracks) == 10 and all(track.familiar for track in mine.tracks)
        with pytest.raises(grpc.aio.AioRpcError) as empty_prompt:
            await client.playlist("   ")
        assert empty_prompt.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await client.explain("Nobody Recommended This")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as no_kind:
            await client.feedback(first, common_pb2.FEEDBACK_KIND_UNSPECIFIED)
        assert no_kind.value.code() == grpc.StatusCode.INVALID_ARGUMENT
