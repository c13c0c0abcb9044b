"""What the console reads: an agent's inbox, and a conversation with everything an agent needs
to take it over. Every view of a customer's data is audited (as a view, which the live
inbox does not count as a change)."""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bot.business.protocol import BusinessSystems
from bot.core.db import Database
from bot.core.models import Conversation, Customer
from bot.core.rasa_client import RasaClient, RasaError
from bot.core.store import audit, complaints, customers, history, understanding
from bot.core.store.inbound import attachments_of
from bot.nlp import store as nlp_store
from handoff.console import schemas
from handoff.console.customer_view import customer_panel, owned_conversation, refund_limit
from handoff.console.views import (
    agent_view,
    complaint_view,
    handoff_fields,
    handoff_view,
    insight_view,
    message_view,
    past_view,
    sentiment_trend,
    understood_in,
)
from handoff.models import Agent, Handoff, HandoffStatus
from handoff.queues import QueueDirectory
from handoff.store import agents, notes, queue
from handoff.store.console import (
    VIEW_ACTION_PREFIX,
    PastConversation,
    conversations_of_customer,
)

log = structlog.get_logger("handoff.console")


class ConsoleReader:
    """Builds the console's views of the store, and audits who looked at what."""

    def __init__(
        self,
        *,
        database: Database,
        queues: QueueDirectory,
        rasa: RasaClient,
        business: BusinessSystems | None = None,
        refund_limits: Mapping[str, int] | None = None,
    ) -> None:
        self._database = database
        self._queues = queues
        self._rasa = rasa
        self._business = business
        self._refund_limits = refund_limits or {}

    async def inbox(self, agent: Agent) -> schemas.Inbox:
        """The agent's conversations and those waiting in the queues they serve."""
        served = self._queues.served_by(agent.skills)
        async with self._database.session() as session:
            handoffs = await queue.handoffs_for_agent(
                session=session, agent_id=agent.id, queues=served
            )
            items = [await self._inbox_item(session, h) for h in handoffs]
            ids = [h.id for h in handoffs]
            _audit_view(session, agent, "inbox", "agent", str(agent.id), handoff_ids=ids)
        return schemas.Inbox(
            agent=agent_view(agent),
            assigned=[i for i in items if i.status == HandoffStatus.ASSIGNED.value],
            queued=[i for i in items if i.status == HandoffStatus.QUEUED.value],
        )

    async def conversation(self, agent: Agent, handoff: Handoff) -> schemas.ConversationDetail:
        """Everything the agent needs: customer, transcript on every channel with what the
        assistant understood, complaints, earlier conversations, notes, where to transfer."""
        async with self._database.session() as session:
            conversation = await session.get_one(Conversation, handoff.conversation_id)
            recent = await conversations_of_customer(
                session=session, customer_id=conversation.customer_id
            )
        # The transcript spans the customer's recent conversations.
        await self._catch_up_understanding([p.conversation for p in recent])
        async with self._database.session() as session:
            detail = await self._detail(session, agent, handoff, conversation, recent)
            _audit_view(
                session,
                agent,
                "customer",
                "customer",
                str(detail.customer.id),
                handoff_id=handoff.id,
            )
        return detail

    async def business_customer(self, agent: Agent, handoff_id: int) -> schemas.BusinessCustomer:
        """What the business systems know of the customer of a conversation the agent has:
        nothing unless they verified; "unavailable" if the business systems do not answer."""
        async with self._database.session() as session:
            owned = await owned_conversation(
                session=session, handoff_id=handoff_id, agent_id=agent.id
            )
        panel = await customer_panel(
            self._business,
            owned.verified,
            role=agent.role.value,
            limit_minor=refund_limit(agent, self._refund_limits),
        )
        if panel.state == "verified":
            async with self._database.session() as session:
                _audit_view(
                    session,
                    agent,
                    "business_customer",
                    "customer",
                    str(owned.customer.id),
                    handoff_id=handoff_id,
                    customer_ref=panel.customer_ref,
                )
        return panel

    async def _detail(
        self,
        session: AsyncSession,
        agent: Agent,
        handoff: Handoff,
        conversation: Conversation,
        recent: list[PastConversation],
    ) -> schemas.ConversationDetail:
        customer = await session.get_one(Customer, conversation.customer_id)
        messages = await history.customer_history(session=session, customer_id=customer.id)
        ids = [m.id for m in messages]
        files = await attachments_of(session=session, message_ids=ids)
        scored = await nlp_store.sentiments_of(session=session, message_ids=ids)
        insight = await nlp_store.insight_of(session=session, conversation_id=conversation.id)
        filed = await complaints.complaints_for_customer(session=session, customer_id=customer.id)
        identities = await customers.identities_of(session=session, customer_id=customer.id)
        notes_on = await notes.notes_on(session=session, conversation_id=conversation.id)
        colleagues = await agents.agents_online(session=session)
        return schemas.ConversationDetail(
            handoff=handoff_view(handoff),
            customer=schemas.CustomerView(
                id=customer.id,
                name=customer.display_name,
                vip=customer.is_vip,
                # Proved in this conversation, before (the record is linked), or an address
                # a channel vouched for.
                verified=bool(conversation.verified_customer_ref or customer.external_ref)
                or any(i.verified for i in identities),
                channels=[
                    schemas.ChannelAddress(channel=i.channel.value, address=i.address)
                    for i in identities
                ],
            ),
            transcript=[
                message_view(m, files.get(m.id, ()), scored.get(m.id)) for m in reversed(messages)
            ],
            understood=schemas.Understood(**understood_in(messages, conversation.id)),
            sentiment_trend=[
                schemas.SentimentPoint(**p)
                for p in sentiment_trend(
                    [m for m in messages if m.conversation_id == conversation.id], scored
                )
            ],
            insight=insight_view(insight),
            complaints=[complaint_view(c) for c in filed],
            conversations=[past_view(p, current=conversation.id) for p in recent],
            notes=[
                schemas.NoteView(at=note.created_at.isoformat(), agent=name, text=note.text)
                for note, name in notes_on
            ],
            queues=[schemas.QueueChoice(key=q.key, name=q.name) for q in self._queues.queues],
            agents=[
                schemas.Colleague(id=a.id, name=a.display_name, status=a.status.value, load=load)
                for a, load in colleagues
                if a.id != agent.id
            ],
        )

    async def _inbox_item(self, session: AsyncSession, handoff: Handoff) -> schemas.InboxItem:
        conversation = await session.get_one(Conversation, handoff.conversation_id)
        customer = await session.get_one(Customer, conversation.customer_id)
        latest = await history.customer_history(session=session, customer_id=customer.id, limit=1)
        files = await attachments_of(session=session, message_ids=[m.id for m in latest])
        insight = await nlp_store.insight_of(session=session, conversation_id=conversation.id)
        return schemas.InboxItem(
            **handoff_fields(handoff),
            customer=customer.display_name or customer.email or customer.phone or "Visitor",
            vip=customer.is_vip,
            queue_name=self._queues.get(handoff.queue).name,
            last_message=message_view(latest[0], files.get(latest[0].id, ())) if latest else None,
            priority=insight.priority.value if insight else None,
            priority_reason=insight.priority_reason if insight else None,
        )

    async def _catch_up_understanding(self, conversations: list[Conversation]) -> None:
        # Rasa's answers carry no intents, so what it understood is read from its tracker
        # when an agent needs it (not on every turn, which would double Rasa's work).
        async with self._database.session() as session:
            pending = await understanding.not_yet_understood(
                session=session, conversation_ids=[c.id for c in conversations]
            )
        for conversation in conversations:
            if conversation.id not in pending:
                continue
            try:
                understood = await self._rasa.understandings(conversation.public_id)
            except RasaError as error:
                log.warning(
                    "understanding_unavailable",
                    conversation_id=conversation.public_id,
                    error=str(error),
                )
                return
            async with self._database.session() as session:
                await understanding.record_understanding(
                    session=session,
                    conversation_id=conversation.id,
                    understood={message_id: u.as_payload() for message_id, u in understood.items()},
                )


def _audit_view(
    session: AsyncSession,
    agent: Agent,
    what: str,
    entity_type: str,
    entity_id: str,
    **details: object,
) -> None:
    audit.record(
        session=session,
        actor=f"agent:{agent.id}",
        action=f"{VIEW_ACTION_PREFIX}{what}",
        entity_type=entity_type,
        entity_id=entity_id,
        details=dict(details),
    )
