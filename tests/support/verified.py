"""Customers who proved who they are, in conversations an agent has: what the console's
customer panel and the proactive updates start from. The demo backend's personas are the
business records (C-10001 Alice, SMS; C-10002 Bilal, VIP, voice; C-10003 Chloe, email)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.business.protocol import BusinessSystems
from bot.core.db import Database
from bot.core.delivery import PushFn
from bot.core.messages import StoredReply
from bot.core.models import Channel, Conversation, Customer, VerificationLevel, utcnow
from bot.core.services import CoreServices
from bot.core.settings import Settings
from bot.core.store import inbound
from bot.testing.ports import free_port
from handoff.models import AgentRole
from handoff.services import HandoffServices
from handoff.store import agents, assignment
from handoff.store.queue import HandoffRequest, enqueue_handoff
from tests.support.handoff import unique_number

IDLE = timedelta(hours=1)


async def customer_writes(
    db: Database, channel: Channel, address: str, text: str = "I need a person"
) -> int:
    """A customer's message on `channel` from `address`; its conversation's id."""
    async with db.session() as session:
        stored = await inbound.record_inbound(
            session=session,
            channel=channel,
            address=address,
            text=text,
            external_id=f"in-{unique_number()}",
            idle_after=IDLE,
        )
        return stored.conversation.id


async def verify(
    db: Database,
    conversation_id: int,
    customer_ref: str,
    *,
    level: VerificationLevel = VerificationLevel.CODE,
    via: str = "sms",
) -> None:
    """The conversation's customer proved to be `customer_ref` (as verification records it)."""
    async with db.session() as session:
        conversation = await session.get_one(Conversation, conversation_id)
        conversation.verified_customer_ref = customer_ref
        conversation.verification_level = level
        conversation.verified_at = utcnow()
        conversation.verified_via = via
        customer = await session.get_one(Customer, conversation.customer_id)
        customer.external_ref = customer_ref


async def new_agent(
    db: Database, *, role: AgentRole = AgentRole.AGENT, capacity: int = 5
) -> tuple[int, str]:
    """An agent of `role` (all queues' skills not needed: they take conversations by id);
    their id and email."""
    email = f"agent{unique_number()}@shop.example"
    async with db.session() as session:
        agent = await agents.create_agent(
            session=session,
            email=email,
            display_name=email.split("@")[0],
            password_hash="x",
            capacity=capacity,
        )
        agent.role = role
        return agent.id, email


async def handed_to(db: Database, conversation_id: int, agent_id: int) -> int:
    """The conversation handed to people and taken by the agent; the handoff's id."""
    async with db.session() as session:
        handoff = await enqueue_handoff(
            session=session,
            conversation_id=conversation_id,
            request=HandoffRequest(queue="support.general", reason="request_human"),
            now=utcnow(),
        )
    async with db.session() as session:
        taken = await assignment.take_handoff(
            session=session, handoff_id=handoff.id, agent_id=agent_id
        )
        assert taken is not None
        return taken.id


@dataclass
class Sent:
    """What one push channel was asked to send."""

    channel: Channel
    address: str
    texts: list[str]
    message_ids: list[int]


class PushRecorder:
    """Stands in for push channels: keeps what each was asked to send, and takes it."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def for_channel(self, channel: Channel) -> PushFn:
        """A push function for `channel` (register it with the deliveries)."""

        async def push(address: str, replies: Sequence[StoredReply]) -> bool:
            self.sent.append(
                Sent(
                    channel,
                    address,
                    [r.reply.text for r in replies],
                    [r.message_id for r in replies],
                )
            )
            return True

        return push

    def on(self, channel: Channel) -> list[Sent]:
        """What was sent on `channel`."""
        return [s for s in self.sent if s.channel is channel]


@dataclass
class Desk:
    """The core and handoff services of one app process over a business backend, with a
    `PushRecorder` standing in for the SMS, web chat and email channels."""

    core: CoreServices
    handoff: HandoffServices
    backend: BusinessSystems
    pushed: PushRecorder


@asynccontextmanager
async def desk(
    tmp_path: Path, database_url: str, backend: BusinessSystems, **settings: Any
) -> AsyncIterator[Desk]:
    """Handoff's services (no HTTP, no Rasa) on `database_url` and `backend`; `settings`
    on top of the defaults."""
    values: dict[str, Any] = {
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "rasa_url": f"http://127.0.0.1:{free_port()}",
        "action_server_url": f"http://127.0.0.1:{free_port()}",
        "rasa_token": SecretStr("t"),
        "email_from_address": "support@shop.test",
    }
    config = Settings(**(values | settings))
    core = CoreServices.build(config, database=Database(config.effective_database_url))
    pushed = PushRecorder()
    for channel in (Channel.SMS, Channel.EMAIL, Channel.WEBCHAT):
        resend = channel is not Channel.WEBCHAT
        core.deliveries.register(channel, pushed.for_channel(channel), resend_pending=resend)
    try:
        yield Desk(core, HandoffServices.build(core, backend), backend, pushed)
    finally:
        await core.aclose()
