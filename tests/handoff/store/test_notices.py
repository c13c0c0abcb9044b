"""Telling a customer who joined, on SQLite and PostgreSQL: only once an agent has the
conversation, and only on a live channel (web chat)."""

from __future__ import annotations

from bot.core.db import Database
from bot.core.models import Channel, Message
from bot.core.store import inbound
from handoff.store import assignment, notices
from handoff.store.queue import HandoffRequest, enqueue_handoff
from tests.support.handoff import IDLE_AFTER, new_agent, queued


async def _queued_on_web_chat(database: Database, visitor: str) -> int:
    async with database.session() as session:
        chatting = await inbound.record_inbound(
            session=session,
            channel=Channel.WEBCHAT,
            address=visitor,
            text="a person please",
            external_id=None,
            idle_after=IDLE_AFTER,
        )
        on_web = await enqueue_handoff(
            session=session,
            conversation_id=chatting.conversation.id,
            request=HandoffRequest(queue="support.general", reason="request_human"),
        )
        return on_web.id


async def test_a_customer_on_web_chat_is_told_who_joined(database: Database) -> None:
    on_web = await _queued_on_web_chat(database, "visitor-joined")
    by_text = await queued(database)
    agent = await new_agent(database, capacity=3)
    async with database.session() as session:
        # Not before someone has it.
        assert (
            await notices.announce_agent(session=session, handoff_id=on_web, team="General") is None
        )
        for handoff_id in (on_web, by_text):
            await assignment.take_handoff(session=session, handoff_id=handoff_id, agent_id=agent)
    async with database.session() as session:
        announced = await notices.announce_agent(
            session=session, handoff_id=on_web, team="General help"
        )
        # A text message or an email says nothing until the agent writes.
        assert (
            await notices.announce_agent(session=session, handoff_id=by_text, team="General")
            is None
        )
    assert announced is not None
    async with database.session() as session:
        notice = await session.get_one(Message, announced.reply.message_id)
    assert notice.text == "Agent from our General help team has joined the conversation."
    assert notice.payload["custom"] == {
        "notice": "agent_joined",
        "agent": {"id": agent, "name": "Agent"},
    }
    assert (announced.channel, announced.address) == (Channel.WEBCHAT, "visitor-joined")
