"""The NLP package's tables: each customer message's sentiment, and what was worked out
about a conversation (summary, trend, category, priority) for the agent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.models import Base, Priority, enum_column, utcnow


class MessageSentiment(Base):
    """How one customer message feels: label, signed score (-1..1), and who scored it."""

    __tablename__ = "message_sentiments"
    __table_args__ = (Index("ix_message_sentiments_conversation", "conversation_id", "message_id"),)

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    label: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    backend: Mapped[str] = mapped_column(String(50))
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationInsight(Base):
    """The latest analysis of a conversation: summary for the agent, sentiment trend,
    predicted complaint category, priority and why."""

    __tablename__ = "conversation_insights"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_backend: Mapped[str] = mapped_column(String(100), default="")
    # "worsening", "improving", "steady" or "unknown", with the last few scores.
    trend: Mapped[str] = mapped_column(String(20), default="unknown")
    recent_scores: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String(200))
    category_confidence: Mapped[float | None] = mapped_column(Float)
    priority: Mapped[Priority] = mapped_column(enum_column(Priority), default=Priority.NORMAL)
    priority_reason: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
