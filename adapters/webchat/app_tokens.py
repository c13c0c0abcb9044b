"""The company app's signed tokens (JWT): who a customer signed into the app is, vouched for
by the app, so web chat can treat them as verified at once.

What is configured decides the algorithms, never the token: APP_TOKEN_SECRET allows HS256,
APP_TOKEN_PUBLIC_KEY allows RS256 (an RSA key) or ES256 (a P-256 key). The algorithm a token
names picks the one key it is checked with, so a public key is never used as an HMAC secret
(algorithm confusion) and `alg: none` is never accepted.

Claims: `sub` (required: the customer's id in the company's systems, 1-64 visible ASCII
characters), `exp` and `aud` (required, `aud` must include APP_TOKEN_AUDIENCE), `iss` (required
and checked when APP_TOKEN_ISSUER is set), `nbf` and `iat` (checked when present), with
APP_TOKEN_LEEWAY_SECONDS of tolerance for clocks that differ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.exceptions import InvalidSubjectError

from bot.core.settings import Settings

# A JWT with the usual claims is well under 1 KiB; this leaves room for the company's own
# claims while refusing a huge string before any decoding work is done on it.
MAX_APP_TOKEN_CHARS = 4096
# Fits the conversation's `verified_customer_ref` column; visible ASCII only, so a ref can
# carry no control characters or look-alike letters into logs and the agent console.
CUSTOMER_REF_PATTERN = re.compile(r"[\x21-\x7e]{1,64}")
# RFC 7518 3.2: an HS256 key must be at least as long as the hash (256 bits).
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048

VerificationKey = bytes | rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class RejectReason(StrEnum):
    """Why a token was refused: safe to log and to tell the client (never the token)."""

    NOT_CONFIGURED = "not_configured"
    MALFORMED = "malformed"
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_ISSUER = "wrong_issuer"
    MISSING_CLAIM = "missing_claim"
    INVALID_SUBJECT = "invalid_subject"


class AppTokenRejected(Exception):
    """A token that is not accepted; `reason` says why."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(f"app token rejected: {reason.value}")
        self.reason = reason


class AppTokenConfigError(ValueError):
    """APP_TOKEN_* settings that cannot work; the message says how to fix them."""


@dataclass(frozen=True)
class AppIdentity:
    """The customer a valid token vouches for, and the token's lifetime."""

    customer_ref: str
    issued_at: datetime | None
    expires_at: datetime


# Most specific first: InvalidSignatureError is a DecodeError, ImmatureSignatureError covers
# both `nbf` and an `iat` in the future.
_REASONS: tuple[tuple[type[jwt.PyJWTError], RejectReason], ...] = (
    (jwt.InvalidSignatureError, RejectReason.BAD_SIGNATURE),
    (jwt.InvalidKeyError, RejectReason.BAD_SIGNATURE),
    (jwt.InvalidAlgorithmError, RejectReason.ALGORITHM_NOT_ALLOWED),
    (jwt.ExpiredSignatureError, RejectReason.EXPIRED),
    (jwt.ImmatureSignatureError, RejectReason.NOT_YET_VALID),
    (jwt.InvalidAudienceError, RejectReason.WRONG_AUDIENCE),
    (jwt.InvalidIssuerError, RejectReason.WRONG_ISSUER),
    (jwt.MissingRequiredClaimError, RejectReason.MISSING_CLAIM),
    (InvalidSubjectError, RejectReason.INVALID_SUBJECT),
)


class AppTokenVerifier:
    """Checks the company app's tokens against the keys and claims configured."""

    def __init__(
        self,
        keys: Mapping[str, VerificationKey],
        *,
        audience: str,
        issuer: str = "",
        leeway_seconds: int = 0,
    ) -> None:
        if keys and not audience:
            raise AppTokenConfigError(
                "APP_TOKEN_AUDIENCE is empty: set it to the audience the company's app puts "
                "in its tokens for this assistant (tokens without it are refused)."
            )
        self._keys = dict(keys)
        self._audience = audience
        self._issuer = issuer or None
        self._leeway = leeway_seconds
        self._required = ["exp", "aud", "sub"] + (["iss"] if issuer else [])

    @classmethod
    def from_settings(cls, settings: Settings) -> AppTokenVerifier:
        """The verifier of the APP_TOKEN_* settings (built once per configuration);
        AppTokenConfigError when they cannot work."""
        return _cached_verifier(
            settings.app_token_secret.get_secret_value(),
            settings.app_token_public_key,
            settings.app_token_audience,
            settings.app_token_issuer,
            settings.app_token_leeway_seconds,
        )

    @property
    def algorithms(self) -> list[str]:
        """The algorithms a token may use here (none when nothing is configured)."""
        return sorted(self._keys)

    def verify(self, token: str) -> AppIdentity:
        """The customer `token` vouches for; AppTokenRejected if it is not accepted."""
        if not self._keys:
            raise AppTokenRejected(RejectReason.NOT_CONFIGURED)
        # A compact JWS always has three parts; anything else is not worth decoding.
        if not isinstance(token, str) or len(token) > MAX_APP_TOKEN_CHARS or token.count(".") != 2:
            raise AppTokenRejected(RejectReason.MALFORMED)
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise AppTokenRejected(RejectReason.MALFORMED) from None
        # The header only selects among the keys we hold; an algorithm with no key of its
        # own here ("none", HS256 when only a public key is set) goes no further.
        if not isinstance(algorithm, str) or algorithm not in self._keys:
            raise AppTokenRejected(RejectReason.ALGORITHM_NOT_ALLOWED)
        try:
            claims = jwt.decode(
                token,
                self._keys[algorithm],
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={
                    "require": self._required,
                    "verify_sub": True,
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as error:
            # `from None`: PyJWT's own message stays out of tracebacks and logs.
            raise AppTokenRejected(_reason_of(error)) from None
        return _identity(claims)


def keys_of(*, secret: str, public_key: str) -> dict[str, VerificationKey]:
    """The verification key of each algorithm the configuration allows: HS256 for a shared
    secret, RS256 or ES256 for a public key (PEM text, or the path of a PEM file)."""
    keys: dict[str, VerificationKey] = {}
    if secret:
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise AppTokenConfigError(
                f"APP_TOKEN_SECRET is shorter than {MIN_SECRET_BYTES} bytes: use a random "
                "secret of at least 32 bytes (e.g. `openssl rand -base64 48`)."
            )
        keys["HS256"] = secret.encode()
    if public_key.strip():
        algorithm, key = _public_key(public_key)
        keys[algorithm] = key
    return keys


def _public_key(setting: str) -> tuple[str, VerificationKey]:
    """The algorithm and key of APP_TOKEN_PUBLIC_KEY."""
    pem = _pem_of(setting)
    try:
        if b"BEGIN CERTIFICATE" in pem:
            key: Any = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise AppTokenConfigError(
            "APP_TOKEN_PUBLIC_KEY is not a PEM public key or certificate: give the "
            "'-----BEGIN PUBLIC KEY-----' text or the path of a file holding it."
        ) from error
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        return "RS256", key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256", key
    raise AppTokenConfigError(
        f"APP_TOKEN_PUBLIC_KEY must be an RSA key of at least {MIN_RSA_BITS} bits (RS256) "
        "or an EC key on P-256 (ES256)."
    )


def _pem_of(setting: str) -> bytes:
    """The PEM text of the setting, read from the file it names if it is a path."""
    text = setting.strip()
    if "-----BEGIN" in text:
        # An environment variable often carries the PEM's line breaks as "\n".
        return text.replace("\\n", "\n").encode()
    try:
        return Path(text).expanduser().read_bytes()
    except OSError as error:
        raise AppTokenConfigError(
            "APP_TOKEN_PUBLIC_KEY is neither PEM text nor a readable file: "
            f"{type(error).__name__} reading the path given."
        ) from error


@lru_cache(maxsize=4)
def _cached_verifier(
    secret: str, public_key: str, audience: str, issuer: str, leeway: int
) -> AppTokenVerifier:
    keys = keys_of(secret=secret, public_key=public_key)
    return AppTokenVerifier(keys, audience=audience, issuer=issuer, leeway_seconds=leeway)


def _reason_of(error: jwt.PyJWTError) -> RejectReason:
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return RejectReason.MALFORMED


def _identity(claims: dict[str, Any]) -> AppIdentity:
    """The identity in verified claims (whose `exp` PyJWT has already read as a number)."""
    subject = claims["sub"]
    if not isinstance(subject, str) or not CUSTOMER_REF_PATTERN.fullmatch(subject):
        raise AppTokenRejected(RejectReason.INVALID_SUBJECT)
    try:
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
        issued = claims.get("iat")
        issued_at = None if issued is None else datetime.fromtimestamp(int(issued), UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        raise AppTokenRejected(RejectReason.MALFORMED) from None
    return AppIdentity(subject, issued_at, expires_at)
