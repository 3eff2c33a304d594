"""Per-user API keys: `fc_<key id>_<secret>`; only the secret's SHA-256 is stored.

The secret has 256 bits of entropy, so a fast hash is enough (no password stretching needed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX = "fc"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    secret: str

    @property
    def token(self) -> str:
        """What the listener is shown once and sends as `authorization: Bearer <token>`."""
        return f"{PREFIX}_{self.key_id}_{self.secret}"

    @property
    def secret_hash(self) -> str:
        return hash_secret(self.secret)


def new_api_key() -> ApiKey:
    return ApiKey(key_id=secrets.token_hex(6), secret=secrets.token_urlsafe(32))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> ApiKey | None:
    """The key in a bearer token, or None when it is not shaped like one of ours."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret:
        return None
    return ApiKey(key_id=key_id, secret=secret)


def key_id_of(text: str) -> str:
    """The key id in what a caller names a key by: the id itself, `fc_<id>` or a whole token;
    empty when that is not shaped like a key id (12 hex characters, as `new_api_key` makes)."""
    key_id = text.strip().removeprefix(f"{PREFIX}_").split("_")[0]
    return key_id if len(key_id) == 12 and all(c in "0123456789abcdef" for c in key_id) else ""


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
