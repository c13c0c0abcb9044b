"""What the console shows of agents, handoffs, messages, customers and complaints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.models import Attachment, Complaint, Direction, Message
from bot.nlp.models import ConversationInsight, MessageSentiment
from handoff.console import schemas
from handoff.models import Agent, Handoff
from handoff.store.console import PastConversation


def agent_view(agent: Agent) -> schemas.AgentView:
    """An agent as the console shows them."""
    return schemas.AgentView(
        id=agent.id,
        name=agent.display_name,
        email=agent.email,
        skills=agent.skills,
        status=agent.status.value,
        capacity=agent.capacity,
        role=agent.role.value,
    )


def handoff_fields(handoff: Handoff) -> dict[str, Any]:
    """The fields of a handoff's view (shared by the inbox items)."""
    return {
        "id": handoff.id,
        "queue": handoff.queue,
        "status": handoff.status.value,
        "kind": handoff.kind.value,
        "reason": handoff.reason,
        "intent": handoff.intent,
        "callback_number": handoff.callback_number,
        "agent_id": handoff.agent_id,
        "enqueued_at": handoff.enqueued_at.isoformat(),
        "note": handoff.note,
        "sentiment_score": handoff.sentiment_score,
    }


def handoff_view(handoff: Handoff) -> schemas.HandoffView:
    """A handed-over conversation: its queue, state and why it was handed over."""
    return schemas.HandoffView(**handoff_fields(handoff))


# Where the console fetches a file's bytes (with the agent's bearer token).
ATTACHMENT_PATH = "/agent/attachments"


def attachment_view(attachment: Attachment) -> schemas.AttachmentView:
    """A file of a message as the console lists it: what it is, never where it is kept."""
    return schemas.AttachmentView(
        id=attachment.id,
        content_type=attachment.content_type,
        filename=attachment.filename,
        size_bytes=attachment.size_bytes,
        url=f"{ATTACHMENT_PATH}/{attachment.id}",
    )


def message_view(
    message: Message,
    files: Sequence[Attachment] = (),
    sentiment: MessageSentiment | None = None,
) -> schemas.MessageView:
    """A message of the transcript, with what the assistant understood of it (not our own
    markers such as "for the agent") and the files that came with it."""
    outbound = message.direction is Direction.OUTBOUND
    agent = (message.payload.get("custom") or {}).get("agent") if outbound else None
    understanding = message.payload.get("understanding") or {}
    return schemas.MessageView(
        id=message.id,
        at=message.created_at.isoformat(),
        channel=message.channel.value,
        sender=("agent" if agent else "assistant") if outbound else "customer",
        agent=agent["name"] if agent else None,
        text=message.payload.get("metadata", {}).get("display_text") or message.text,
        intent=understanding.get("intent"),
        confidence=understanding.get("confidence"),
        entities=understanding.get("entities") or [],
        sentiment={"label": sentiment.label, "score": sentiment.score} if sentiment else None,
        attachments=[attachment_view(f) for f in files],
    )


def understood_in(history: list[Message], conversation_id: int) -> dict[str, Any]:
    """What the assistant collected in this conversation: its intents, and its latest slots."""
    mine = [
        m
        for m in reversed(history)
        if m.conversation_id == conversation_id and m.direction is Direction.INBOUND
    ]
    slots: dict[str, Any] = {}
    intents: list[str] = []
    for message in mine:
        understanding = message.payload.get("understanding") or {}
        slots = understanding.get("slots") or slots
        if understanding.get("intent"):
            intents.append(understanding["intent"])
    return {"intents": list(dict.fromkeys(intents)), "slots": slots}


def sentiment_trend(
    history: list[Message], scored: dict[int, MessageSentiment]
) -> list[dict[str, Any]]:
    """The customer's sentiment over time in these messages, oldest first (empty until the
    NLP jobs have scored them)."""
    points = [
        {"at": m.created_at.isoformat(), "score": round(scored[m.id].score, 3)}
        for m in history
        if m.id in scored
    ]
    return sorted(points, key=lambda point: point["at"])


def insight_view(insight: ConversationInsight | None) -> schemas.InsightView | None:
    """The NLP analysis of a conversation as the console shows it."""
    if insight is None:
        return None
    return schemas.InsightView(
        summary=insight.summary,
        summary_backend=insight.summary_backend,
        trend=insight.trend,
        recent_scores=[float(s) for s in insight.recent_scores],
        sentiment_score=insight.sentiment_score,
        category=insight.category,
        category_confidence=insight.category_confidence,
        priority=insight.priority.value,
        priority_reason=insight.priority_reason,
        updated_at=insight.updated_at.isoformat(),
    )


def past_view(past: PastConversation, *, current: int) -> schemas.PastConversationView:
    """One of the customer's conversations, and who handled it."""
    conversation = past.conversation
    return schemas.PastConversationView(
        id=conversation.public_id,
        current=conversation.id == current,
        channel=conversation.started_channel.value,
        started_at=conversation.started_at.isoformat(),
        status=conversation.status.value,
        messages=past.messages,
        handoffs=[
            schemas.PastHandoff(queue=h.queue, status=h.status.value, agent=name, reason=h.reason)
            for h, name in past.handoffs
        ],
    )


def complaint_view(complaint: Complaint) -> schemas.ComplaintView:
    """A complaint with its case ID, state, and (once scored) summary and sentiment."""
    return schemas.ComplaintView(
        case_id=complaint.case_id,
        category=complaint.category,
        status=complaint.status.value,
        priority=complaint.priority.value,
        summary=complaint.summary,
        sentiment=complaint.sentiment_label,
        sentiment_score=complaint.sentiment_score,
        created_at=complaint.created_at.isoformat(),
    )
