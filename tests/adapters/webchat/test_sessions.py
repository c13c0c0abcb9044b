"""Web chat session tokens: issued and read back; forged, expired and malformed ones refused;
an embedding app's user, and the company app's verified customer, always the same visitor,
under an address that hides their id; a verified customer's session ends with their token."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from adapters.webchat.sessions import (
    VISITOR_ID_PATTERN,
    InvalidSession,
    SessionKind,
    SessionSigner,
    WebchatSession,
)

NOW = 1_800_000_000.0
signer = SessionSigner("a-secret-of-the-deployment", timedelta(days=30))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_new_visitor_gets_a_random_id_that_reads_back() -> None:
    first, second = signer.anonymous(now=NOW), signer.anonymous(now=NOW)
    assert VISITOR_ID_PATTERN.match(first.visitor_id)
    assert first.visitor_id != second.visitor_id
    assert first.kind is SessionKind.ANONYMOUS
    assert first.expires_at == NOW + 30 * 86400
    assert signer.read(signer.token(first), now=NOW + 60) == first


def test_an_app_user_is_the_same_visitor_everywhere_under_an_opaque_id() -> None:
    session = signer.app_user("customer-42", now=NOW)
    assert session.kind is SessionKind.APP_USER
    assert signer.app_user("customer-42").visitor_id == session.visitor_id
    assert signer.app_user("customer-43").visitor_id != session.visitor_id
    other = SessionSigner("another-deployment", timedelta(days=1))
    assert other.app_user("customer-42").visitor_id != session.visitor_id
    assert "42" not in session.visitor_id
    assert VISITOR_ID_PATTERN.match(session.visitor_id)
    assert signer.read(signer.token(session), now=NOW) == session


def test_an_app_customer_is_the_same_visitor_everywhere_until_their_token_ends() -> None:
    session = signer.app_customer("CUST-000482", until=int(NOW) + 600, now=NOW)
    assert (session.kind, session.customer_ref) == (SessionKind.APP, "CUST-000482")
    assert session.expires_at == NOW + 600
    assert signer.app_customer("CUST-000482", until=int(NOW) + 60).visitor_id == (
        session.visitor_id
    )
    assert signer.app_customer("CUST-000483", until=int(NOW) + 60).visitor_id != (
        session.visitor_id
    )
    # Not the embedding app's user of the same id: only a token verifies a customer.
    assert signer.app_user("CUST-000482").visitor_id != session.visitor_id
    assert "482" not in session.visitor_id
    assert signer.read(signer.token(session), now=NOW) == session
    # A token that lasts longer than sessions do still gets a session's lifetime.
    long_lived = signer.app_customer("CUST-000482", until=int(NOW) + 90 * 86400, now=NOW)
    assert long_lived.expires_at == NOW + 30 * 86400


def test_an_app_customers_session_is_never_renewed_past_their_token() -> None:
    session = signer.app_customer("CUST-000482", until=int(NOW) + 600, now=NOW)
    renewed = signer.renewed(session, now=NOW + 300)
    assert (renewed.visitor_id, renewed.customer_ref) == (session.visitor_id, "CUST-000482")
    assert renewed.expires_at == session.expires_at
    with pytest.raises(InvalidSession):
        signer.read(signer.token(renewed), now=NOW + 600)


@pytest.mark.parametrize(
    ("kind", "ref"),
    [
        (SessionKind.APP, None),
        (SessionKind.ANONYMOUS, "CUST-000482"),
        (SessionKind.APP_USER, "CUST-000482"),
        (SessionKind.APP, "has a space"),
        (SessionKind.APP, "x" * 65),
    ],
)
def test_a_customer_ref_goes_with_an_app_session_only(kind: SessionKind, ref: str | None) -> None:
    visitor = signer.anonymous(now=NOW).visitor_id
    token = signer.token(WebchatSession(visitor, kind, int(NOW), int(NOW) + 60, ref))
    with pytest.raises(InvalidSession):
        signer.read(token, now=NOW)


def test_renewed_is_the_same_visitor_for_longer() -> None:
    session = signer.app_user("customer-42", now=NOW)
    renewed = signer.renewed(session, now=NOW + 86400)
    assert (renewed.visitor_id, renewed.kind) == (session.visitor_id, session.kind)
    assert renewed.expires_at == session.expires_at + 86400


def test_an_expired_token_is_refused() -> None:
    token = signer.token(signer.anonymous(now=NOW))
    with pytest.raises(InvalidSession):
        signer.read(token, now=NOW + 30 * 86400)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    forged = SessionSigner("guessed", timedelta(days=30)).token(signer.anonymous(now=NOW))
    with pytest.raises(InvalidSession):
        signer.read(forged, now=NOW)


def test_another_visitor_cannot_be_put_in_a_signed_token() -> None:
    mine, theirs = signer.anonymous(now=NOW), signer.anonymous(now=NOW)
    payload, _, signature = signer.token(mine).partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    swapped = _b64(json.dumps({**claims, "sub": theirs.visitor_id}).encode())
    with pytest.raises(InvalidSession):
        signer.read(f"{swapped}.{signature}", now=NOW)


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "no-dot-at-all",
        "a.b",
        "é.ü",
        "x" * 10_000 + "." + "y",
        f"{_b64(b'{}')}.{_b64(b'0' * 32)}",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidSession):
        signer.read(token, now=NOW)


def test_a_validly_signed_token_with_bad_claims_is_refused() -> None:
    # Only we can sign, but a token from an older format must still fail cleanly.
    payload = _b64(json.dumps({"sub": "short", "kind": "anonymous", "iat": 0, "exp": 2e9}).encode())
    token = f"{payload}.{signer._sign(payload)}"
    with pytest.raises(InvalidSession):
        signer.read(token, now=NOW)


def test_an_empty_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        SessionSigner("", timedelta(days=1))
