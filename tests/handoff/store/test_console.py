"""What the agent console reads, on SQLite and PostgreSQL: the inbox's change marker, and a
customer's conversations with who handled them."""

from __future__ import annotations

from bot.core.db import Database
from bot.core.models import Conversation
from bot.core.store import audit
from handoff.models import Handoff
from handoff.routing import Router
from handoff.store import agents, console
from tests.support.handoff import QUEUES, new_agent, queued


async def test_agents_looking_is_audited_but_is_not_an_inbox_change(database: Database) -> None:
    async with database.session() as session:
        before = await console.inbox_version(session=session)
        audit.record(
            session=session,
            actor="agent:1",
            action=f"{console.VIEW_ACTION_PREFIX}customer",
            entity_type="customer",
            entity_id="1",
        )
    async with database.session() as session:
        # Otherwise an open console, reloading on change, would audit and reload forever.
        assert await console.inbox_version(session=session) == before
    await queued(database)
    async with database.session() as session:
        after = await console.inbox_version(session=session)
    assert after[0] > before[0] and after[1] > before[1]


async def test_a_customers_conversations_with_who_handled_them(database: Database) -> None:
    handoff_id = await queued(database)
    agent = await new_agent(database)
    await Router(database=database, queues=QUEUES).dispatch()
    async with database.session() as session:
        handoff = await session.get_one(Handoff, handoff_id)
        conversation = await session.get_one(Conversation, handoff.conversation_id)
        (past,) = await console.conversations_of_customer(
            session=session, customer_id=conversation.customer_id
        )
        online = await agents.agents_online(session=session)
    assert past.conversation.id == conversation.id and past.messages == 1
    assert [(h.id, name) for h, name in past.handoffs] == [(handoff_id, "Agent")]
    assert (agent, 1) in [(a.id, load) for a, load in online]
