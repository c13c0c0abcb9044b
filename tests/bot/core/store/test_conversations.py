"""Conversations in the store on SQLite and PostgreSQL: idle ones end, email threads."""

from __future__ import annotations

from datetime import timedelta

from bot.core.db import Database
from bot.core.models import Channel, Conversation, utcnow
from bot.core.store import deliveries
from tests.support.store import IDLE, answer, receive


async def test_idle_conversation_is_followed_by_a_new_one(database: Database) -> None:
    first = await receive(database, address="user-dddd4444")
    async with database.session() as session:
        conversation = await session.get_one(Conversation, first.conversation.id)
        conversation.last_activity_at = utcnow() - IDLE - timedelta(minutes=1)
    later = await receive(database, address="user-dddd4444")
    assert later.conversation.id != first.conversation.id
    assert later.identity.customer_id == first.identity.customer_id


async def test_email_threads_are_conversations(database: Database) -> None:
    first = await receive(
        database, Channel.EMAIL, "bo@example.com", external_id="<a@x>", thread_refs=[]
    )
    ours = await answer(database, first, "Thanks for writing")
    async with database.session() as session:
        deliveries.record_delivery(
            session=session,
            message_id=ours.id,
            channel=Channel.EMAIL,
            provider_id="<reply1@assistant>",
            status="sent",
        )
    reply = await receive(
        database,
        Channel.EMAIL,
        "bo@example.com",
        external_id="<b@x>",
        thread_refs=["<a@x>", "<reply1@assistant>"],
    )
    assert reply.conversation.id == first.conversation.id
    new_thread = await receive(
        database, Channel.EMAIL, "bo@example.com", external_id="<c@x>", thread_refs=[]
    )
    assert new_thread.conversation.id != first.conversation.id
    assert new_thread.identity.customer_id == first.identity.customer_id
    # Someone else quoting Bo's thread does not get into Bo's conversation.
    intruder = await receive(
        database, Channel.EMAIL, "eve@example.com", external_id="<d@x>", thread_refs=["<a@x>"]
    )
    assert intruder.conversation.id != first.conversation.id
