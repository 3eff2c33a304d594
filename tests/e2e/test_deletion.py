"""A listener takes their data back out, through the public API of the running stack: an
artist's plays deleted are gone from the plays, the profile and the next set; a deleted account
leaves no row of theirs in any table of any schema; another listener cannot delete their
import, and bad deletion requests are refused with a clear status and delete nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import psycopg
import pytest
import redis
from psycopg import sql

from fullcircle.client import FullCircleClient
from fullcircle.events import PROFILES_UPDATED, dead_letter_stream
from fullcircle.v1 import common_pb2, gateway_pb2
from tools.stack.local import LocalStack, StackState

from .test_admin import _cli

pytestmark = pytest.mark.e2e

HISTORY = "spotify-history-efrrowini/Streaming_History_Audio_{year}.json"
WAIT_S = 300


async def _imported(client: FullCircleClient, path: Path) -> str:
    import_id = await client.import_history(path)
    progress = [update async for update in client.watch_import(import_id, deadline_s=180)]
    assert progress[-1].stage == "done", progress[-1].message
    return import_id


def _plays(stack: StackState, user_id: uuid.UUID, artist: str | None = None) -> int:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM ingest.plays WHERE user_id = %s"
            " AND (%s::text IS NULL OR lower(artist_name) = lower(%s))",
            (user_id, artist, artist),
        ).fetchone()
    return int(row[0]) if row else 0


async def _profile_version_with(stack: StackState, user_id: uuid.UUID, plays: int) -> int:
    """The version of the first stored profile of the listener that counts `plays` plays."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        with psycopg.connect(stack.database_url) as conn:
            row = conn.execute(
                "SELECT version FROM features.profiles WHERE user_id = %s AND plays = %s",
                (user_id, plays),
            ).fetchone()
        if row is not None:
            return int(row[0])
        assert asyncio.get_running_loop().time() < deadline, f"no profile of {plays} plays"
        await asyncio.sleep(1)


def _set_profile_version(stack: StackState, set_id: str) -> int:
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            "SELECT profile_version FROM model.recommendation_sets WHERE set_id = %s", (set_id,)
        ).fetchone()
    assert row is not None, f"set {set_id} announced but not stored"
    return int(row[0])


async def _set_of(
    events: AsyncIterator[gateway_pb2.RecommendationsEvent],
    stack: StackState,
    profile_version: int,
) -> common_pb2.RecommendationSet:
    """The first announced set with items made from `profile_version` of the profile or later."""
    while True:
        event = await asyncio.wait_for(anext(events), WAIT_S)
        if event.set.items and _set_profile_version(stack, event.set.set_id) >= profile_version:
            return event.set


def _holding(stack: StackState, user_id: uuid.UUID, needles: list[str]) -> list[str]:
    """Every column of every table of every schema holding the listener: a uuid column equal
    to their id, a text or JSON column containing their id or any of `needles`."""
    found = []
    with psycopg.connect(stack.database_url) as conn:
        columns = conn.execute(
            "SELECT c.table_schema, c.table_name, c.column_name, c.data_type"
            " FROM information_schema.columns c JOIN information_schema.tables t"
            " USING (table_schema, table_name) WHERE t.table_type = 'BASE TABLE'"
            " AND c.table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND c.data_type IN ('uuid', 'text', 'character varying', 'jsonb', 'ARRAY')"
        ).fetchall()
        for schema, table, column, data_type in columns:
            target = sql.Identifier(schema, table)
            if data_type == "uuid":
                query = sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                    target, sql.Identifier(column)
                )
                row = conn.execute(query, (user_id,)).fetchone()
            else:
                query = sql.SQL("SELECT count(*) FROM {} WHERE {}::text LIKE ANY(%s)").format(
                    target, sql.Identifier(column)
                )
                patterns = [f"%{needle}%" for needle in [str(user_id), *needles]]
                row = conn.execute(query, (patterns,)).fetchone()
            if row and row[0]:
                found.append(f"{schema}.{table}.{column}: {row[0]} rows")
    return found


async def test_an_artist_then_the_whole_account_are_deleted(
    stack: StackState, new_listener, shared_data: Path
) -> None:
    name = f"leaver-{uuid.uuid4().hex[:6]}"
    user_id, key = await new_listener(name)
    async with FullCircleClient(stack.gateway_address, key) as client:
        events = aiter(client.subscribe(deadline_s=3 * WAIT_S))
        await _imported(client, shared_data / HISTORY.format(year=2024))
        await _set_of(events, stack, 0)
        profile = await client.taste_profile()
        artist = profile.top_artists[0].artist
        stored = _plays(stack, user_id, artist)
        total = _plays(stack, user_id)

        reports = await client.delete_plays(artist=artist.upper())

        final = reports[-1]
        assert [report.service for report in reports[:-1]] == ["ingest"]
        assert final.finished and not final.pending
        assert dict(final.removed) == {"plays": stored} and stored > 0
        assert _plays(stack, user_id, artist) == 0 and _plays(stack, user_id) == total - stored
        # the recompute and the new set follow, as after an import
        recomputed = await _profile_version_with(stack, user_id, total - stored)
        next_set = await _set_of(events, stack, recomputed)
        for item in next_set.items:
            assert artist.lower() not in {seed.lower() for seed in item.similar_to}, item
        profile = await client.taste_profile()
        assert profile.plays == total - stored
        assert artist not in {weight.artist for weight in profile.top_artists}
        old_favourites = await client.recommendations(
            20, common_pb2.RECOMMENDATION_MODE_REDISCOVERY
        )
        assert artist not in {item.artist for item in old_favourites.items}

        with psycopg.connect(stack.database_url) as conn:
            key_hashes = [
                row[0]
                for row in conn.execute(
                    "SELECT key_hash FROM gateway.api_keys WHERE user_id = %s", (user_id,)
                )
            ]
        assert _holding(stack, user_id, [name, *key_hashes]), "the search finds a listener"

        reports = await client.delete_account()

    final = reports[-1]
    assert final.finished and not final.pending, final.message
    assert {report.service for report in reports[:-1]} == {"gateway", "ingest", "features", "model"}
    removed = {report.service: dict(report.removed) for report in reports[:-1]}
    assert removed["gateway"]["users"] == 1 and removed["gateway"]["api_keys"] == 1
    assert removed["ingest"]["plays"] == total - stored
    assert removed["features"]["profiles"] == 1 and removed["model"]["recommendation_sets"] >= 2
    assert _holding(stack, user_id, [name, *key_hashes]) == []


async def test_another_listeners_import_and_bad_requests_delete_nothing(
    stack: StackState, new_listener, shared_data: Path
) -> None:
    alice_id, alice_key = await new_listener(f"alice-{uuid.uuid4().hex[:6]}")
    _, bob_key = await new_listener(f"bob-{uuid.uuid4().hex[:6]}")
    async with FullCircleClient(stack.gateway_address, alice_key) as alice:
        import_id = await _imported(alice, shared_data / HISTORY.format(year=2023))
    plays = _plays(stack, alice_id)
    assert plays > 0
    async with FullCircleClient(stack.gateway_address, bob_key) as bob:
        with pytest.raises(grpc.aio.AioRpcError) as foreign:
            await bob.delete_plays(import_id=import_id)
        assert foreign.value.code() == grpc.StatusCode.NOT_FOUND
        assert str(alice_id) not in (foreign.value.details() or "")
        assert not any((await bob.delete_plays(everything=True))[-1].removed.values())
        assert (await bob.delete_account())[-1].finished
    async with FullCircleClient(stack.gateway_address, alice_key) as alice:
        bad = [
            ({}, grpc.StatusCode.INVALID_ARGUMENT),
            ({"import_id": "last week's"}, grpc.StatusCode.INVALID_ARGUMENT),
            ({"import_id": str(uuid.uuid4())}, grpc.StatusCode.NOT_FOUND),
            ({"played_between": ("2024-03-01", "2024-03-01")}, grpc.StatusCode.INVALID_ARGUMENT),
            ({"played_between": ("2024-03-02", "2024-03-01")}, grpc.StatusCode.INVALID_ARGUMENT),
            ({"played_between": ("yesterday", "2024-03-01")}, grpc.StatusCode.INVALID_ARGUMENT),
            ({"artist": " \t"}, grpc.StatusCode.INVALID_ARGUMENT),
            ({"artist": "Lana Del Rey\x00"}, grpc.StatusCode.INVALID_ARGUMENT),
        ]
        for fields, code in bad:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await alice.delete_plays(**fields)  # type: ignore[arg-type]
            assert refused.value.code() == code, fields
            assert refused.value.details(), fields
        with pytest.raises(grpc.aio.AioRpcError) as unconfirmed:
            await alice.stub.DeleteAccount(
                gateway_pb2.DeleteAccountRequest(), metadata=alice.metadata, timeout=10
            ).read()
        assert unconfirmed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _plays(stack, alice_id) == plays


async def test_deleting_every_play_leaves_a_listener_the_pipeline_still_serves(
    stack: StackState, new_listener, shared_data: Path
) -> None:
    user_id, key = await new_listener(f"emptied-{uuid.uuid4().hex[:6]}")
    async with FullCircleClient(stack.gateway_address, key) as client:
        events = aiter(client.subscribe(deadline_s=3 * WAIT_S))
        await _imported(client, shared_data / HISTORY.format(year=2023))
        await _set_of(events, stack, 0)
        stored = _plays(stack, user_id)

        final = (await client.delete_plays(everything=True))[-1]

        assert dict(final.removed) == {"plays": stored, "imports": 1, "uploads": 1}
        emptied = await _profile_version_with(stack, user_id, 0)
        while True:  # the model makes the emptied profile's set (it has nothing to go on)
            event = await asyncio.wait_for(anext(events), WAIT_S)
            if _set_profile_version(stack, event.set.set_id) >= emptied:
                break
        assert not event.set.items
        assert not (await client.recommendations()).items
        profile = await client.taste_profile()
    assert profile.plays == 0 and not profile.top_artists
    assert _plays(stack, user_id) == 0
    dead = redis.Redis.from_url(stack.redis_url).xrange(dead_letter_stream(PROFILES_UPDATED))
    assert not [f for _, f in dead if any(str(user_id).encode() in v for v in f.values())]


async def test_the_cli_deletes_plays_and_the_account_and_says_what_went(
    local_stack: LocalStack,
) -> None:
    state = local_stack.running()
    assert state is not None
    name = f"cli-leaver-{uuid.uuid4().hex[:6]}"
    assert _cli(local_stack, "user", "add", name).returncode == 0
    key = json.loads((local_stack.data_dir / "credentials.json").read_text())[name]
    user = ("--user", name)
    for mistake, says in [
        (("--artist", "Lana Del Rey"), "add --yes"),
        (("--artist", "Lana Del Rey", "--all", "--yes"), "one of --import ID"),
        (("--from", "2024-03-01", "--yes"), "needs both --from and --to"),
        (("--import", str(uuid.uuid4()), "--yes"), "of yours"),
        (("--from", "2024-03-02", "--to", "2024-03-01", "--yes"), "empty or inverted"),
    ]:
        refused = _cli(local_stack, "plays", "delete", *user, *mistake)
        assert refused.returncode == 1 and says in refused.stdout, refused.stdout
        assert "Traceback" not in refused.stdout + refused.stderr

    nothing = _cli(local_stack, "plays", "delete", *user, "--artist", "Nobody Here", "--yes")
    assert nothing.returncode == 0, nothing.stdout + nothing.stderr
    assert "removed 0 plays" in nothing.stdout and "nothing is recomputed" in nothing.stdout

    unconfirmed = _cli(local_stack, "account", "delete", *user)
    assert unconfirmed.returncode == 1 and "add --yes" in unconfirmed.stdout
    deleted = _cli(local_stack, "account", "delete", *user, "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert all(service in deleted.stdout for service in ("gateway", "ingest", "features", "model"))
    assert "1 users" in deleted.stdout and "the account is deleted" in deleted.stdout
    assert name not in json.loads((local_stack.data_dir / "credentials.json").read_text())
    # no wait for KEY_CACHE_S: the final report announced the keys revoked on every gateway
    async with FullCircleClient(state.gateway_address, key) as gone:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await gone.taste_profile()
    assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
