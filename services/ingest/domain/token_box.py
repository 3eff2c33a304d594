"""Spotify tokens sealed for storage at rest: Fernet under a key derived from the service secret.

`TokenSet` never shows its tokens in a repr, so a logged account or a traceback leaks nothing.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

# Fixed context: changing either value makes every sealed token unreadable, like a new secret.
_KEY_CONTEXT = b"fullcircle/ingest/spotify-token-box/v1"
_KEY_ITERATIONS = 200_000
_MIN_SECRET_CHARS = 16
_SEALED_VERSION = 1


class TokenBoxError(ValueError):
    """Sealed tokens that cannot be opened, or a secret too weak to seal with."""


@dataclass(frozen=True, slots=True, repr=False)
class TokenSet:
    """One Spotify grant: the access token, the refresh token, when access ends, what it allows."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    scope: str

    def __post_init__(self) -> None:
        if self.expires_at.utcoffset() is None:
            raise ValueError(f"expires_at must be timezone-aware, got {self.expires_at!r}")

    def __repr__(self) -> str:
        return (
            f"TokenSet(access_token=<hidden>, refresh_token=<hidden>, "
            f"expires_at={self.expires_at.isoformat()}, scope={self.scope!r})"
        )

    __str__ = __repr__

    def expires_within(self, now: datetime, margin: timedelta = timedelta(seconds=60)) -> bool:
        """True when the access token is expired or will be within `margin` of `now`."""
        return self.expires_at - margin <= now


class TokenBox:
    """Seals and opens `TokenSet`s with a key derived from `secret` (an env var of the service)."""

    def __init__(self, secret: str) -> None:
        if len(secret) < _MIN_SECRET_CHARS:
            raise TokenBoxError(
                f"the Spotify token secret must be at least {_MIN_SECRET_CHARS} characters; "
                'generate one with `python -c "import secrets; print(secrets.token_urlsafe(32))"`'
            )
        kdf = PBKDF2HMAC(
            algorithm=hashes.SHA256(), length=32, salt=_KEY_CONTEXT, iterations=_KEY_ITERATIONS
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(kdf.derive(secret.encode("utf-8"))))

    def __repr__(self) -> str:
        return "TokenBox(<secret hidden>)"

    def seal(self, tokens: TokenSet) -> bytes:
        """The encrypted, authenticated form of `tokens`, safe to store in the database."""
        payload = {
            "v": _SEALED_VERSION,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at.astimezone(UTC).isoformat(),
            "scope": tokens.scope,
        }
        return self._fernet.encrypt(json.dumps(payload).encode("utf-8"))

    def seal_text(self, text: str) -> bytes:
        """Seal a short secret (a PKCE code verifier waiting for its redirect)."""
        return self._fernet.encrypt(text.encode("utf-8"))

    def open_text(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode("utf-8")
        except InvalidToken:
            raise TokenBoxError("cannot open a sealed link request; start the link again") from None

    def open(self, sealed: bytes) -> TokenSet:
        """The tokens inside `sealed`; `TokenBoxError` when the secret changed or the bytes did."""
        try:
            plain = self._fernet.decrypt(sealed)
        except InvalidToken:
            raise TokenBoxError(
                "cannot open the stored Spotify tokens: the token secret differs from the one "
                "they were sealed with (or the stored bytes are damaged); restore the previous "
                "secret, or re-link the account with `fullcircle spotify link --user NAME`"
            ) from None
        payload = json.loads(plain)
        if payload.get("v") != _SEALED_VERSION:
            raise TokenBoxError(f"stored Spotify tokens have unknown version {payload.get('v')!r}")
        return TokenSet(
            access_token=payload["access_token"],
            refresh_token=payload["refresh_token"],
            expires_at=datetime.fromisoformat(payload["expires_at"]),
            scope=payload["scope"],
        )
