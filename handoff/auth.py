"""Agent sign-in: passwords hashed with scrypt, short-lived signed bearer tokens.

Tokens are `<payload>.<signature>`: base64url JSON {"sub": agent id, "exp": unix time}
signed with HMAC-SHA256 under AGENT_TOKEN_SECRET (set it to the same value on every app
instance; the random default signs everyone out on restart).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta

# scrypt cost: 2^15 x 8 x 1 uses 32 MB and about 50 ms a check.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024


class InvalidToken(ValueError):
    """A bearer token that is malformed, forged or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password`, with its parameters, for storing."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash from `hash_password` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MAXMEM,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, _unb64(digest))


def issue_token(agent_id: int, *, secret: str, now: datetime, lifetime: timedelta) -> str:
    """A bearer token for `agent_id`, valid for `lifetime` from `now`."""
    payload = _b64(json.dumps({"sub": agent_id, "exp": int((now + lifetime).timestamp())}).encode())
    return f"{payload}.{_sign(payload, secret)}"


def read_token(token: str, *, secret: str, now: datetime) -> int:
    """The agent id in a valid token; InvalidToken if it is malformed, forged or expired."""
    payload, _, signature = token.partition(".")
    if not payload or not signature or not hmac.compare_digest(signature, _sign(payload, secret)):
        raise InvalidToken("invalid token")
    try:
        claims = json.loads(_unb64(payload))
        agent_id, expires = int(claims["sub"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidToken("invalid token") from error
    if now.timestamp() >= expires:
        raise InvalidToken("token expired")
    return agent_id


def _sign(payload: str, secret: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
