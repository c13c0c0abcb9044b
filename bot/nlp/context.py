"""What the store knows about a conversation, gathered for its analysis: the transcript with
the customer's scores, the customer, their complaints and contacts, and what the assistant
already did (from the audit log)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import (
    AuditEvent,
    Complaint,
    Conversation,
    Customer,
    Direction,
    Message,
    utcnow,
)
from bot.nlp.models import MessageSentiment
from bot.nlp.summary import Facts, Utterance

CONTACT_WINDOW = timedelta(days=7)
HISTORY_WINDOW = timedelta(days=90)
# Audit entries that say what the assistant did in a conversation, as the agent reads them.
DONE_PHRASES = {
    "refund.approved": "refund {order_ref} approved ({rule})",
    "refund.referred": "refund {order_ref} sent to a person: {explanation}",
    "handoff.callback_requested": "callback requested",
    "handoff.queued": "handed to people ({queue} queue)",
}


@dataclass(frozen=True)
class ConversationContext:
    """Everything an analysis of one conversation reads."""

    conversation: Conversation
    customer: Customer
    messages: list[Message]
    scores: dict[int, float]
    complaints: list[Complaint]
    contacts_this_week: int
    earlier_complaints: int
    done: list[str]

    def utterances(self) -> list[Utterance]:
        """The transcript as the summariser reads it."""
        return [
            Utterance(
                "customer" if m.direction is Direction.INBOUND else _outbound_speaker(m),
                words_of(m),
                self.scores.get(m.id),
            )
            for m in self.messages
            if words_of(m)
        ]

    def customer_scores(self) -> list[float]:
        """The customer's scores, oldest first."""
        return [self.scores[m.id] for m in self.messages if m.id in self.scores]

    def customer_text(self) -> str:
        """What the customer said (and the complaints' descriptions), for the category."""
        parts = [c.description for c in self.complaints]
        parts += [words_of(m) for m in self.messages if m.direction is Direction.INBOUND]
        return "\n".join(p for p in parts if p.strip())

    def facts(self, *, trend: str | None, category: str | None) -> Facts:
        """The facts beside the words: who, identifiers, wants, what was done."""
        identifiers: dict[str, str] = {}
        wants = None
        for complaint in self.complaints:
            identifiers.setdefault("case", complaint.case_id)
            if complaint.order_ref:
                identifiers.setdefault("order", complaint.order_ref)
            wants = wants or complaint.desired_outcome
        return Facts(
            customer=_who(self.customer, self.conversation),
            channel=self.conversation.started_channel.value,
            identifiers=identifiers,
            wants=wants,
            done=self.done,
            category=category,
            trend=trend,
        )


def words_of(message: Message) -> str:
    """What the person wrote or said: a button's title rather than the payload it sent
    ("/inform{...}"), nothing for a payload alone."""
    metadata = message.payload.get("metadata")
    shown = metadata.get("display_text") if isinstance(metadata, dict) else None
    text = shown if isinstance(shown, str) and shown else message.text
    return "" if text.startswith("/") else text.strip()


async def gather(*, session: AsyncSession, conversation_id: int) -> ConversationContext | None:
    """The context of a conversation, or None if there is no such conversation."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        return None
    customer = await session.get_one(Customer, conversation.customer_id)
    messages = list(
        await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at, Message.id)
        )
    )
    score_rows = await session.execute(
        select(MessageSentiment.message_id, MessageSentiment.score).where(
            MessageSentiment.conversation_id == conversation_id
        )
    )
    scores = {message_id: score for message_id, score in score_rows}
    complaints = list(
        await session.scalars(select(Complaint).where(Complaint.conversation_id == conversation_id))
    )
    return ConversationContext(
        conversation,
        customer,
        messages,
        scores,
        complaints,
        await _contacts_this_week(session, customer.id),
        await _earlier_complaints(session, customer.id, conversation),
        await _done(session, conversation, complaints),
    )


async def _contacts_this_week(session: AsyncSession, customer_id: int) -> int:
    count = await session.scalar(
        select(func.count(Conversation.id)).where(
            Conversation.customer_id == customer_id,
            Conversation.started_at >= utcnow() - CONTACT_WINDOW,
        )
    )
    return max(1, int(count or 0))


async def _earlier_complaints(
    session: AsyncSession, customer_id: int, conversation: Conversation
) -> int:
    count = await session.scalar(
        select(func.count(Complaint.id)).where(
            Complaint.customer_id == customer_id,
            Complaint.created_at < conversation.started_at,
            Complaint.created_at >= conversation.started_at - HISTORY_WINDOW,
        )
    )
    return int(count or 0)


async def _done(
    session: AsyncSession, conversation: Conversation, complaints: list[Complaint]
) -> list[str]:
    done = []
    if conversation.verification_level is not None:
        done.append(f"verified ({conversation.verification_level.value})")
    done += [f"filed complaint {c.case_id} ({c.category})" for c in complaints]
    events = await session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.action.in_(DONE_PHRASES),
            AuditEvent.occurred_at >= conversation.started_at,
        )
        .order_by(AuditEvent.id)
    )
    for event in events:
        if _belongs(event, conversation):
            done.append(DONE_PHRASES[event.action].format_map(_Blank(event.details)))
    return done


def _belongs(event: AuditEvent, conversation: Conversation) -> bool:
    if event.entity_type == "conversation":
        return event.entity_id == conversation.public_id
    return event.details.get("conversation_id") == conversation.id


class _Blank(dict[str, object]):
    """Format values, with an empty string for anything an older entry did not record."""

    def __missing__(self, key: str) -> str:
        return ""


def _who(customer: Customer, conversation: Conversation) -> str:
    name = customer.display_name or "not identified"
    ref = conversation.verified_customer_ref or customer.external_ref
    who = f"{name} ({ref})" if ref else name
    if customer.is_vip:
        who += ", VIP"
    if conversation.verification_level is not None:
        who += f", verified by {conversation.verification_level.value.replace('_', ' ')}"
    return who


def _outbound_speaker(message: Message) -> str:
    custom = message.payload.get("custom")
    return "agent" if isinstance(custom, dict) and "agent" in custom else "assistant"
