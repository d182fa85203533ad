"""Who may call the sandbox: HS256 JWTs for the REST API v1, HTTP Basic for the XML Web API.

Tokens are signed with a per-process key, carry ``exp`` and a ``jti``; a token is valid until it
expires or :meth:`Tokens.revoke_all` is called (to test a client's re-login). Passwords are
compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Mapping


class Unauthorized(Exception):
    """No valid credentials; the message is what the ESM answers."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def password_matches(users: Mapping[str, str], user: str, password: str) -> bool:
    expected = users.get(user)
    return expected is not None and hmac.compare_digest(
        expected.encode("utf-8"), password.encode("utf-8")
    )


def basic_user(users: Mapping[str, str], header: str | None) -> str:
    """The user of a valid ``Authorization: Basic`` header; else :class:`Unauthorized`."""
    header = header or ""
    if not header.lower().startswith("basic "):
        raise Unauthorized("Authentication required")
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        raise Unauthorized("Authentication required") from None
    if not password_matches(users, user, password):
        raise Unauthorized("Authentication required")
    return user


class Tokens:
    """Issues and checks the REST API's JWTs."""

    def __init__(self, lifetime_seconds: float) -> None:
        self.lifetime_seconds = lifetime_seconds
        self.issued = 0
        self._key = secrets.token_bytes(32)
        # jti -> exact expiry of the tokens not yet revoked (the exp claim is rounded up)
        self._valid: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, user: str) -> str:
        now = time.time()
        jti = uuid.uuid4().hex
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "sub": user,
            "iat": int(now),
            "exp": math.ceil(now + self.lifetime_seconds),
            "jti": jti,
        }
        payload = b64url(json.dumps(claims).encode())
        signature = self._sign(f"{header}.{payload}")
        with self._lock:
            for old in [k for k, v in self._valid.items() if v <= now]:
                del self._valid[old]
            self._valid[jti] = now + self.lifetime_seconds
            self.issued += 1
        return f"{header}.{payload}.{signature}"

    def user_of(self, authorization: str | None) -> str:
        """The user of a valid ``Bearer`` token; else :class:`Unauthorized`."""
        invalid = Unauthorized("JWT token is missing, invalid or expired")
        if not authorization or not authorization.lower().startswith("bearer "):
            raise invalid
        parts = authorization[7:].strip().split(".")
        if len(parts) != 3 or not hmac.compare_digest(
            self._sign(f"{parts[0]}.{parts[1]}"), parts[2]
        ):
            raise invalid
        try:
            claims = json.loads(b64url_decode(parts[1]))
        except ValueError:
            raise invalid from None
        with self._lock:
            expires = self._valid.get(str(claims.get("jti")))
        if expires is None or time.time() >= expires:
            raise invalid
        return str(claims.get("sub", ""))

    def revoke_all(self) -> None:
        with self._lock:
            self._valid.clear()

    def _sign(self, signing_input: str) -> str:
        return b64url(hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest())
