"""One-time codes: random six digits kept only as a digest, used once, expiring, limited
in sending, and a record locked after too many wrong tries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from limits.aio.storage import MemoryStorage
from sqlalchemy import select

from actions.verification.codes import (
    CheckResult,
    OneTimeCodes,
    code_in,
    contact_in,
    generate_code,
)
from bot.core.db import Database
from bot.core.models import AuditEvent, Channel, VerificationChallenge, utcnow
from bot.core.rate_limits import RateLimited, RateLimits
from bot.core.settings import Settings
from tests.support.store import receive


def _codes(tmp_path: object, **overrides: object) -> OneTimeCodes:
    settings = Settings(var_dir=tmp_path, **overrides)  # type: ignore[arg-type]
    return OneTimeCodes(settings, RateLimits(MemoryStorage()))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("482913", "482913"),
        ("482 913", "482913"),
        ("my code is 482-913 thanks", "482913"),
        ("four eight two nine one three", "482913"),
        ("code: 482913.", "482913"),
        ("ORD-482913", None),
        ("12345", None),
        ("1234567", None),
        ("no idea", None),
    ],
)
def test_the_code_in_what_customers_type_or_say(text: str, code: str | None) -> None:
    assert code_in(text) == code


def test_codes_are_six_random_digits() -> None:
    codes = {generate_code() for _ in range(50)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 45


async def _issue(codes: OneTimeCodes, database: Database, conversation_id: int, ref: str) -> str:
    async with database.session() as session:
        return await codes.issue(
            session=session,
            conversation_id=conversation_id,
            customer_ref=ref,
            destination="+447700900001",
            sent_via="sms",
        )


async def _check(codes: OneTimeCodes, database: Database, conversation_id: int, code: str):  # type: ignore[no-untyped-def]
    async with database.session() as session:
        return await codes.check(session=session, conversation_id=conversation_id, code=code)


async def test_a_right_code_is_accepted_once_and_only_its_digest_is_kept(
    database: Database, tmp_path: object
) -> None:
    codes = _codes(tmp_path)
    conversation = (await receive(database, Channel.SMS, "+447700900001")).conversation
    code = await _issue(codes, database, conversation.id, "C-10001")
    async with database.session() as session:
        row = await session.scalar(select(VerificationChallenge))
        assert row is not None and code not in row.code_digest
        audit = list(await session.scalars(select(AuditEvent)))
    assert all(code not in str(a.details) for a in audit)
    first = await _check(codes, database, conversation.id, code)
    assert (first.result, first.customer_ref) == (CheckResult.ACCEPTED, "C-10001")
    again = await _check(codes, database, conversation.id, code)
    assert again.result is CheckResult.EXPIRED


async def test_an_expired_code_is_refused(database: Database, tmp_path: object) -> None:
    codes = _codes(tmp_path)
    conversation = (await receive(database, Channel.SMS, "+447700900001")).conversation
    code = await _issue(codes, database, conversation.id, "C-10001")
    async with database.session() as session:
        row = await session.scalar(select(VerificationChallenge))
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert (await _check(codes, database, conversation.id, code)).result is CheckResult.EXPIRED


async def test_a_new_code_withdraws_the_old_one(database: Database, tmp_path: object) -> None:
    codes = _codes(tmp_path)
    conversation = (await receive(database, Channel.SMS, "+447700900001")).conversation
    old = await _issue(codes, database, conversation.id, "C-10001")
    new = await _issue(codes, database, conversation.id, "C-10001")
    if old != new:
        assert (await _check(codes, database, conversation.id, old)).result is CheckResult.WRONG
    assert (await _check(codes, database, conversation.id, new)).result is CheckResult.ACCEPTED


async def test_five_wrong_tries_lock_the_record_even_for_the_right_code(
    database: Database, tmp_path: object
) -> None:
    codes = _codes(tmp_path)
    conversation = (await receive(database, Channel.SMS, "+447700900001")).conversation
    code = await _issue(codes, database, conversation.id, "C-10001")
    wrong = "000000" if code != "000000" else "111111"
    results = [(await _check(codes, database, conversation.id, wrong)).result for _ in range(5)]
    assert results == [CheckResult.WRONG] * 4 + [CheckResult.LOCKED]
    assert await codes.locked("C-10001")
    # Locked: no new code for the record, and the old one is gone.
    with pytest.raises(RateLimited):
        await _issue(codes, database, conversation.id, "C-10001")
    assert (await _check(codes, database, conversation.id, code)).result is not CheckResult.ACCEPTED


async def test_sending_is_limited_per_record_and_per_destination(
    database: Database, tmp_path: object
) -> None:
    codes = _codes(tmp_path, otp_send_rate="3/15 minutes")
    conversation = (await receive(database, Channel.SMS, "+447700900001")).conversation
    for _ in range(3):
        await _issue(codes, database, conversation.id, "C-10001")
    with pytest.raises(RateLimited):
        await _issue(codes, database, conversation.id, "C-10001")
    # Another record, same phone: the phone is flooded already.
    with pytest.raises(RateLimited):
        await _issue(codes, database, conversation.id, "C-99999")


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("my email is Alice.Morgan@example.com.", "Alice.Morgan@example.com"),
        ("07700 900001", "07700900001"),
        ("my number is +44 7700 900001 thanks", "+447700900001"),
        ("oh seven seven oh oh nine oh oh oh oh one", "07700900001"),
        ("I don't know", None),
        ("ORD-100001", None),
        ("12345", None),
    ],
)
def test_the_contact_details_in_what_customers_write(text: str, contact: str | None) -> None:
    assert contact_in(text) == contact
