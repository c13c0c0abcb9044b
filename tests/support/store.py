"""Rows the core store's tests start from: a customer's message, our reply to it, and a count
of a table's rows, each written in its own transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.core.db import Database
from bot.core.models import Channel, Message
from bot.core.store.inbound import StoredInbound, record_inbound
from bot.core.store.outbound import record_outbound

# A conversation quiet for longer than this is over; the next message starts a new one.
IDLE = timedelta(hours=24)


async def receive(
    db: Database,
    channel: Channel = Channel.WEBCHAT,
    address: str = "user-0001",
    *,
    text: str = "hello",
    external_id: str | None = None,
    thread_refs: list[str] | None = None,
) -> StoredInbound:
    """A customer's message stored as a channel stores it (web chat unless told)."""
    async with db.session() as session:
        return await record_inbound(
            session=session,
            channel=channel,
            address=address,
            text=text,
            external_id=external_id,
            idle_after=IDLE,
            thread_refs=thread_refs,
        )


async def answer(db: Database, to: StoredInbound, text: str, **payload: object) -> Message:
    """Our reply to `to`, pending delivery, with `payload` (e.g. `buttons=[...]`)."""
    async with db.session() as session:
        message = await session.get_one(Message, to.message.id)
        return await record_outbound(
            session=session, reply_to=message, text=text, payload=dict(payload)
        )


async def row_count(db: Database, model: type[object]) -> int:
    """How many rows `model`'s table holds."""
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)
