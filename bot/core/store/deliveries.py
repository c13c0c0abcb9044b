"""Hand-overs of replies to a provider (Twilio message SIDs, email Message-IDs) and what the
provider said about them since."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Channel, Delivery
from bot.core.store.outbound import mark_failed

# Provider statuses that mean the message did not reach the customer.
FAILED_PROVIDER_STATUSES = frozenset({"failed", "undelivered", "canceled"})


def record_delivery(
    *,
    session: AsyncSession,
    message_id: int,
    channel: Channel,
    provider_id: str,
    status: str,
    part: int = 0,
) -> None:
    """Remember the provider's id for (part of) an outbound message sent through it."""
    session.add(
        Delivery(
            message_id=message_id,
            channel=channel,
            provider_id=provider_id,
            part=part,
            status=status,
        )
    )


async def update_delivery_status(
    *,
    session: AsyncSession,
    channel: Channel,
    provider_id: str,
    status: str,
    error_code: str | None = None,
) -> bool:
    """Record a provider's status callback; a failed part fails its message. False if unknown."""
    deliveries = list(
        await session.scalars(
            select(Delivery).where(Delivery.channel == channel, Delivery.provider_id == provider_id)
        )
    )
    for delivery in deliveries:
        delivery.status = status[:20]
        delivery.error_code = error_code[:20] if error_code else None
    if status in FAILED_PROVIDER_STATUSES:
        reason = f"{channel.value} provider: {status}"
        await mark_failed(
            session=session,
            message_ids=[d.message_id for d in deliveries],
            error=f"{reason} ({error_code})" if error_code else reason,
        )
    return bool(deliveries)


async def deliveries_of(*, session: AsyncSession, message_id: int) -> list[Delivery]:
    """The provider hand-overs of one outbound message, in order."""
    rows = await session.scalars(
        select(Delivery).where(Delivery.message_id == message_id).order_by(Delivery.id)
    )
    return list(rows)
