"""ORM models of handoff to people: agents (and their stream tickets), handoffs, declines,
notes and survey answers."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.models import Base, Priority, enum_column, utcnow


class AgentStatus(enum.StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class AgentRole(enum.StrEnum):
    """What an agent may do for customers from the console (refund limits are per role)."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"


class HandoffStatus(enum.StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    ABANDONED = "abandoned"


class HandoffKind(enum.StrEnum):
    CHAT = "chat"  # an agent answers in the customer's channel
    CALLBACK = "callback"  # an agent calls the customer back


class Agent(Base):
    """A member of the support team who takes conversations handed over by the assistant."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    # Where a caller is put through when this agent takes their call (E.164), if anywhere.
    phone: Mapped[str | None] = mapped_column(String(32))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[AgentStatus] = mapped_column(
        enum_column(AgentStatus), default=AgentStatus.OFFLINE
    )
    # How many conversations the agent handles at once.
    capacity: Mapped[int] = mapped_column(Integer, default=3)
    role: Mapped[AgentRole] = mapped_column(
        enum_column(AgentRole), default=AgentRole.AGENT, server_default=AgentRole.AGENT.value
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    # Raised by signing out or a new password: tokens of an older generation are refused.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AgentStreamTicket(Base):
    """A single-use pass to open the console's live event stream, bought with a bearer
    token: browsers cannot send headers with EventSource, and the token must not be in a URL.
    Only a digest of the ticket is kept."""

    __tablename__ = "agent_stream_tickets"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    # The token's generation and end: the stream ends with them.
    generation: Mapped[int] = mapped_column(Integer)
    token_expires_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Handoff(Base):
    """A conversation handed to people: waiting in a queue, with an agent, or done.

    Queues are served in `priority_at` order: the time it was queued, brought forward by
    its priority (VIP, urgent complaint, unhappy customer) by a bounded amount, so waiting
    longer always wins in the end and nobody starves.
    """

    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_status_queue_priority", "status", "queue", "priority_at"),
        Index("ix_handoffs_agent_status", "agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    queue: Mapped[str] = mapped_column(String(100))
    kind: Mapped[HandoffKind] = mapped_column(enum_column(HandoffKind), default=HandoffKind.CHAT)
    status: Mapped[HandoffStatus] = mapped_column(
        enum_column(HandoffStatus), default=HandoffStatus.QUEUED
    )
    reason: Mapped[str] = mapped_column(String(200))
    intent: Mapped[str | None] = mapped_column(String(100))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"))
    is_vip: Mapped[bool] = mapped_column(default=False)
    complaint_priority: Mapped[Priority | None] = mapped_column(enum_column(Priority))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    callback_number: Mapped[str | None] = mapped_column(String(32))
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    priority_at: Mapped[datetime]
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    assigned_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    # Which survey statement the customer answers next (None: no survey).
    survey_step: Mapped[int | None] = mapped_column(Integer)


class HandoffDecline(Base):
    """An agent passed on a conversation: it is not offered to them again."""

    __tablename__ = "handoff_declines"
    __table_args__ = (UniqueConstraint("handoff_id", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    declined_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentNote(Base):
    """An internal note on a handed-over conversation, for agents only."""

    __tablename__ = "agent_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CsatResponse(Base):
    """One answer of the satisfaction survey after an agent resolved a conversation (1-5)."""

    __tablename__ = "csat_responses"
    __table_args__ = (UniqueConstraint("handoff_id", "statement"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    statement: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
