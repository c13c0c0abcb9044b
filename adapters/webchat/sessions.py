"""Web chat sessions: the signed credential that says which visitor a page is.

A visitor id is the store's address for a web chat identity. The server chooses it (random
for an anonymous visitor, derived from the user id for an embedding app's signed-in user or
from the customer ref of the company app's verified customer) and puts it in a token
`<payload>.<signature>`: base64url JSON {"sub": visitor id, "kind", "iat", "exp", and for an
app customer "ref"} signed with HMAC-SHA256 under WEBCHAT_SESSION_SECRET. Only the holder of
a token the server issued can read or write that visitor's conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from adapters.webchat.app_tokens import CUSTOMER_REF_PATTERN
from bot.core.settings import Settings

# 18 random bytes: 24 url-safe characters, 144 bits nobody can guess.
VISITOR_ID_BYTES = 18
VISITOR_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{24}$")
# Nothing we issue is longer; anything longer is refused before any work is done on it.
MAX_TOKEN_CHARS = 512
# Separates the two uses of the secret, so a signature can never pass for a visitor id.
SIGNING_CONTEXT = b"webchat-session\x00"
APP_USER_CONTEXT = b"webchat-app-user\x00"
# Its own context: a verified customer ref never lands on the visitor of an embedding app's
# user id of the same text (a user id the embed secret binds verifies no one).
APP_CUSTOMER_CONTEXT = b"webchat-app-customer\x00"


class SessionKind(StrEnum):
    """Who opened the session: a visitor of the page, the embedding app for its user, or the
    company app's customer with a verified token (see `app_tokens`)."""

    ANONYMOUS = "anonymous"
    APP_USER = "app_user"
    APP = "app"


class InvalidSession(ValueError):
    """A token that is malformed, forged or expired."""


@dataclass(frozen=True)
class WebchatSession:
    """One visitor's session: who (the store's address), how they got it, until when, and
    for the kind APP the customer ref the company app's token vouched for."""

    visitor_id: str
    kind: SessionKind
    issued_at: int
    expires_at: int
    customer_ref: str | None = None

    def expires_at_iso(self) -> str:
        """The expiry as an ISO 8601 UTC timestamp."""
        return datetime.fromtimestamp(self.expires_at, UTC).isoformat()


class SessionSigner:
    """Issues and reads session tokens under one secret, each valid for `lifetime`."""

    def __init__(self, secret: str, lifetime: timedelta) -> None:
        if not secret:
            raise ValueError("the web chat session secret must not be empty")
        self._key = secret.encode()
        self._lifetime = int(lifetime.total_seconds())

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionSigner:
        """The signer of WEBCHAT_SESSION_SECRET with WEBCHAT_SESSION_DAYS of validity."""
        return cls(
            settings.webchat_session_secret.get_secret_value(),
            timedelta(days=settings.webchat_session_days),
        )

    def anonymous(self, *, now: float | None = None) -> WebchatSession:
        """A session for a new visitor with a fresh random id."""
        visitor_id = secrets.token_urlsafe(VISITOR_ID_BYTES)
        return self._session(visitor_id, SessionKind.ANONYMOUS, now)

    def app_user(self, user: str, *, now: float | None = None) -> WebchatSession:
        """A session for the embedding app's user `user`: the same visitor on every device,
        and an address from which the user id cannot be read back."""
        digest = hmac.new(self._key, APP_USER_CONTEXT + user.encode(), hashlib.sha256).digest()
        return self._session(_b64(digest[:VISITOR_ID_BYTES]), SessionKind.APP_USER, now)

    def app_customer(
        self, customer_ref: str, *, until: int, now: float | None = None
    ) -> WebchatSession:
        """A session for the company app's verified customer `customer_ref`: the same visitor
        on every device (an HMAC of the ref), ending no later than `until` (the expiry of the
        token that vouched for them)."""
        digest = hmac.new(
            self._key, APP_CUSTOMER_CONTEXT + customer_ref.encode(), hashlib.sha256
        ).digest()
        session = self._session(_b64(digest[:VISITOR_ID_BYTES]), SessionKind.APP, now)
        return replace(
            session, expires_at=min(session.expires_at, until), customer_ref=customer_ref
        )

    def renewed(self, session: WebchatSession, *, now: float | None = None) -> WebchatSession:
        """The same visitor and kind, valid for a full lifetime from now; an app customer's
        session never beyond its current end (the app's token vouched for no longer)."""
        fresh = self._session(session.visitor_id, session.kind, now)
        if session.kind is SessionKind.APP:
            ends = min(fresh.expires_at, session.expires_at)
            return replace(fresh, expires_at=ends, customer_ref=session.customer_ref)
        return fresh

    def token(self, session: WebchatSession) -> str:
        """The signed token that carries `session`."""
        claims: dict[str, str | int] = {
            "sub": session.visitor_id,
            "kind": session.kind.value,
            "iat": session.issued_at,
            "exp": session.expires_at,
        }
        if session.customer_ref is not None:
            claims["ref"] = session.customer_ref
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def read(self, token: str, *, now: float | None = None) -> WebchatSession:
        """The session in a token we issued; InvalidSession if malformed, forged or expired."""
        payload, _, signature = token.partition(".")
        if len(token) > MAX_TOKEN_CHARS or not payload or not signature:
            raise InvalidSession("malformed token")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise InvalidSession("bad signature")
        session = _claims(payload)
        if (time.time() if now is None else now) >= session.expires_at:
            raise InvalidSession("expired")
        return session

    def _session(self, visitor_id: str, kind: SessionKind, now: float | None) -> WebchatSession:
        issued = int(time.time() if now is None else now)
        return WebchatSession(visitor_id, kind, issued, issued + self._lifetime)

    def _sign(self, payload: str) -> str:
        signed = SIGNING_CONTEXT + payload.encode()
        return _b64(hmac.new(self._key, signed, hashlib.sha256).digest())


def _claims(payload: str) -> WebchatSession:
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        ref = claims.get("ref")
        session = WebchatSession(
            str(claims["sub"]),
            SessionKind(claims["kind"]),
            int(claims["iat"]),
            int(claims["exp"]),
            None if ref is None else str(ref),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidSession("malformed claims") from error
    if not VISITOR_ID_PATTERN.match(session.visitor_id):
        raise InvalidSession("malformed visitor id")
    # A customer ref belongs to an app customer's session, and theirs always has one.
    has_ref = session.customer_ref is not None
    if has_ref != (session.kind is SessionKind.APP) or (
        has_ref and not CUSTOMER_REF_PATTERN.fullmatch(str(session.customer_ref))
    ):
        raise InvalidSession("malformed customer ref")
    return session


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
