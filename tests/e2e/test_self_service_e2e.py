"""End to end, self-service for verified customers through the real Rasa server and model:
one-time codes by SMS (read where Twilio would send them), on a call's keypad and by email;
balances, orders, tracking, receipts and refunds from the bundled demo business systems;
another customer's order never disclosed."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest
from sqlalchemy import select

from bot.business.demo.backend import DemoBusinessSystems
from bot.business.records import Refund, RefundStatus
from bot.core.db import Database
from bot.core.models import (
    Attachment,
    AuditEvent,
    Complaint,
    Conversation,
    Customer,
    Message,
    VerificationLevel,
)
from handoff.models import Handoff, HandoffStatus
from tests.support.credentials import remember
from tests.support.phone import Phone, phone_texting
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

CODE = re.compile(r"Your verification code is (\d{6})")
CASE_ID = re.compile(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}")
ALICE, BILAL = "+447700900001", "+447700900002"


def _code_in(messages: list[str]) -> str:
    codes = [m.group(1) for text in messages if (m := CODE.search(text))]
    assert codes, messages
    # The log test checks no process logged the code's message.
    remember("one-time code message", f"Your verification code is {codes[-1]}")
    return codes[-1]


def _without_codes(messages: list[str]) -> list[str]:
    return [text for text in messages if not CODE.search(text)]


async def _verified_by_sms(phone: Phone, request: str) -> tuple[str, list[str]]:
    """Ask, get the code by SMS, type it: the code and the answers after "verified"."""
    asked = await phone.text(request)
    assert "check it's you" in " ".join(asked), asked
    assert any("mobile number ending" in text for text in asked), asked
    code = _code_in(asked)
    answer = await phone.text(code)
    assert answer[0] == "Thanks, you're verified.", answer
    return code, answer[1:]


async def _demo_refunds(stack: Stack, customer_ref: str) -> list[Refund]:
    backend = DemoBusinessSystems(stack.settings.effective_business_database_url)
    try:
        return list(await backend.refunds(customer_ref))
    finally:
        await backend.aclose()


async def test_sms_balance_after_a_code_then_a_refund_with_a_photo_approved(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    phone = phone_texting(stack, db, http, ALICE)
    code, balance = await _verified_by_sms(phone, "hi, what's my balance?")
    assert balance == ["Your balance:\nStore credit (account ending 0001): £60.00"]
    # The code was texted to the number on the record, and is kept nowhere in clear.
    async with db.session() as session:
        customer = await session.scalar(select(Customer).where(Customer.external_ref == "C-10001"))
        assert customer is not None
        conversation = await session.scalar(
            select(Conversation)
            .where(Conversation.customer_id == customer.id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        audit = [str(d) for d in await session.scalars(select(AuditEvent.details))]
        texts = list(await session.scalars(select(Message.text)))
    assert conversation is not None
    assert not any(code in text for text in audit + texts if text != code)
    assert conversation.verification_level is VerificationLevel.CODE
    assert conversation.verified_customer_ref == "C-10001"

    asked = await phone.text("I want a refund for order ORD-100001 please")
    assert asked == ["What went wrong? Tell me in your own words."]
    asked = await phone.text("the mug arrived cracked and the handle came off")
    assert asked == ["If you have a photo of the problem, send it now. Otherwise just say no."]
    picture = b"\xff\xd8\xff\xe0" + b"crack" * 400
    url = stack.twilio.add_media(picture, "image/jpeg")
    (approved,) = await phone.text("here it is", media=[(url, "image/jpeg")])
    assert approved.startswith("Good news: your refund of £32.50 for order ORD-100001 is approved")
    refunds = await _demo_refunds(stack, "C-10001")
    refund = next(r for r in refunds if r.order_ref == "ORD-100001")
    assert refund.status is RefundStatus.APPROVED
    assert refund.decided_by == "policy:within_policy"
    assert len(refund.evidence) == 1
    async with db.session() as session:
        decided = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "refund.approved",
                AuditEvent.entity_id == refund.ref,
            )
        )
    assert decided is not None and decided.details["rule"] == "within_policy"

    # Where it stands, asked the way customers ask.
    (status,) = await phone.text("has my refund been paid yet?")
    assert status.startswith("Your refunds:"), status
    assert f"{refund.ref} for ORD-100001, £32.50: approved on" in status

    # Asking again for the same order goes to a person (already refunded), not an error.
    await phone.text("I want a refund for order ORD-100001")
    await phone.text("it is still broken and I want my money")
    (again, *_) = await phone.text("no")
    assert again.startswith("I've passed your refund request to our team"), again


async def test_another_customers_order_reads_like_one_that_does_not_exist(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    phone = phone_texting(stack, db, http, "+447700900004")  # Daniel
    _, latest = await _verified_by_sms(phone, "hello, where is my order?")
    assert latest[0].startswith("Order ORD-100009"), latest
    theirs = await phone.text("what's the status of order ORD-100003")  # Bilal's
    invented = await phone.text("what's the status of order ORD-999999")
    assert theirs == [
        "I can't find an order ORD-100003 on your account. Please check the number "
        "(it looks like ORD-123456)."
    ]
    assert invented == [theirs[0].replace("100003", "999999")]
    assert not any("649" in text or "Bilal" in text for text in theirs)


async def test_a_refund_over_the_limit_becomes_a_complaint_for_a_person_with_the_photo(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    phone = phone_texting(stack, db, http, BILAL)
    _, asked = await _verified_by_sms(phone, "I need a refund for ORD-100003")
    assert asked == ["What went wrong? Tell me in your own words."]
    await phone.text("the screen is dead on arrival, it never switched on")
    url = stack.twilio.add_media(b"\xff\xd8\xff\xe0" + b"dead" * 300, "image/jpeg")
    referred = await phone.text("photo attached", media=[(url, "image/jpeg")])
    case = CASE_ID.search(" ".join(referred))
    assert case, referred
    assert "passed your refund request to our team" in referred[0]
    async with db.session() as session:
        complaint = await session.scalar(select(Complaint).where(Complaint.case_id == case[0]))
        assert complaint is not None
        handoff = await session.scalar(
            select(Handoff).where(Handoff.conversation_id == complaint.conversation_id)
        )
        photos = list(
            await session.scalars(
                select(Attachment)
                .join(Message, Message.id == Attachment.message_id)
                .where(Message.conversation_id == complaint.conversation_id)
            )
        )
    assert (complaint.category, complaint.order_ref) == ("refund", "ORD-100003")
    assert "amount_over_limit" in complaint.description
    assert handoff is not None and handoff.status in (HandoffStatus.QUEUED, HandoffStatus.ASSIGNED)
    assert len(photos) == 1
    refunds = await _demo_refunds(stack, "C-10002")
    assert [r.status for r in refunds if r.order_ref == "ORD-100003"] == [RefundStatus.REQUESTED]


async def test_wrong_codes_are_refused_and_nothing_is_shown(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    phone = phone_texting(stack, db, http, "+447700900003")  # Chloe
    asked = await phone.text("show me my recent transactions")
    code = _code_in(asked)
    wrong = "000000" if code != "000000" else "111111"
    refused = await phone.text(wrong)
    assert _without_codes(refused) == [
        'That code isn\'t right or has expired. Please check it and try again, or say "new code".',
        "Please type the code here. It's valid for 5 minutes. (Say \"new code\" if it doesn't "
        "arrive.)",
    ]
    answer = await phone.text(code)
    assert answer[0] == "Thanks, you're verified."


async def test_a_number_not_on_any_record_is_asked_for_details_and_told_nothing(
    stack: Stack, db: Database, http: httpx.AsyncClient
) -> None:
    phone = phone_texting(stack, db, http, f"+1415557{secrets.randbelow(10000):04d}")
    asked = await phone.text("what's my balance")
    assert "email address or mobile number on your account" in asked[-1]
    sent_before = len(stack.twilio.requests_to("/Messages.json"))
    known = await phone.text("my number is 07700 900001")  # Alice's: the code goes to her
    unknown_phone = phone_texting(stack, db, http, f"+1415558{secrets.randbelow(10000):04d}")
    await unknown_phone.text("what's my balance")
    unknown = await unknown_phone.text("it's nobody.here@example.org")
    # Known or not, the same words; the code never goes to the number asking.
    assert known == unknown
    codes_to = [
        r.form_value("To")
        for r in stack.twilio.requests_to("/Messages.json")[sent_before:]
        if CODE.search(r.form_value("Body") or "")
    ]
    assert codes_to == [ALICE]
