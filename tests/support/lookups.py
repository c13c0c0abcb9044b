"""What the stack stored about a customer, looked up by the address they wrote from."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import ChannelIdentity, Conversation
from handoff.models import Handoff


async def handoff_of(db: Database, address: str) -> Handoff:
    """The newest handoff of the customer who wrote from `address` (there must be one)."""
    async with db.session() as session:
        handoff = await session.scalar(
            select(Handoff)
            .join(Conversation, Handoff.conversation_id == Conversation.id)
            .join(ChannelIdentity, ChannelIdentity.customer_id == Conversation.customer_id)
            .where(ChannelIdentity.address == address)
            .order_by(Handoff.id.desc())
            .limit(1)
        )
        assert handoff is not None
        return handoff
