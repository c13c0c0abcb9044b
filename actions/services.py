"""What the actions use, built lazily once per action-server process: the database, the
queues and escalation (no announcer: the app tells customers who has joined), one session
per action, and the stored conversation behind Rasa's sender id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from rasa_sdk import Tracker
from sqlalchemy.ext.asyncio import AsyncSession

from actions.verification.codes import CodeSender
from bot.business.factory import build_business_systems
from bot.business.protocol import BusinessSystems
from bot.core.db import Database
from bot.core.models import Channel, Conversation
from bot.core.rate_limits import RateLimits, storage_for
from bot.core.settings import get_settings
from bot.core.store import conversations, verification
from bot.nlp.jobs import NlpJobs
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
def rate_limits() -> RateLimits:
    """Limits on codes sent and tried (shared through Redis when configured)."""
    return RateLimits(storage_for(get_settings().redis_url))


_code_senders: list[CodeSender] = []


def set_code_sender(sender: CodeSender) -> None:
    """Install how codes reach phones and mailboxes (the action server's root does)."""
    _code_senders[:] = [sender]


def code_sender() -> CodeSender:
    """How codes reach phones and mailboxes in this process."""
    if not _code_senders:
        raise RuntimeError("no code sender installed: start actions with bot.action_server")
    return _code_senders[0]


@cache
def _business_systems() -> BusinessSystems:
    return build_business_systems(get_settings())


async def business_systems() -> BusinessSystems:
    """The company's business systems (demo or HTTP, per settings), built on first use."""
    return _business_systems()


@cache
def escalations() -> Escalations:
    """Hands conversations to people (dispatching safely alongside the app)."""
    directory = queue_directory()
    router = Router(database=database(), queues=directory)
    return Escalations(database=database(), queues=directory, router=router, jobs=nlp_jobs())


@cache
def nlp_jobs() -> NlpJobs:
    """Queues the NLP jobs (summary, category, priority) that the app's worker runs."""
    return NlpJobs(get_settings())


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


@dataclass(frozen=True)
class ConversationState:
    """The stored conversation behind a tracker, with its address and verification."""

    ref: ConversationRef
    address: str
    verified_customer_ref: str | None
    verification_level: str | None = None


class UnknownConversation(LookupError):
    """Rasa's sender id is not a conversation the app started: nothing is done for it."""


async def _stored(tracker: Tracker, session: AsyncSession) -> tuple[Conversation, Channel]:
    metadata = tracker.latest_message.get("metadata") or {}
    channel_name = str(metadata.get("channel"))
    channel = Channel(channel_name) if channel_name in Channel._value2member_map_ else Channel.RASA
    conversation = await conversations.conversation_by_public_id(
        session=session, public_id=tracker.sender_id
    )
    if conversation is None:
        raise UnknownConversation("not a conversation the app started")
    return conversation, channel


async def conversation_of(tracker: Tracker, session: AsyncSession) -> ConversationRef:
    """The stored conversation behind Rasa's sender id; UnknownConversation for a sender id
    the app never issued (the action server refuses those before any action runs)."""
    conversation, channel = await _stored(tracker, session)
    return ConversationRef(conversation.customer_id, conversation.id, channel)


async def conversation_state(tracker: Tracker, session: AsyncSession) -> ConversationState:
    """The conversation, the address the customer writes from, and who they proved to be
    (None when not verified, or when the verification has lapsed)."""
    conversation, channel = await _stored(tracker, session)
    ref = ConversationRef(conversation.customer_id, conversation.id, channel)
    minutes = get_settings().verification_lifetime_minutes
    lifetime = timedelta(minutes=minutes) if minutes else None
    verified = verification.verification_current(conversation, lifetime=lifetime)
    address = await conversations.latest_address(session=session, conversation_id=conversation.id)
    if not verified or conversation.verification_level is None:
        return ConversationState(ref, address or "", None)
    return ConversationState(
        ref,
        address or "",
        conversation.verified_customer_ref,
        conversation.verification_level.value,
    )
