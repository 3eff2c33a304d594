"""Server-side sessions and one-time sign-in links, in Redis.

The browser holds only a random token (32 bytes, in an httpOnly, SameSite=Lax cookie). Redis
holds, under the token's SHA-256 (never the token itself), the listener's API key encrypted
with a key derived from the token, and the session's CSRF token. So whoever reads Redis
learns no API key and no cookie that would open a session; a cookie that was altered or
forged names no entry and opens nothing. A session lives `ttl_s` from its last use; signing
out deletes it. Sessions in Redis (not in the process) survive a restart of the web app and
are shared by its replicas.

A sign-in link carries a one-time token of the same kind: it lives `link_ttl_s`, and the
first request that redeems it deletes it (GETDEL) and gets a fresh session in exchange."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from redis.asyncio import Redis

SESSION_PREFIX = "web:session:"
LINK_PREFIX = "web:link:"


@dataclass(frozen=True)
class Session:
    token: str
    api_key: str
    csrf: str


def _redis_key(prefix: str, token: str) -> str:
    return prefix + hashlib.sha256(token.encode()).hexdigest()


def _cipher(token: str) -> Fernet:
    derived = hashlib.sha256(b"fullcircle-web-session:" + token.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def _seal(token: str, fields: dict[str, str]) -> str:
    sealed = {**fields, "api_key": _cipher(token).encrypt(fields["api_key"].encode()).decode()}
    return json.dumps(sealed)


def _open(token: str, raw: bytes | str | None) -> dict[str, str] | None:
    if raw is None:
        return None
    try:
        fields: dict[str, str] = json.loads(raw)
        fields["api_key"] = _cipher(token).decrypt(fields["api_key"].encode()).decode()
    except (ValueError, KeyError, InvalidToken):
        return None
    return fields


class SessionStore:
    def __init__(self, redis: Redis, ttl_s: int, link_ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s, self.link_ttl_s = ttl_s, link_ttl_s

    async def create(self, api_key: str) -> Session:
        session = Session(secrets.token_urlsafe(32), api_key, secrets.token_urlsafe(32))
        fields = {"api_key": api_key, "csrf": session.csrf}
        await self.redis.set(
            _redis_key(SESSION_PREFIX, session.token), _seal(session.token, fields), ex=self.ttl_s
        )
        return session

    async def get(self, token: str) -> Session | None:
        """The session of a cookie's token, its lifetime renewed; None if there is none."""
        if not token or len(token) > 100:
            return None
        key = _redis_key(SESSION_PREFIX, token)
        fields = _open(token, await self.redis.getex(key, ex=self.ttl_s))
        if fields is None:
            return None
        return Session(token, fields["api_key"], fields["csrf"])

    async def delete(self, token: str) -> None:
        await self.redis.delete(_redis_key(SESSION_PREFIX, token))

    async def create_link(self, api_key: str) -> str:
        """A one-time sign-in token for `api_key`; put it in a link, never the key."""
        token = secrets.token_urlsafe(32)
        sealed = _seal(token, {"api_key": api_key})
        await self.redis.set(_redis_key(LINK_PREFIX, token), sealed, ex=self.link_ttl_s)
        return token

    async def redeem_link(self, token: str) -> str | None:
        """The API key of a sign-in token, which is used up; None if unknown or expired."""
        if not token or len(token) > 100:
            return None
        fields = _open(token, await self.redis.getdel(_redis_key(LINK_PREFIX, token)))
        return None if fields is None else fields["api_key"]
