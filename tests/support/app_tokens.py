"""The company app's customer and the tokens its server signs for them, for the web chat
tests of in-app sign-in; and what the store holds after a refused attempt."""

from __future__ import annotations

import time
from typing import Any

import jwt
from sqlalchemy import func, select

from adapters.webchat.sessions import SessionSigner
from bot.core.models import ChannelIdentity, Message
from tests.support.webchat_app import WebchatApp

# The company app's customer, and the tokens its server signs for them.
APP_SECRET = "the-company-apps-shared-secret-of-48-bytes-long!!"
CUSTOMER = "CUST-000482"
VERIFIED = {"session_kind": "app", "verified_customer_ref": CUSTOMER, "verification": "app_token"}
GUESSED_SECRET = "a-guessed-secret-that-is-long-enough-to-sign"


def app_token(*, key: str = APP_SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    """A token of the company app for CUSTOMER, with `claims` changed."""
    now = int(time.time())
    base = {"sub": CUSTOMER, "aud": "customer-assistant", "iat": now, "exp": now + 600}
    return jwt.encode({**base, **claims}, key, algorithm=algorithm)


def refused_app_tokens() -> list[str]:
    """Forged, expired, for another audience, unsigned, and not a token at all."""
    now = int(time.time())
    return [
        app_token(key=GUESSED_SECRET),
        app_token(iat=now - 900, exp=now - 120),
        app_token(aud="another-service"),
        app_token(key="", algorithm="none"),
        "not.a.token",
    ]


def app_visitor(app: WebchatApp, customer: str = CUSTOMER) -> str:
    """The web chat visitor of the company app's customer `customer`."""
    signer = SessionSigner.from_settings(app.settings)
    return signer.app_customer(customer, until=int(time.time()) + 60).visitor_id


async def stored_rows(app: WebchatApp) -> tuple[int, int]:
    """How many messages and channel identities the store holds."""
    async with app.database.session() as session:
        messages = await session.scalar(select(func.count()).select_from(Message))
        identities = await session.scalar(select(func.count()).select_from(ChannelIdentity))
    return int(messages or 0), int(identities or 0)
