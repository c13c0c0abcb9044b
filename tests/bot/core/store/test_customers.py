"""Customers in the store on SQLite and PostgreSQL: who wrote, one person across channels,
opt-out."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import AuditEvent, Channel, Customer, MessageStatus
from bot.core.store import customers, history
from tests.support.store import receive, row_count


async def test_first_message_creates_customer_identity_and_conversation(database: Database) -> None:
    stored = await receive(database, address="user-aaaa1111", text="hi there")
    assert stored.created
    assert stored.message.status is MessageStatus.RECEIVED
    assert stored.message.text == "hi there"
    assert stored.identity.address == "user-aaaa1111"
    assert stored.conversation.public_id.startswith("conv-")
    assert await row_count(database, Customer) == 1
    async with database.session() as session:
        audit = (await session.scalars(select(AuditEvent))).all()
    assert [a.action for a in audit] == ["customer.created"]


async def test_same_address_is_same_customer_and_conversation(database: Database) -> None:
    first = await receive(database, address="user-bbbb2222")
    second = await receive(database, address="user-bbbb2222", text="again")
    other = await receive(database, address="user-cccc3333")
    assert second.identity.customer_id == first.identity.customer_id
    assert second.conversation.id == first.conversation.id
    assert other.identity.customer_id != first.identity.customer_id
    assert await row_count(database, Customer) == 2


async def test_email_identity_fills_customer_email(database: Database) -> None:
    async with database.session() as session:
        identity = await customers.resolve_identity(
            session=session, channel=Channel.EMAIL, address="ana@example.com"
        )
        customer = await session.get(Customer, identity.customer_id)
    assert customer is not None
    assert customer.email == "ana@example.com"
    assert customer.phone is None


async def test_a_known_customer_is_one_person_on_sms_voice_and_email(database: Database) -> None:
    async with database.session() as session:
        customer = await customers.upsert_customer(
            session=session, email="Ana@Example.com", phone="+1 415 555 0100", display_name="Ana"
        )
    sms = await receive(database, Channel.SMS, "+14155550100", external_id="SM1")
    call = await receive(database, Channel.VOICE, "+14155550100", external_id="CA1:1")
    mail = await receive(
        database, Channel.EMAIL, "ana@example.com", external_id="<m1@x>", thread_refs=[]
    )
    assert {sms.identity.customer_id, call.identity.customer_id, mail.identity.customer_id} == {
        customer.id
    }
    assert not mail.identity.verified
    async with database.session() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
        messages = await history.customer_history(session=session, customer_id=customer.id)
        used = await history.channels_used(session=session, customer_id=customer.id)
    assert list(used.items()) == [(Channel.SMS, 1), (Channel.VOICE, 1), (Channel.EMAIL, 1)]
    assert actions.count("identity.linked") == 3
    assert [(m.channel, m.external_id) for m in messages] == [
        (Channel.EMAIL, "<m1@x>"),
        (Channel.VOICE, "CA1:1"),
        (Channel.SMS, "SM1"),
    ]


async def test_unknown_addresses_are_different_customers(database: Database) -> None:
    sms = await receive(database, Channel.SMS, "+14155550111", external_id="SM2")
    mail = await receive(
        database, Channel.EMAIL, "stranger@example.com", external_id="<m2@x>", thread_refs=[]
    )
    assert sms.identity.customer_id != mail.identity.customer_id
    # The same phone number on another channel is the same customer (the store knows it).
    call = await receive(database, Channel.VOICE, "+14155550111", external_id="CA2:1")
    assert call.identity.customer_id == sms.identity.customer_id


async def test_opt_out_and_back_in(database: Database) -> None:
    async with database.session() as session:
        await customers.set_opt_out(
            session=session, channel=Channel.SMS, address="+14155550122", opted_out=True
        )
    async with database.session() as session:
        assert await customers.is_opted_out(
            session=session, channel=Channel.SMS, address="+14155550122"
        )
        await customers.set_opt_out(
            session=session, channel=Channel.SMS, address="+14155550122", opted_out=False
        )
    async with database.session() as session:
        assert not await customers.is_opted_out(
            session=session, channel=Channel.SMS, address="+14155550122"
        )
