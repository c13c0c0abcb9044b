"""Our replies in the store on SQLite and PostgreSQL: pending until delivered, grouped for
resending and given up, and the choices the last one offered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import Channel, Message, MessageStatus
from bot.core.store import outbound
from tests.support.store import answer, receive


async def test_outbound_replies_wait_until_delivered(database: Database) -> None:
    stored = await receive(database, address="user-eeee5555")
    async with database.session() as session:
        reply = await outbound.record_outbound(
            session=session,
            reply_to=stored.message,
            text="Hi!",
            payload={"buttons": [{"title": "Yes", "payload": "/affirm"}]},
        )
    async with database.session() as session:
        pending = await outbound.undelivered_outbound(
            session=session, channel=Channel.WEBCHAT, address="user-eeee5555"
        )
        assert [m.id for m in pending] == [reply.id]
        assert pending[0].payload["buttons"][0]["payload"] == "/affirm"
        await outbound.mark_delivered(session=session, message_ids=[reply.id])
    async with database.session() as session:
        assert not await outbound.undelivered_outbound(
            session=session, channel=Channel.WEBCHAT, address="user-eeee5555"
        )
        delivered = await session.get_one(Message, reply.id)
        replies = await outbound.replies_to(session=session, message_id=stored.message.id)
    assert delivered.status is MessageStatus.DELIVERED
    assert delivered.delivered_at is not None and delivered.delivered_at.tzinfo is not None
    assert [r.id for r in replies] == [reply.id]


async def test_pending_replies_are_grouped_and_given_up_after_many_failures(
    database: Database,
) -> None:
    inbound = await receive(database, Channel.SMS, "+14155550144", external_id="SM4")
    first = await answer(database, inbound, "one")
    second = await answer(database, inbound, "two")
    async with database.session() as session:
        pending = await outbound.pending_outbound(
            session=session, channels=[Channel.SMS], older_than=timedelta(0)
        )
    assert [(p.address, [m.id for m in p.messages]) for p in pending] == [
        ("+14155550144", [first.id, second.id])
    ]
    for _ in range(3):
        async with database.session() as session:
            await outbound.note_failed_push(
                session=session, message_ids=[first.id, second.id], give_up_after=3
            )
    async with database.session() as session:
        statuses = {
            m.status
            for m in await session.scalars(select(Message).where(Message.id > inbound.message.id))
        }
        assert (
            await outbound.pending_outbound(
                session=session, channels=[Channel.SMS], older_than=timedelta(0)
            )
            == []
        )
    assert statuses == {MessageStatus.FAILED}


async def test_the_last_reply_offers_the_choices(database: Database) -> None:
    inbound = await receive(database, Channel.SMS, "+14155550155", external_id="SM5")
    buttons = [{"title": "Refund", "payload": "/refund"}]
    await answer(database, inbound, "Which one?", buttons=buttons)
    async with database.session() as session:
        offered = await outbound.last_offered_buttons(
            session=session, channel=Channel.SMS, address="+14155550155"
        )
    assert offered == buttons
    await answer(database, inbound, "Anything else?")
    async with database.session() as session:
        assert (
            await outbound.last_offered_buttons(
                session=session, channel=Channel.SMS, address="+14155550155"
            )
            == []
        )
