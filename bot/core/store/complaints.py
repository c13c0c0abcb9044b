"""Complaints: filed with a short case ID such as CMP-7K3Q9, found again by it."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Channel, Complaint, ComplaintStatus, Priority
from bot.core.store import audit

# No 0/O, 1/I/L or U: case IDs are read out on the phone and typed from SMS.
CASE_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CASE_ID_PREFIX = "CMP-"
CASE_ID_LENGTH = 5


def new_case_id() -> str:
    """A short, human-friendly case ID such as CMP-7K3Q9."""
    return CASE_ID_PREFIX + "".join(secrets.choice(CASE_ID_ALPHABET) for _ in range(CASE_ID_LENGTH))


async def open_complaint(
    *,
    session: AsyncSession,
    customer_id: int,
    conversation_id: int | None,
    channel: Channel,
    category: str,
    description: str,
    order_ref: str | None = None,
    desired_outcome: str | None = None,
    priority: Priority = Priority.NORMAL,
    actor: str = "assistant",
) -> Complaint:
    """File a new complaint with a fresh case ID, status pending, and audit it."""
    case_id = new_case_id()
    while await session.scalar(select(Complaint.id).where(Complaint.case_id == case_id)):
        case_id = new_case_id()
    complaint = Complaint(
        case_id=case_id,
        customer_id=customer_id,
        conversation_id=conversation_id,
        channel=channel,
        category=category,
        description=description,
        order_ref=order_ref,
        desired_outcome=desired_outcome,
        status=ComplaintStatus.PENDING,
        priority=priority,
    )
    session.add(complaint)
    await session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="complaint.opened",
        entity_type="complaint",
        entity_id=case_id,
        details={"category": category, "priority": priority.value, "customer_id": customer_id},
    )
    return complaint


async def find_complaint(*, session: AsyncSession, case_id: str) -> Complaint | None:
    """A complaint by its case ID (case-insensitive, dash optional)."""
    return await session.scalar(
        select(Complaint).where(Complaint.case_id == normalise_case_id(case_id))
    )


def normalise_case_id(raw: str) -> str:
    """`cmp7k3q9`, `CMP 7K3Q9` and `CMP-7K3Q9` are the same case ID."""
    compact = "".join(ch for ch in raw.upper() if ch.isalnum())
    if compact.startswith("CMP"):
        compact = compact[3:]
    return CASE_ID_PREFIX + compact


async def complaints_for_customer(
    *, session: AsyncSession, customer_id: int, limit: int = 5
) -> list[Complaint]:
    """A customer's complaints, newest first."""
    rows = await session.scalars(
        select(Complaint)
        .where(Complaint.customer_id == customer_id)
        .order_by(Complaint.created_at.desc(), Complaint.id.desc())
        .limit(limit)
    )
    return list(rows)


async def latest_complaint_in(*, session: AsyncSession, conversation_id: int) -> Complaint | None:
    """The complaint filed last in a conversation, if any."""
    return await session.scalar(
        select(Complaint)
        .where(Complaint.conversation_id == conversation_id)
        .order_by(Complaint.id.desc())
        .limit(1)
    )


def record_analysis(
    *,
    session: AsyncSession,
    complaint: Complaint,
    summary: str,
    sentiment_label: str | None,
    sentiment_score: float | None,
    priority: Priority,
    reason: str,
) -> None:
    """Keep the NLP analysis of a complaint: summary, sentiment and priority (audited when
    the priority changes)."""
    complaint.summary = summary
    complaint.sentiment_label = sentiment_label
    complaint.sentiment_score = sentiment_score
    if complaint.priority != priority:
        audit.record(
            session=session,
            actor="nlp",
            action="complaint.priority_changed",
            entity_type="complaint",
            entity_id=complaint.case_id,
            details={"from": complaint.priority.value, "to": priority.value, "reason": reason},
        )
        complaint.priority = priority
