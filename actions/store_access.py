"""The complaint store as the actions see it: one lazily-built database, one session per action."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from rasa_sdk import Tracker
from sqlalchemy.ext.asyncio import AsyncSession

from bot import store
from bot.db import Database
from bot.models import Channel
from bot.settings import get_settings
from handoff.queues import QueueDirectory, load_queues
from handoff.routing import Router

_database: Database | None = None
_queues: QueueDirectory | None = None


def database() -> Database:
    """The action server's database, created on first use (never at import)."""
    global _database
    if _database is None:
        _database = Database(get_settings().effective_database_url)
    return _database


def queue_directory() -> QueueDirectory:
    """The departments and queues, read on first use."""
    global _queues
    if _queues is None:
        _queues = load_queues(get_settings().queues_file)
    return _queues


def router() -> Router:
    """Assigns waiting conversations to agents (safe alongside the app doing the same)."""
    return Router(database=database(), queues=queue_directory())


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


async def conversation_of(tracker: Tracker, session: AsyncSession) -> ConversationRef:
    """The stored conversation behind Rasa's sender id.

    A sender id we never issued (someone talking to Rasa directly) gets its own
    customer, so complaints are still stored against someone.
    """
    metadata = tracker.latest_message.get("metadata") or {}
    channel_name = str(metadata.get("channel"))
    channel = Channel(channel_name) if channel_name in Channel._value2member_map_ else Channel.RASA
    conversation = await store.conversation_for_sender(
        session=session, sender_id=tracker.sender_id[:128], channel=Channel.RASA
    )
    return ConversationRef(conversation.customer_id, conversation.id, channel)
