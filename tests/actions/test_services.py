"""What the actions share: the conversation behind Rasa's sender id, only if the app
started it."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker

from actions.services import UnknownConversation, conversation_of
from bot.core.db import Database
from bot.core.models import Channel
from tests.support.store import receive


def _tracker(sender_id: str) -> Tracker:
    return Tracker(
        sender_id=sender_id,
        slots={},
        latest_message={"text": "status?", "metadata": {"channel": "sms"}},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def test_a_conversation_the_app_started(database: Database) -> None:
    stored = await receive(database, Channel.SMS, "+14155550142")
    async with database.session() as session:
        ref = await conversation_of(_tracker(stored.conversation.public_id), session)
    assert ref.conversation_id == stored.conversation.id
    assert ref.customer_id == stored.identity.customer_id
    assert ref.channel is Channel.SMS


async def test_a_sender_id_the_app_never_issued_is_refused(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(UnknownConversation):
            await conversation_of(_tracker("invented-sender"), session)
