"""Verification of customers: one-time code challenges (digests only), a conversation marked
verified as a customer of the business systems, and that customer joined across channels."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import (
    ChannelIdentity,
    Complaint,
    Conversation,
    Customer,
    VerificationChallenge,
    VerificationLevel,
    utcnow,
)
from bot.core.store import audit


def create_challenge(
    *,
    session: AsyncSession,
    conversation_id: int,
    customer_ref: str,
    sent_via: str,
    code_digest: str,
    ttl: timedelta,
) -> VerificationChallenge:
    """A new code for this conversation; earlier open ones are withdrawn (one live code)."""
    now = utcnow()
    challenge = VerificationChallenge(
        conversation_id=conversation_id,
        customer_ref=customer_ref,
        sent_via=sent_via,
        code_digest=code_digest,
        attempts=0,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(challenge)
    audit.record(
        session=session,
        actor=f"conversation:{conversation_id}",
        action="verification.code_sent",
        entity_type="customer_ref",
        entity_id=customer_ref,
        details={"via": sent_via},
    )
    return challenge


async def withdraw_open_challenges(*, session: AsyncSession, conversation_id: int) -> None:
    """Make every unused code of the conversation unusable (a new one is being sent)."""
    await session.execute(
        update(VerificationChallenge)
        .where(
            VerificationChallenge.conversation_id == conversation_id,
            VerificationChallenge.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )


async def latest_challenge(
    *, session: AsyncSession, conversation_id: int
) -> VerificationChallenge | None:
    """The conversation's latest code, used or not (locked for update where supported)."""
    return await session.scalar(
        select(VerificationChallenge)
        .where(VerificationChallenge.conversation_id == conversation_id)
        .order_by(VerificationChallenge.id.desc())
        .limit(1)
        .with_for_update()
    )


def record_attempt(
    *, session: AsyncSession, challenge: VerificationChallenge, correct: bool
) -> None:
    """Count one try at a code; a right one uses it up."""
    challenge.attempts += 1
    if correct:
        challenge.used_at = utcnow()
    audit.record(
        session=session,
        actor=f"conversation:{challenge.conversation_id}",
        action="verification.code_accepted" if correct else "verification.code_refused",
        entity_type="customer_ref",
        entity_id=challenge.customer_ref,
        details={"attempt": challenge.attempts},
    )


async def mark_verified(
    *,
    session: AsyncSession,
    conversation_id: int,
    customer_ref: str,
    level: VerificationLevel,
    via: str,
    details: dict[str, str] | None = None,
) -> Conversation | None:
    """Record who the conversation's customer proved to be and join them with the store's
    customer for that record (one customer across channels). None, and the attempt in the
    audit log, if the conversation's customer is already another record's."""
    conversation = await session.get(Conversation, conversation_id, with_for_update=True)
    if conversation is None:
        raise LookupError(f"no conversation {conversation_id}")
    customer = await session.get(Customer, conversation.customer_id)
    assert customer is not None
    if customer.external_ref not in (
        None,
        customer_ref,
    ) or conversation.verified_customer_ref not in (
        None,
        customer_ref,
    ):
        audit.record(
            session=session,
            actor=f"conversation:{conversation_id}",
            action="verification.refused_other_record",
            entity_type="customer",
            entity_id=str(customer.id),
            details={"attempted_ref": customer_ref},
        )
        return None
    if customer.external_ref is None:
        await _join_customer(session=session, customer=customer, customer_ref=customer_ref)
    conversation.verified_customer_ref = customer_ref
    conversation.verification_level = level
    conversation.verified_at = utcnow()
    conversation.verified_via = via
    audit.record(
        session=session,
        actor=f"conversation:{conversation_id}",
        action="verification.verified",
        entity_type="conversation",
        entity_id=str(conversation_id),
        details={"customer_ref": customer_ref, "level": level.value, "via": via} | (details or {}),
    )
    return conversation


async def _join_customer(*, session: AsyncSession, customer: Customer, customer_ref: str) -> None:
    # The record's customer may already be known to the store from another channel: move
    # this customer's identities, conversations and complaints to them (one history).
    known = await session.scalar(select(Customer).where(Customer.external_ref == customer_ref))
    if known is None:
        customer.external_ref = customer_ref
        await session.flush()
        return
    # ORM-enabled updates also move the objects already loaded in this session.
    for table in (ChannelIdentity, Conversation, Complaint):
        await session.execute(
            update(table).where(table.customer_id == customer.id).values(customer_id=known.id)
        )
    audit.record(
        session=session,
        actor="verification",
        action="customer.joined",
        entity_type="customer",
        entity_id=str(known.id),
        details={"joined_customer_id": customer.id, "customer_ref": customer_ref},
    )
    await session.flush()


def verification_current(
    conversation: Conversation, *, lifetime: timedelta | None, now: datetime | None = None
) -> bool:
    """Whether the conversation's verification still holds (None lifetime: for good)."""
    if conversation.verified_customer_ref is None or conversation.verified_at is None:
        return False
    return lifetime is None or (now or utcnow()) - conversation.verified_at <= lifetime
