"""Signed, expiring links to a payment's receipt (a PDF served by the app), so a receipt
can be shown on web chat and email without signing in; the link names nothing guessable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from bot.core.settings import Settings

LINK_SECONDS = 7 * 24 * 3600


def _key(settings: Settings) -> bytes:
    # Derived from the codes' secret: one secret to keep, different keys per use.
    secret = settings.otp_secret.get_secret_value().encode()
    return hmac.new(secret, b"receipt-links", hashlib.sha256).digest()


def receipt_token(settings: Settings, *, payment_ref: str, customer_ref: str) -> str:
    """A token naming the payment and its customer, valid for a week."""
    body = json.dumps({"p": payment_ref, "c": customer_ref, "e": int(time.time()) + LINK_SECONDS})
    data = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    signature = hmac.new(_key(settings), data.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{data}.{signature}"


def receipt_url(settings: Settings, *, payment_ref: str, customer_ref: str) -> str:
    """The link customers open."""
    token = receipt_token(settings, payment_ref=payment_ref, customer_ref=customer_ref)
    return f"{settings.app_url}/receipts/{token}"


def read_receipt_token(settings: Settings, token: str) -> tuple[str, str] | None:
    """(payment ref, customer ref) of a valid, unexpired token; None otherwise."""
    data, _, signature = token.partition(".")
    if not data.isascii() or not signature.isascii():
        return None  # not ours (and compare_digest refuses str with other characters)
    expected = hmac.new(_key(settings), data.encode(), hashlib.sha256).hexdigest()[:32]
    if not data or not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        payment_ref, customer_ref, expires = str(body["p"]), str(body["c"]), int(body["e"])
    except (ValueError, KeyError, TypeError):
        return None
    return (payment_ref, customer_ref) if expires > time.time() else None
