"""A verified conversation names its customer's record; the record joins the customer across
channels; a conversation cannot be verified as a second record; verification can lapse."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import (
    AuditEvent,
    Channel,
    ChannelIdentity,
    Conversation,
    Customer,
    VerificationLevel,
    utcnow,
)
from bot.core.store.verification import mark_verified, verification_current
from tests.support.store import receive


async def _verify(database: Database, conversation_id: int, ref: str, via: str = "sms") -> bool:
    async with database.session() as session:
        return None is not await mark_verified(
            session=session,
            conversation_id=conversation_id,
            customer_ref=ref,
            level=VerificationLevel.CODE,
            via=via,
        )


async def test_verifying_on_two_channels_makes_one_customer(database: Database) -> None:
    by_sms = await receive(database, Channel.SMS, "+447700900001")
    by_chat = await receive(database, Channel.WEBCHAT, "visitor-abc")
    assert by_sms.identity.customer_id != by_chat.identity.customer_id
    await _verify(database, by_sms.conversation.id, "C-10001")
    await _verify(database, by_chat.conversation.id, "C-10001", via="webchat")
    async with database.session() as session:
        identities = list(await session.scalars(select(ChannelIdentity)))
        conversations = list(await session.scalars(select(Conversation)))
        owner = await session.scalar(select(Customer).where(Customer.external_ref == "C-10001"))
        joined = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "customer.joined")
        )
    assert owner is not None and joined is not None
    assert {i.customer_id for i in identities} == {owner.id}
    assert {c.customer_id for c in conversations} == {owner.id}
    chat = next(c for c in conversations if c.id == by_chat.conversation.id)
    assert chat.verified_customer_ref == "C-10001"
    assert chat.verification_level is VerificationLevel.CODE
    assert chat.verified_via == "webchat" and chat.verified_at is not None


async def test_a_conversation_cannot_be_verified_as_another_record(database: Database) -> None:
    stored = await receive(database, Channel.SMS, "+447700900001")
    await _verify(database, stored.conversation.id, "C-10001")
    assert not await _verify(database, stored.conversation.id, "C-10002")
    async with database.session() as session:
        conversation = await session.get(Conversation, stored.conversation.id)
        refused = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "verification.refused_other_record")
        )
    assert conversation is not None and conversation.verified_customer_ref == "C-10001"
    assert refused is not None


async def test_a_customer_of_one_record_cannot_verify_as_another_in_a_new_conversation(
    database: Database,
) -> None:
    first = await receive(database, Channel.SMS, "+447700900001")
    await _verify(database, first.conversation.id, "C-10001")
    async with database.session() as session:
        conversation = await session.get(Conversation, first.conversation.id)
        assert conversation is not None
        conversation.verified_customer_ref = None  # a later conversation of the same customer
    assert not await _verify(database, first.conversation.id, "C-10002")


async def test_verification_lasts_the_conversation_or_its_lifetime(database: Database) -> None:
    stored = await receive(database, Channel.SMS, "+447700900001")
    await _verify(database, stored.conversation.id, "C-10001")
    async with database.session() as session:
        conversation = await session.get(Conversation, stored.conversation.id)
    assert conversation is not None
    later = utcnow() + timedelta(hours=5)
    assert verification_current(conversation, lifetime=None, now=later)
    assert not verification_current(conversation, lifetime=timedelta(hours=1), now=later)
    assert verification_current(conversation, lifetime=timedelta(hours=6), now=later)
