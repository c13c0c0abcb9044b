"""What the actions use, built lazily once per action-server process: the database, the
queues and escalation (no announcer: the app tells customers who has joined), one session
per action, and the stored conversation behind Rasa's sender id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache

from rasa_sdk import Tracker
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.models import Channel
from bot.core.settings import get_settings
from bot.core.store import conversations
from handoff.escalation import Escalations
from handoff.queues import QueueDirectory, load_queues
from handoff.routing import Router


@cache
def database() -> Database:
    """The action server's database, created on first use (never at import)."""
    return Database(get_settings().effective_database_url)


@cache
def queue_directory() -> QueueDirectory:
    """The departments and queues, read on first use."""
    return load_queues(get_settings().queues_file)


@cache
def escalations() -> Escalations:
    """Hands conversations to people (dispatching safely alongside the app)."""
    directory = queue_directory()
    router = Router(database=database(), queues=directory)
    return Escalations(database=database(), queues=directory, router=router)


@asynccontextmanager
async def action_session() -> AsyncIterator[AsyncSession]:
    """One transaction for one action run."""
    async with database().session() as session:
        yield session


@dataclass(frozen=True)
class ConversationRef:
    """Who the conversation in a tracker belongs to."""

    customer_id: int
    conversation_id: int
    channel: Channel


class UnknownConversation(LookupError):
    """Rasa's sender id is not a conversation the app started: nothing is done for it."""


async def conversation_of(tracker: Tracker, session: AsyncSession) -> ConversationRef:
    """The stored conversation behind Rasa's sender id; UnknownConversation for a sender id
    the app never issued (the action server refuses those before any action runs)."""
    metadata = tracker.latest_message.get("metadata") or {}
    channel_name = str(metadata.get("channel"))
    channel = Channel(channel_name) if channel_name in Channel._value2member_map_ else Channel.RASA
    conversation = await conversations.conversation_by_public_id(
        session=session, public_id=tracker.sender_id
    )
    if conversation is None:
        raise UnknownConversation("not a conversation the app started")
    return ConversationRef(conversation.customer_id, conversation.id, channel)
