"""The web app's sessions in a real Redis: the browser's token opens its session and nothing
else, Redis holds neither the token nor the API key in the clear, sign-in links work once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from services.web.adapters.sessions import SessionStore

pytestmark = pytest.mark.integration

API_KEY = "fc_0123456789ab_the-secret-part-of-a-key"


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[SessionStore]:
    redis = Redis.from_url(redis_url)
    yield SessionStore(redis, ttl_s=60, link_ttl_s=30)
    await redis.aclose()


async def test_a_session_is_found_by_its_token_only_and_ends_on_sign_out(
    store: SessionStore,
) -> None:
    session = await store.create(API_KEY)
    found = await store.get(session.token)
    assert found == session and found.api_key == API_KEY and len(session.csrf) >= 32
    tampered = session.token[:-1] + ("A" if session.token[-1] != "A" else "B")
    assert await store.get(tampered) is None
    assert await store.get("") is None and await store.get("x" * 500) is None
    assert (await store.create(API_KEY)).token != session.token
    await store.delete(session.token)
    assert await store.get(session.token) is None


async def test_redis_holds_no_token_and_no_api_key_in_the_clear(store: SessionStore) -> None:
    session = await store.create(API_KEY)
    link = await store.create_link(API_KEY)
    stored = b""
    async for key in store.redis.scan_iter("web:*"):
        stored += key + (await store.redis.get(key) or b"")
    assert stored
    for secret in (API_KEY, "the-secret-part", session.token, link, session.token[:20]):
        assert secret.encode() not in stored
    ttl = await store.redis.ttl(next(iter([k async for k in store.redis.scan_iter("web:link:*")])))
    assert 0 < ttl <= 30


async def test_a_sign_in_link_is_redeemed_once(store: SessionStore) -> None:
    token = await store.create_link(API_KEY)
    assert await store.redeem_link(token + "x") is None
    assert await store.redeem_link(token) == API_KEY
    assert await store.redeem_link(token) is None
