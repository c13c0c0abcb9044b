"""Phone calls in the store on SQLite and PostgreSQL."""

from __future__ import annotations

from bot.core.db import Database
from bot.core.models import Channel, Message, MessageStatus
from bot.core.store import calls, outbound
from tests.support.store import answer, receive


async def test_a_call_that_ends_fails_its_unspoken_replies(database: Database) -> None:
    said = await receive(database, Channel.VOICE, "+14155550166", external_id="CA9:1")
    spoken = await answer(database, said, "spoken")
    unspoken = await answer(database, said, "never said")
    async with database.session() as session:
        await outbound.mark_delivered(session=session, message_ids=[spoken.id])
    async with database.session() as session:
        assert await calls.end_call(session=session, call_sid="CA9", status="completed") == 1
    async with database.session() as session:
        assert (await session.get_one(Message, spoken.id)).status is MessageStatus.DELIVERED
        assert (await session.get_one(Message, unspoken.id)).status is MessageStatus.FAILED
