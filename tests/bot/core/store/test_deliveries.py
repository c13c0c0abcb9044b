"""Provider deliveries in the store on SQLite and PostgreSQL, and their status callbacks."""

from __future__ import annotations

from bot.core.db import Database
from bot.core.models import Channel, Message, MessageStatus
from bot.core.store import deliveries, outbound
from tests.support.store import answer, receive


async def test_status_callbacks_update_deliveries_and_fail_messages(database: Database) -> None:
    inbound = await receive(database, Channel.SMS, "+14155550133", external_id="SM3")
    reply = await answer(database, inbound, "A long answer")
    async with database.session() as session:
        for part, sid in enumerate(["SMa", "SMb"]):
            deliveries.record_delivery(
                session=session,
                message_id=reply.id,
                channel=Channel.SMS,
                provider_id=sid,
                status="queued",
                part=part,
            )
        await outbound.mark_delivered(session=session, message_ids=[reply.id])
    async with database.session() as session:
        assert await deliveries.update_delivery_status(
            session=session, channel=Channel.SMS, provider_id="SMa", status="delivered"
        )
        assert not await deliveries.update_delivery_status(
            session=session, channel=Channel.SMS, provider_id="SMzzz", status="sent"
        )
    async with database.session() as session:
        await deliveries.update_delivery_status(
            session=session,
            channel=Channel.SMS,
            provider_id="SMb",
            status="undelivered",
            error_code="30003",
        )
    async with database.session() as session:
        message = await session.get_one(Message, reply.id)
        recorded = await deliveries.deliveries_of(session=session, message_id=reply.id)
    assert [(d.part, d.status, d.error_code) for d in recorded] == [
        (0, "delivered", None),
        (1, "undelivered", "30003"),
    ]
    assert message.status is MessageStatus.FAILED
    assert message.error == "sms provider: undelivered (30003)"
