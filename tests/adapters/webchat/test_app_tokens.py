"""The company app's signed tokens: valid HS256, RS256 and ES256 tokens name the customer;
expired, early, wrong-audience, wrong-issuer, unsigned (`alg: none`), confused (HS256 keyed
with the public key) and malformed ones are refused with a reason, never echoing the token;
settings that cannot work fail with a message that says how to fix them. (The REST and
WebSocket paths are tested in `test_routes` and `test_socket`.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.webchat.app_tokens import (
    MAX_APP_TOKEN_CHARS,
    AppTokenConfigError,
    AppTokenRejected,
    AppTokenVerifier,
    RejectReason,
    keys_of,
)
from bot.core.settings import Settings

AUDIENCE = "customer-assistant"
ISSUER = "https://shop.example.com"
SECRET = "the-company-apps-shared-secret-of-48-bytes-long!!"
CUSTOMER = "CUST-000482"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """The PEM text of the public half of `key`."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


RSA_PEM = public_pem(RSA_KEY)
EC_PEM = public_pem(EC_KEY)


def claims(**changes: Any) -> dict[str, Any]:
    """A valid token's claims, with `changes` (None removes a claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": CUSTOMER,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def hs256(**changes: Any) -> str:
    """A token signed with the shared secret."""
    return jwt.encode(claims(**changes), SECRET, algorithm="HS256")


def rs256(key: rsa.RSAPrivateKey = RSA_KEY, **changes: Any) -> str:
    """A token signed with an RSA private key."""
    return jwt.encode(claims(**changes), key, algorithm="RS256")


def b64(data: bytes) -> str:
    """base64url without padding, as in a JWT."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_built(header: dict[str, Any], body: dict[str, Any], hmac_key: bytes | None = None) -> str:
    """A token put together by hand: unsigned, or HMAC-SHA256 signed under `hmac_key`
    (which PyJWT refuses to do with a public key, as an attacker would not)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    if hmac_key is None:
        return f"{signing_input}."
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def verifier(*, secret: str = "", public_key: str = "", issuer: str = "") -> AppTokenVerifier:
    """A verifier of the given keys, for AUDIENCE, with 30 seconds of leeway."""
    keys = keys_of(secret=secret, public_key=public_key)
    return AppTokenVerifier(keys, audience=AUDIENCE, issuer=issuer, leeway_seconds=30)


def rejection(check: AppTokenVerifier, token: str) -> RejectReason:
    """Why `check` refuses `token` (which must not show in the error)."""
    with pytest.raises(AppTokenRejected) as rejected:
        check.verify(token)
    error = rejected.value
    assert not token or token not in str(error)
    # PyJWT's own error stays out of tracebacks (and so out of logs).
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error.reason


def test_a_valid_hs256_token_names_the_customer() -> None:
    issued = int(time.time())
    identity = verifier(secret=SECRET).verify(hs256(iat=issued, exp=issued + 300))
    assert identity.customer_ref == CUSTOMER
    assert identity.issued_at == datetime.fromtimestamp(issued, UTC)
    assert identity.expires_at == datetime.fromtimestamp(issued + 300, UTC)


def test_valid_rs256_and_es256_tokens_name_the_customer(tmp_path: Path) -> None:
    assert verifier(public_key=RSA_PEM).verify(rs256()).customer_ref == CUSTOMER
    es256 = jwt.encode(claims(), EC_KEY, algorithm="ES256")
    assert verifier(public_key=EC_PEM).verify(es256).customer_ref == CUSTOMER
    # The setting may name a PEM file, or carry the PEM with its line breaks escaped.
    pem_file = tmp_path / "app.pem"
    pem_file.write_text(RSA_PEM)
    assert verifier(public_key=str(pem_file)).verify(rs256()).customer_ref == CUSTOMER
    escaped = RSA_PEM.replace("\n", "\\n")
    assert verifier(public_key=escaped).verify(rs256()).customer_ref == CUSTOMER


def test_only_the_algorithms_of_the_configured_keys_are_allowed() -> None:
    assert verifier(secret=SECRET).algorithms == ["HS256"]
    assert verifier(public_key=RSA_PEM).algorithms == ["RS256"]
    assert verifier(public_key=EC_PEM).algorithms == ["ES256"]
    both = verifier(secret=SECRET, public_key=RSA_PEM)
    assert both.verify(hs256()).customer_ref == both.verify(rs256()).customer_ref == CUSTOMER
    es256 = jwt.encode(claims(), EC_KEY, algorithm="ES256")
    rs384 = jwt.encode(claims(), RSA_KEY, algorithm="RS384")
    not_allowed = RejectReason.ALGORITHM_NOT_ALLOWED
    assert rejection(verifier(public_key=RSA_PEM), es256) == not_allowed
    assert rejection(verifier(public_key=RSA_PEM), rs384) == not_allowed
    assert rejection(verifier(public_key=RSA_PEM), hs256()) == not_allowed
    assert rejection(verifier(secret=SECRET), rs256()) == not_allowed


def test_hs256_keyed_with_the_public_key_is_refused() -> None:
    """Algorithm confusion: the public key is public, so an HMAC under it proves nothing."""
    for pem in (RSA_PEM, RSA_PEM.strip(), RSA_PEM.replace("\n", "\\n")):
        confused = hand_built({"alg": "HS256", "typ": "JWT"}, claims(), pem.encode())
        only_public = verifier(public_key=RSA_PEM)
        assert rejection(only_public, confused) == RejectReason.ALGORITHM_NOT_ALLOWED
        # With a shared secret configured too, HS256 is checked against the secret only.
        both = verifier(secret=SECRET, public_key=RSA_PEM)
        assert rejection(both, confused) == RejectReason.BAD_SIGNATURE


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_unsigned_tokens_are_refused(alg: str) -> None:
    unsigned = hand_built({"alg": alg, "typ": "JWT"}, claims())
    for check in (verifier(secret=SECRET), verifier(public_key=RSA_PEM)):
        assert rejection(check, unsigned) == RejectReason.ALGORITHM_NOT_ALLOWED
        assert rejection(check, unsigned + "c2lnbmF0dXJl") == RejectReason.ALGORITHM_NOT_ALLOWED
    no_alg = hand_built({"typ": "JWT"}, claims())
    assert rejection(verifier(secret=SECRET), no_alg) == RejectReason.ALGORITHM_NOT_ALLOWED


def test_a_token_signed_with_another_key_is_refused() -> None:
    forged = jwt.encode(claims(), "a-guessed-secret-that-is-long-enough-to-sign", "HS256")
    assert rejection(verifier(secret=SECRET), forged) == RejectReason.BAD_SIGNATURE
    assert rejection(verifier(public_key=RSA_PEM), rs256(OTHER_RSA_KEY)) == (
        RejectReason.BAD_SIGNATURE
    )
    # Another customer put into a genuine token breaks its signature.
    header, _, signature = hs256().split(".")
    swapped = f"{header}.{b64(json.dumps(claims(sub='CUST-000001')).encode())}.{signature}"
    assert rejection(verifier(secret=SECRET), swapped) == RejectReason.BAD_SIGNATURE


def test_expired_and_not_yet_valid_tokens_are_refused_beyond_the_leeway() -> None:
    check, now = verifier(secret=SECRET), int(time.time())
    assert rejection(check, hs256(iat=now - 900, exp=now - 60)) == RejectReason.EXPIRED
    assert rejection(check, hs256(nbf=now + 120)) == RejectReason.NOT_YET_VALID
    assert rejection(check, hs256(iat=now + 120)) == RejectReason.NOT_YET_VALID
    # Within the leeway (clocks differ a little): accepted.
    assert check.verify(hs256(exp=now - 10)).customer_ref == CUSTOMER
    assert check.verify(hs256(nbf=now + 10, iat=now + 10)).customer_ref == CUSTOMER


def test_the_audience_must_be_ours() -> None:
    check = verifier(secret=SECRET)
    assert rejection(check, hs256(aud="another-service")) == RejectReason.WRONG_AUDIENCE
    assert rejection(check, hs256(aud=["a", "b"])) == RejectReason.WRONG_AUDIENCE
    assert check.verify(hs256(aud=["another-service", AUDIENCE])).customer_ref == CUSTOMER


def test_the_issuer_is_checked_when_configured() -> None:
    check = verifier(secret=SECRET, issuer=ISSUER)
    assert check.verify(hs256()).customer_ref == CUSTOMER
    assert rejection(check, hs256(iss="https://evil.example.com")) == RejectReason.WRONG_ISSUER
    assert rejection(check, hs256(iss=None)) == RejectReason.MISSING_CLAIM
    # Not configured: any issuer (or none) is fine.
    assert verifier(secret=SECRET).verify(hs256(iss="anyone")).customer_ref == CUSTOMER
    assert verifier(secret=SECRET).verify(hs256(iss=None)).customer_ref == CUSTOMER


@pytest.mark.parametrize("missing", ["sub", "exp", "aud"])
def test_sub_exp_and_aud_are_required(missing: str) -> None:
    token = hs256(**{missing: None})
    assert rejection(verifier(secret=SECRET), token) == RejectReason.MISSING_CLAIM


@pytest.mark.parametrize("subject", [42, "", "x" * 65, "CUST 1", "CUST-1\n", "ĆUST-1", ["a"]])
def test_the_subject_must_be_a_short_plain_string(subject: Any) -> None:
    assert rejection(verifier(secret=SECRET), hs256(sub=subject)) == RejectReason.INVALID_SUBJECT


def _signed(header: str, payload: str) -> str:
    signature = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64(signature.digest())}"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "..",
        "....",
        "eyJhbGciOiJIUzI1NiJ9.!!!!.sig",
        "x" * (MAX_APP_TOKEN_CHARS + 1),
        f"{b64(b'not json')}.{b64(b'{}')}.c2ln",
        f"{b64(b'[1, 2]')}.{b64(b'{}')}.c2ln",
        _signed(b64(b'{"alg":"HS256"}'), b64(b"not json")),
        _signed(b64(b'{"alg":"HS256"}'), b64(b"[1]")),
        _signed(b64(b'{"alg":"HS256"}'), b64(b'{"sub":"a","aud":"customer-assistant","exp":"x"}')),
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert rejection(verifier(secret=SECRET), token) == RejectReason.MALFORMED


def test_without_keys_every_token_is_refused() -> None:
    assert rejection(verifier(), hs256()) == RejectReason.NOT_CONFIGURED


def test_settings_that_cannot_work_say_how_to_fix_them(tmp_path: Path) -> None:
    weak_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    cases = [
        ({"secret": "short"}, "APP_TOKEN_SECRET is shorter than 32 bytes"),
        ({"public_key": "-----BEGIN PUBLIC KEY-----\nnope\n"}, "not a PEM public key"),
        ({"public_key": str(tmp_path / "missing.pem")}, "neither PEM text nor a readable file"),
        ({"public_key": public_pem(weak_rsa)}, "at least 2048 bits"),
        ({"public_key": public_pem(p384)}, "P-256"),
    ]
    for settings, message in cases:
        with pytest.raises(AppTokenConfigError, match=message):
            keys_of(**{"secret": "", "public_key": "", **settings})
    with pytest.raises(AppTokenConfigError, match="APP_TOKEN_AUDIENCE"):
        AppTokenVerifier(keys_of(secret=SECRET, public_key=""), audience="")


def test_the_verifier_of_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path / "var",
        app_token_public_key=RSA_PEM,
        app_token_issuer=ISSUER,
        app_token_leeway_seconds=0,
    )
    check = AppTokenVerifier.from_settings(settings)
    assert check is AppTokenVerifier.from_settings(settings)  # built once
    assert check.algorithms == ["RS256"]
    assert check.verify(rs256()).customer_ref == CUSTOMER
    assert rejection(check, rs256(iss="someone-else")) == RejectReason.WRONG_ISSUER
    assert rejection(check, rs256(exp=int(time.time()) - 5)) == RejectReason.EXPIRED
    nothing = AppTokenVerifier.from_settings(Settings(var_dir=tmp_path / "var"))
    assert rejection(nothing, rs256()) == RejectReason.NOT_CONFIGURED
