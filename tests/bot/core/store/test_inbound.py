"""Customers' messages in the store on SQLite and PostgreSQL: stored once, claimed by one
worker at a time, found again for retries."""

from __future__ import annotations

from datetime import timedelta

from bot.core.db import Database
from bot.core.models import Message, MessageStatus, utcnow
from bot.core.store import inbound
from tests.support.store import receive, row_count

STALE = timedelta(minutes=2)


async def test_redelivered_message_is_stored_once(database: Database) -> None:
    first = await receive(database, external_id="client-1", text="where is my parcel")
    again = await receive(database, external_id="client-1", text="where is my parcel")
    assert first.created and not again.created
    assert again.message.id == first.message.id
    assert await row_count(database, Message) == 1
    await receive(database, external_id=None)
    await receive(database, external_id=None)
    assert await row_count(database, Message) == 3


async def test_claim_is_exclusive_until_it_goes_stale(database: Database) -> None:
    stored = await receive(database)
    message_id = stored.message.id
    async with database.session() as session:
        assert await inbound.claim_inbound(
            session=session, message_id=message_id, stale_after=STALE
        )
    async with database.session() as session:
        assert not await inbound.claim_inbound(
            session=session, message_id=message_id, stale_after=STALE
        )
        message = await session.get_one(Message, message_id)
        message.processing_started_at = utcnow() - STALE - timedelta(seconds=1)
    async with database.session() as session:
        assert await inbound.claim_inbound(
            session=session, message_id=message_id, stale_after=STALE
        )
        message = await session.get_one(Message, message_id, populate_existing=True)
        assert message.attempts == 2
        assert message.status is MessageStatus.PROCESSING


async def test_due_for_retry_lists_waiting_and_abandoned_messages(database: Database) -> None:
    first = await receive(database, text="one")
    waiting = first.message.id
    fresh = (await receive(database, text="two")).message.id
    abandoned = (await receive(database, text="three")).message.id
    answered = (await receive(database, text="four")).message.id
    async with database.session() as session:
        await inbound.finish_inbound(
            session=session, message_id=waiting, status=MessageStatus.AWAITING_RETRY, error="down"
        )
        await inbound.finish_inbound(
            session=session, message_id=answered, status=MessageStatus.ANSWERED
        )
        message = await session.get_one(Message, abandoned)
        message.status = MessageStatus.PROCESSING
        message.processing_started_at = utcnow() - STALE - timedelta(seconds=5)
    async with database.session() as session:
        due = await inbound.inbound_due_for_retry(session=session, stale_after=STALE)
        earlier = await inbound.unanswered_before(
            session=session, conversation_id=first.conversation.id, message_id=answered
        )
    assert due == [waiting, abandoned]
    assert fresh not in due
    assert earlier == [waiting, fresh]
