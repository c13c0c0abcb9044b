"""One-time codes: six digits from pyotp, valid a few minutes, kept only as a keyed digest,
used once; a few wrong tries lock the customer's record for a while; sending is limited
per record and per phone number / mailbox (the `limits` library, Redis when configured)."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import VerificationChallenge, VerificationLevel, utcnow
from bot.core.rate_limits import RateLimited, RateLimits, Rule
from bot.core.settings import Settings
from bot.core.store import verification as store

CODE_DIGITS = 6
# What a RateLimited says when the record is locked after too many wrong codes.
LOCKED_WHAT = "wrong codes"
_SPOKEN_DIGITS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


class CodeSender(Protocol):
    """Sends a code's text to a phone (SMS) or a mailbox; never logs the text."""

    async def send_sms(self, to: str, text: str) -> None: ...

    async def send_email(self, to: str, subject: str, text: str) -> None: ...


class CheckResult(enum.StrEnum):
    ACCEPTED = "accepted"
    WRONG = "wrong"
    EXPIRED = "expired"  # too old, or no live code: a new one must be sent
    LOCKED = "locked"  # too many wrong tries on this record


@dataclass(frozen=True)
class Checked:
    result: CheckResult
    customer_ref: str | None = None
    tries_left: int = 0


def generate_code() -> str:
    """Six random digits (an HOTP of a fresh random secret: pyotp's well-tested code)."""
    return pyotp.HOTP(pyotp.random_base32(), digits=CODE_DIGITS).at(0)


def code_in(text: str) -> str | None:
    """The code in what a customer typed, said or pressed: "123 456", "one two three…",
    a code inside a sentence or an email reply's first lines; None if there is none."""
    words = re.findall(r"[a-z]+|\d+", text.lower())
    if words and all(w.isdigit() or w in _SPOKEN_DIGITS for w in words):
        joined = "".join(_SPOKEN_DIGITS.get(w, w) for w in words)
        if len(joined) == CODE_DIGITS:
            return joined
    compact = re.sub(r"(?<=\d)[ -](?=\d)", "", text)
    found = re.findall(rf"(?<![\w-])\d{{{CODE_DIGITS}}}(?!\w)", compact)
    return found[0] if found else None


EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_IN_TEXT = re.compile(r"\+?\d[\d ().-]{7,}\d")


def contact_in(text: str) -> str | None:
    """The email address or phone number in what a customer wrote or said ("my email is
    a@b.com", "07700 900123", "oh seven seven oh oh..."), None if there is neither."""
    email = EMAIL_IN_TEXT.search(text)
    if email:
        return email.group(0).rstrip(".")
    words = re.findall(r"[a-z]+|[^a-z\s]+", text.lower())
    spoken = " ".join(_SPOKEN_DIGITS.get(w, w) for w in words)
    phone = PHONE_IN_TEXT.search(spoken)
    if phone is None:
        return None
    digits = re.sub(r"[^\d+]", "", phone.group(0))
    return digits if len(digits.lstrip("+")) >= 9 else None


class OneTimeCodes:
    """Issues and checks codes for conversations."""

    def __init__(self, settings: Settings, limits: RateLimits) -> None:
        self._key = settings.otp_secret.get_secret_value().encode()
        self._ttl = timedelta(seconds=settings.otp_ttl_seconds)
        self._max_attempts = settings.otp_max_attempts
        self._limits = limits
        self._send_rule = Rule.parse("otp_send", settings.otp_send_rate)
        self._failures = Rule.parse(
            "otp_failures", f"{settings.otp_max_attempts}/{settings.otp_lockout_minutes} minutes"
        )
        self._lock = Rule.parse("otp_lock", f"1/{settings.otp_lockout_minutes} minutes")

    def digest(self, conversation_id: int, code: str) -> str:
        """The keyed digest kept instead of the code."""
        message = f"{conversation_id}:{code}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def issue(
        self,
        *,
        session: AsyncSession,
        conversation_id: int,
        customer_ref: str,
        destination: str,
        sent_via: str,
    ) -> str:
        """A new code for the record, counted against its and the destination's sending
        limits (RateLimited when full, or when the record is locked)."""
        await self._limits.check(self._lock, customer_ref, what=LOCKED_WHAT)
        await self._limits.check(self._send_rule, "record", customer_ref, what="codes")
        await self._limits.hit(self._send_rule, "to", _hashed(destination), what="codes")
        await self._limits.count(self._send_rule, "record", customer_ref)
        code = generate_code()
        await store.withdraw_open_challenges(session=session, conversation_id=conversation_id)
        store.create_challenge(
            session=session,
            conversation_id=conversation_id,
            customer_ref=customer_ref,
            sent_via=sent_via,
            code_digest=self.digest(conversation_id, code),
            ttl=self._ttl,
        )
        return code

    async def check(self, *, session: AsyncSession, conversation_id: int, code: str) -> Checked:
        """Try `code` against the conversation's live code."""
        challenge = await store.latest_challenge(session=session, conversation_id=conversation_id)
        if challenge is None or challenge.used_at is not None or challenge.expires_at < utcnow():
            return Checked(CheckResult.EXPIRED)
        ref = challenge.customer_ref
        try:
            await self._limits.check(self._lock, ref, what="wrong codes")
        except RateLimited:
            return Checked(CheckResult.LOCKED, ref)
        correct = hmac.compare_digest(challenge.code_digest, self.digest(conversation_id, code))
        store.record_attempt(session=session, challenge=challenge, correct=correct)
        if correct:
            await self._limits.clear(self._failures, ref)
            return Checked(CheckResult.ACCEPTED, ref)
        return await self._wrong(challenge, ref)

    async def _wrong(self, challenge: VerificationChallenge, ref: str) -> Checked:
        try:
            await self._limits.hit(self._failures, ref, what="wrong codes")
            await self._limits.check(self._failures, ref, what="wrong codes")
        except RateLimited:
            # The last allowed try was wrong: lock the record and burn the code.
            await self._limits.count(self._lock, ref)
            await self._limits.clear(self._failures, ref)
            challenge.used_at = utcnow()
            return Checked(CheckResult.LOCKED, ref)
        tries_left = self._max_attempts - challenge.attempts
        if tries_left <= 0:
            challenge.used_at = utcnow()
            return Checked(CheckResult.EXPIRED, ref)
        return Checked(CheckResult.WRONG, ref, tries_left)

    async def locked(self, customer_ref: str) -> bool:
        """Whether the record is locked after too many wrong codes."""
        try:
            await self._limits.check(self._lock, customer_ref)
        except RateLimited:
            return True
        return False


async def verify(
    *, session: AsyncSession, conversation_id: int, customer_ref: str, via: str
) -> bool:
    """Mark the conversation verified by code as the record's customer; False when the
    conversation's customer is another record's (refused and audited)."""
    verified = await store.mark_verified(
        session=session,
        conversation_id=conversation_id,
        customer_ref=customer_ref,
        level=VerificationLevel.CODE,
        via=via,
    )
    return verified is not None


def _hashed(destination: str) -> str:
    # Limits are keyed by a digest: no phone number or address in Redis keys.
    return hashlib.sha256(destination.strip().lower().encode()).hexdigest()[:32]
