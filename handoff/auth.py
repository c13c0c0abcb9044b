"""Agent sign-in: passwords hashed with scrypt, short-lived signed bearer tokens.

Tokens are `<payload>.<signature>`: base64url JSON {"sub": agent id, "exp": unix time,
"gen": the agent's token generation} signed with HMAC-SHA256 under AGENT_TOKEN_SECRET (set it
to the same value on every app instance; the random default signs everyone out on restart).
Signing out (or a new password) raises the agent's generation in the database, which every
instance reads with the agent on each request: older tokens are refused everywhere.

scrypt takes about 50 ms of CPU: `check_password` runs it in a thread, never on the event
loop, and against a dummy hash of the same cost when there is no account, so an unknown
email takes as long as a wrong password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# scrypt cost: 2^15 x 8 x 1 uses 32 MB and about 50 ms a check.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024


class InvalidToken(ValueError):
    """A bearer token that is malformed, forged or expired."""


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: whose it is, of which generation, until when."""

    agent_id: int
    generation: int
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM)


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password`, with its parameters, for storing."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


# Checked when there is no account: the same cost as a real hash, and no password gives a
# digest of 64 zero bytes.
DUMMY_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(bytes(16))}${_b64(bytes(64))}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash from `hash_password` (constant-time compare).

    Blocking (about 50 ms): in the app use `check_password`."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, _unb64(digest))


async def check_password(password: str, stored: str | None) -> bool:
    """`verify_password` in a thread (hashlib releases the GIL), so the event loop keeps
    serving; with no stored hash (no such account) the same work is done and it is False."""
    if stored is None:
        await asyncio.to_thread(verify_password, password, DUMMY_HASH)
        return False
    return await asyncio.to_thread(verify_password, password, stored)


def issue_token(
    agent_id: int, *, secret: str, now: datetime, lifetime: timedelta, generation: int = 0
) -> str:
    """A bearer token for `agent_id` (of its token `generation`), valid for `lifetime`."""
    claims = {"sub": agent_id, "exp": int((now + lifetime).timestamp()), "gen": generation}
    payload = _b64(json.dumps(claims).encode())
    return f"{payload}.{_sign(payload, secret)}"


def read_token(token: str, *, secret: str, now: datetime) -> TokenClaims:
    """What a valid token says; InvalidToken if it is malformed, forged or expired."""
    payload, _, signature = token.partition(".")
    # Compared as bytes: compare_digest refuses str with other than ASCII in it.
    expected = _sign(payload, secret).encode()
    if not payload or not hmac.compare_digest(signature.encode(errors="replace"), expected):
        raise InvalidToken("invalid token")
    try:
        claims = json.loads(_unb64(payload))
        agent_id, expires = int(claims["sub"]), int(claims["exp"])
        generation = int(claims.get("gen", 0))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidToken("invalid token") from error
    if now.timestamp() >= expires:
        raise InvalidToken("token expired")
    return TokenClaims(agent_id, generation, datetime.fromtimestamp(expires, UTC))


def _sign(payload: str, secret: str) -> str:
    message = payload.encode(errors="replace")
    return _b64(hmac.new(secret.encode(), message, hashlib.sha256).digest())
