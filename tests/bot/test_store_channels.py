"""The store's channel features on SQLite and PostgreSQL: one customer across channels,
email threads, opt-out, provider deliveries and their status callbacks, calls."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot import store
from bot.db import Database
from bot.models import AuditEvent, Channel, Message, MessageStatus

IDLE = timedelta(hours=24)


async def _inbound(
    db: Database,
    channel: Channel,
    address: str,
    *,
    text: str = "hello",
    external_id: str | None = None,
    thread_refs: list[str] | None = None,
) -> store.StoredInbound:
    async with db.session() as session:
        return await store.record_inbound(
            session=session,
            channel=channel,
            address=address,
            text=text,
            external_id=external_id,
            idle_after=IDLE,
            thread_refs=thread_refs,
        )


async def _reply(db: Database, to: store.StoredInbound, text: str, **payload: object) -> Message:
    async with db.session() as session:
        message = await session.get_one(Message, to.message.id)
        return await store.record_outbound(
            session=session, reply_to=message, text=text, payload=dict(payload)
        )


async def test_a_known_customer_is_one_person_on_sms_voice_and_email(database: Database) -> None:
    async with database.session() as session:
        customer = await store.upsert_customer(
            session=session, email="Ana@Example.com", phone="+1 415 555 0100", display_name="Ana"
        )
    sms = await _inbound(database, Channel.SMS, "+14155550100", external_id="SM1")
    call = await _inbound(database, Channel.VOICE, "+14155550100", external_id="CA1:1")
    mail = await _inbound(
        database, Channel.EMAIL, "ana@example.com", external_id="<m1@x>", thread_refs=[]
    )
    assert {sms.identity.customer_id, call.identity.customer_id, mail.identity.customer_id} == {
        customer.id
    }
    assert not mail.identity.verified
    async with database.session() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
        history = await store.customer_history(session=session, customer_id=customer.id)
        used = await store.channels_used(session=session, customer_id=customer.id)
    assert list(used.items()) == [(Channel.SMS, 1), (Channel.VOICE, 1), (Channel.EMAIL, 1)]
    assert actions.count("identity.linked") == 3
    assert [(m.channel, m.external_id) for m in history] == [
        (Channel.EMAIL, "<m1@x>"),
        (Channel.VOICE, "CA1:1"),
        (Channel.SMS, "SM1"),
    ]


async def test_unknown_addresses_are_different_customers(database: Database) -> None:
    sms = await _inbound(database, Channel.SMS, "+14155550111", external_id="SM2")
    mail = await _inbound(
        database, Channel.EMAIL, "stranger@example.com", external_id="<m2@x>", thread_refs=[]
    )
    assert sms.identity.customer_id != mail.identity.customer_id
    # The same phone number on another channel is the same customer (the store knows it).
    call = await _inbound(database, Channel.VOICE, "+14155550111", external_id="CA2:1")
    assert call.identity.customer_id == sms.identity.customer_id


async def test_email_threads_are_conversations(database: Database) -> None:
    first = await _inbound(
        database, Channel.EMAIL, "bo@example.com", external_id="<a@x>", thread_refs=[]
    )
    ours = await _reply(database, first, "Thanks for writing")
    async with database.session() as session:
        store.record_delivery(
            session=session,
            message_id=ours.id,
            channel=Channel.EMAIL,
            provider_id="<reply1@assistant>",
            status="sent",
        )
    answer = await _inbound(
        database,
        Channel.EMAIL,
        "bo@example.com",
        external_id="<b@x>",
        thread_refs=["<a@x>", "<reply1@assistant>"],
    )
    assert answer.conversation.id == first.conversation.id
    new_thread = await _inbound(
        database, Channel.EMAIL, "bo@example.com", external_id="<c@x>", thread_refs=[]
    )
    assert new_thread.conversation.id != first.conversation.id
    assert new_thread.identity.customer_id == first.identity.customer_id
    # Someone else quoting Bo's thread does not get into Bo's conversation.
    intruder = await _inbound(
        database, Channel.EMAIL, "eve@example.com", external_id="<d@x>", thread_refs=["<a@x>"]
    )
    assert intruder.conversation.id != first.conversation.id


async def test_opt_out_and_back_in(database: Database) -> None:
    async with database.session() as session:
        await store.set_opt_out(
            session=session, channel=Channel.SMS, address="+14155550122", opted_out=True
        )
    async with database.session() as session:
        assert await store.is_opted_out(
            session=session, channel=Channel.SMS, address="+14155550122"
        )
        await store.set_opt_out(
            session=session, channel=Channel.SMS, address="+14155550122", opted_out=False
        )
    async with database.session() as session:
        assert not await store.is_opted_out(
            session=session, channel=Channel.SMS, address="+14155550122"
        )


async def test_status_callbacks_update_deliveries_and_fail_messages(database: Database) -> None:
    inbound = await _inbound(database, Channel.SMS, "+14155550133", external_id="SM3")
    reply = await _reply(database, inbound, "A long answer")
    async with database.session() as session:
        for part, sid in enumerate(["SMa", "SMb"]):
            store.record_delivery(
                session=session,
                message_id=reply.id,
                channel=Channel.SMS,
                provider_id=sid,
                status="queued",
                part=part,
            )
        await store.mark_delivered(session=session, message_ids=[reply.id])
    async with database.session() as session:
        assert await store.update_delivery_status(
            session=session, channel=Channel.SMS, provider_id="SMa", status="delivered"
        )
        assert not await store.update_delivery_status(
            session=session, channel=Channel.SMS, provider_id="SMzzz", status="sent"
        )
    async with database.session() as session:
        await store.update_delivery_status(
            session=session,
            channel=Channel.SMS,
            provider_id="SMb",
            status="undelivered",
            error_code="30003",
        )
    async with database.session() as session:
        message = await session.get_one(Message, reply.id)
        deliveries = await store.deliveries_of(session=session, message_id=reply.id)
    assert [(d.part, d.status, d.error_code) for d in deliveries] == [
        (0, "delivered", None),
        (1, "undelivered", "30003"),
    ]
    assert message.status is MessageStatus.FAILED
    assert message.error == "sms provider: undelivered (30003)"


async def test_pending_replies_are_grouped_and_given_up_after_many_failures(
    database: Database,
) -> None:
    inbound = await _inbound(database, Channel.SMS, "+14155550144", external_id="SM4")
    first = await _reply(database, inbound, "one")
    second = await _reply(database, inbound, "two")
    async with database.session() as session:
        pending = await store.pending_outbound(
            session=session, channels=[Channel.SMS], older_than=timedelta(0)
        )
    assert [(p.address, [m.id for m in p.messages]) for p in pending] == [
        ("+14155550144", [first.id, second.id])
    ]
    for _ in range(3):
        async with database.session() as session:
            await store.note_failed_push(
                session=session, message_ids=[first.id, second.id], give_up_after=3
            )
    async with database.session() as session:
        statuses = {
            m.status
            for m in await session.scalars(select(Message).where(Message.id > inbound.message.id))
        }
        assert (
            await store.pending_outbound(
                session=session, channels=[Channel.SMS], older_than=timedelta(0)
            )
            == []
        )
    assert statuses == {MessageStatus.FAILED}


async def test_the_last_reply_offers_the_choices(database: Database) -> None:
    inbound = await _inbound(database, Channel.SMS, "+14155550155", external_id="SM5")
    buttons = [{"title": "Refund", "payload": "/refund"}]
    await _reply(database, inbound, "Which one?", buttons=buttons)
    async with database.session() as session:
        offered = await store.last_offered_buttons(
            session=session, channel=Channel.SMS, address="+14155550155"
        )
    assert offered == buttons
    await _reply(database, inbound, "Anything else?")
    async with database.session() as session:
        assert (
            await store.last_offered_buttons(
                session=session, channel=Channel.SMS, address="+14155550155"
            )
            == []
        )


async def test_a_call_that_ends_fails_its_unspoken_replies(database: Database) -> None:
    said = await _inbound(database, Channel.VOICE, "+14155550166", external_id="CA9:1")
    spoken = await _reply(database, said, "spoken")
    unspoken = await _reply(database, said, "never said")
    async with database.session() as session:
        await store.mark_delivered(session=session, message_ids=[spoken.id])
    async with database.session() as session:
        assert await store.end_call(session=session, call_sid="CA9", status="completed") == 1
    async with database.session() as session:
        assert (await session.get_one(Message, spoken.id)).status is MessageStatus.DELIVERED
        assert (await session.get_one(Message, unspoken.id)).status is MessageStatus.FAILED
