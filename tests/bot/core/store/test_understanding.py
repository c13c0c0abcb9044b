"""What Rasa understood of each message, stored on SQLite and PostgreSQL once an agent asks."""

from __future__ import annotations

from bot.core.db import Database
from bot.core.models import Message, MessageStatus
from bot.core.store import inbound, understanding
from tests.support.store import receive


async def test_what_rasa_understood_is_stored_once_an_agent_asks(database: Database) -> None:
    rasa_answered = await receive(database, address="user-und1", text="my parcel is broken")
    keyword = await receive(database, address="user-und1", text="STOP")
    conversation_id = rasa_answered.conversation.id
    async with database.session() as session:
        for stored, intent in ((rasa_answered, None), (keyword, "sms_stop")):
            await inbound.finish_inbound(
                session=session,
                message_id=stored.message.id,
                status=MessageStatus.ANSWERED,
                intent=intent,
            )
    async with database.session() as session:
        assert await understanding.not_yet_understood(
            session=session, conversation_ids=[conversation_id]
        ) == {conversation_id}
        recorded = await understanding.record_understanding(
            session=session,
            conversation_id=conversation_id,
            understood={
                rasa_answered.message.id: {"intent": "file_complaint", "slots": {"c": "d"}},
                keyword.message.id: {"intent": "greet"},  # already has its own intent
            },
        )
    assert recorded == 1
    async with database.session() as session:
        assert not await understanding.not_yet_understood(
            session=session, conversation_ids=[conversation_id]
        )
        understood = await session.get_one(Message, rasa_answered.message.id)
        kept = await session.get_one(Message, keyword.message.id)
    assert understood.intent == "file_complaint"
    assert understood.payload["understanding"]["slots"] == {"c": "d"}
    assert kept.intent == "sms_stop"
