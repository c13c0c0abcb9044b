"""The one path every customer message takes: store, resolve, answer, store, deliver."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.messages import BotReply, InboundMessage, pick_offered
from bot import store
from bot.db import Database
from bot.delivery import Deliveries, StoredReply
from bot.health import ServiceHealth
from bot.models import (
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Message,
    MessageStatus,
)
from bot.rasa_client import RasaClient, RasaError
from handoff import survey

log = structlog.get_logger("bot.turn")

SERVICE_TROUBLE_NOTICE = (
    "Sorry, we're having trouble on our side right now. Your message is saved and "
    "we'll answer it here as soon as we're back."
)
GAVE_UP_NOTICE = "Sorry, I couldn't process that message. Could you try saying it another way?"
# The intent recorded on a message an agent, not the assistant, answers.
FOR_AGENT = "for_agent"
# The intent recorded on a rating given in the satisfaction survey.
CSAT = "csat"
# A message that fails this often while Rasa looks healthy is not retried again.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Turn:
    """What happened to one inbound message (and any earlier ones answered with it)."""

    message_id: int
    conversation_id: str
    status: MessageStatus
    replies: tuple[StoredReply, ...] = ()
    duplicate: bool = False


@dataclass(frozen=True)
class Accepted:
    """An inbound message safely stored, waiting to be answered.

    `claimed` when it was taken for processing in the same transaction (the usual case:
    nothing earlier in its conversation is still unanswered).
    """

    inbound: InboundMessage
    stored: store.StoredInbound
    claimed: bool
    started: float


@dataclass(frozen=True)
class _Claimed:
    message: Message
    conversation: Conversation
    identity: ChannelIdentity


class MessagePipeline:
    """Stores, answers (through Rasa) and delivers customer messages."""

    def __init__(
        self,
        *,
        database: Database,
        rasa: RasaClient,
        health: ServiceHealth,
        deliveries: Deliveries,
        idle_after: timedelta,
        stale_after: timedelta,
    ) -> None:
        self._database = database
        self._rasa = rasa
        self._health = health
        self._deliveries = deliveries
        self._idle_after = idle_after
        self._stale_after = stale_after

    @property
    def idle_after(self) -> timedelta:
        """How long a quiet conversation stays current before a new one starts."""
        return self._idle_after

    @property
    def deliveries(self) -> Deliveries:
        """Where replies go out."""
        return self._deliveries

    async def accept(
        self, inbound: InboundMessage, *, attachments: Sequence[store.AttachmentRef] = ()
    ) -> Accepted:
        """Store `inbound` (idempotently) with its files; after this it is never lost."""
        started = time.perf_counter()
        stored, claimed = await self._store_inbound(inbound, attachments)
        return Accepted(inbound, stored, claimed, started)

    async def with_chosen_option(self, inbound: InboundMessage) -> InboundMessage:
        """On channels without buttons, a numbered answer ("2") picks the choice offered last."""
        async with self._database.session() as session:
            offered = await store.last_offered_buttons(
                session=session, channel=inbound.channel, address=inbound.sender_id
            )
        return pick_offered(inbound, offered) if offered else inbound

    async def answer_without_rasa(
        self, accepted: Accepted, replies: Sequence[BotReply], *, intent: str
    ) -> Turn:
        """Answer a stored message ourselves (a channel keyword such as STOP, or a message with
        nothing to read) with `replies`, which may be none."""
        message = accepted.stored.message
        async with self._database.session() as session:
            outbound = [await _store_reply(session, message, reply) for reply in replies]
            await store.finish_inbound(
                session=session, message_id=message.id, status=MessageStatus.ANSWERED, intent=intent
            )
        log.info(
            "turn",
            conversation_id=accepted.stored.conversation.public_id,
            message_id=message.id,
            channel=accepted.inbound.channel.value,
            status=MessageStatus.ANSWERED.value,
            intent=intent,
            replies=len(outbound),
            latency_ms=round((time.perf_counter() - accepted.started) * 1000, 1),
        )
        return Turn(
            message.id,
            accepted.stored.conversation.public_id,
            MessageStatus.ANSWERED,
            tuple(outbound),
        )

    async def respond(self, accepted: Accepted, *, push: bool = True) -> Turn:
        """Answer an accepted message (after any earlier unanswered ones of its conversation).

        With `push`, replies go out through the channel's push delivery; otherwise the
        caller (a request/response channel) hands them over and marks them delivered.
        """
        inbound, stored = accepted.inbound, accepted.stored
        if not stored.created:
            turn = await self._redelivered(stored)
        elif accepted.claimed:
            turn = await self._answer(
                _Claimed(stored.message, stored.conversation, stored.identity)
            )
        else:
            turn = await self._answer_in_order(stored.message.id, stored.conversation.id)
        if push:
            await self._deliveries.deliver(inbound.channel, inbound.sender_id, turn.replies)
        log.info(
            "turn",
            conversation_id=turn.conversation_id,
            message_id=turn.message_id,
            channel=inbound.channel.value,
            status=turn.status.value,
            duplicate=turn.duplicate,
            replies=len(turn.replies),
            latency_ms=round((time.perf_counter() - accepted.started) * 1000, 1),
        )
        return turn

    async def handle(self, inbound: InboundMessage, *, push: bool = True) -> Turn:
        """Accept and respond in one go."""
        return await self.respond(await self.accept(inbound), push=push)

    async def retry(self, message_id: int) -> Turn | None:
        """Answer a stored message again (after an outage or a crash) and push the replies."""
        turn = await self.process(message_id)
        if turn is None:
            return None
        async with self._database.session() as session:
            message = await session.get_one(Message, message_id)
            identity = await session.get_one(ChannelIdentity, message.identity_id)
        await self._deliveries.deliver(identity.channel, identity.address, turn.replies)
        log.info(
            "retried",
            conversation_id=turn.conversation_id,
            message_id=message_id,
            status=turn.status.value,
            replies=len(turn.replies),
        )
        return turn

    async def process(self, message_id: int) -> Turn | None:
        """Answer one stored inbound message through Rasa; None if someone else has it."""
        claimed = await self._claim(message_id)
        return None if claimed is None else await self._answer(claimed)

    async def _answer(self, claimed: _Claimed) -> Turn:
        if await self._with_agent(claimed.conversation):
            return await self._leave_to_agent(claimed)
        if claimed.conversation.survey_handoff_id is not None:
            surveyed = await self._answer_survey(claimed)
            if surveyed is not None:
                return surveyed
        failure, replies = await self._ask_rasa(claimed)
        message = claimed.message
        if failure is not None:
            gave_up = message.attempts >= MAX_ATTEMPTS and await self._rasa_is_up()
            async with self._database.session() as session:
                return await self._record_failure(session, claimed, failure, gave_up=gave_up)
        async with self._database.session() as session:
            outbound = [await _store_reply(session, message, reply) for reply in replies]
            await store.finish_inbound(
                session=session, message_id=message.id, status=MessageStatus.ANSWERED
            )
        return Turn(
            message_id=message.id,
            conversation_id=claimed.conversation.public_id,
            status=MessageStatus.ANSWERED,
            replies=tuple(outbound),
        )

    async def add_reply(self, accepted: Accepted, reply: BotReply) -> StoredReply:
        """Store one more reply of our own (a channel's note) to an accepted message."""
        async with self._database.session() as session:
            message = await session.get_one(Message, accepted.stored.message.id)
            return await _store_reply(session, message, reply)

    async def _with_agent(self, conversation: Conversation) -> bool:
        # Only a conversation waiting for people can be with an agent: one look, no query,
        # for everyone else.
        if conversation.status is not ConversationStatus.AWAITING_AGENT:
            return False
        async with self._database.session() as session:
            return await store.with_agent(session=session, conversation_id=conversation.id)

    async def _leave_to_agent(self, claimed: _Claimed) -> Turn:
        """An agent has the conversation: the message is theirs, the assistant stays quiet."""
        async with self._database.session() as session:
            await store.finish_inbound(
                session=session,
                message_id=claimed.message.id,
                status=MessageStatus.ANSWERED,
                intent=FOR_AGENT,
            )
        return Turn(claimed.message.id, claimed.conversation.public_id, MessageStatus.ANSWERED)

    async def _answer_survey(self, claimed: _Claimed) -> Turn | None:
        """A rating for the satisfaction survey; None (survey over) for anything else."""
        message, conversation = claimed.message, claimed.conversation
        score = survey.parse_score(message.text)
        async with self._database.session() as session:
            if score is None:
                await store.end_survey(session=session, conversation_id=conversation.id)
                return None
            step = await store.answer_survey(
                session=session,
                conversation_id=conversation.id,
                score=score,
                statements=len(survey.STATEMENTS),
            )
            text = survey.THANKS if step is None else survey.question(step)
            reply = await _store_reply(session, message, BotReply(text=text))
            await store.finish_inbound(
                session=session, message_id=message.id, status=MessageStatus.ANSWERED, intent=CSAT
            )
        return Turn(message.id, conversation.public_id, MessageStatus.ANSWERED, (reply,))

    async def _store_inbound(
        self, inbound: InboundMessage, attachments: Sequence[store.AttachmentRef]
    ) -> tuple[store.StoredInbound, bool]:
        # Two deliveries of the same new message (or a new customer's first two messages)
        # can race on a unique constraint; the loser retries and finds the winner's row.
        for attempt in range(3):
            try:
                async with self._database.session() as session:
                    stored = await store.record_inbound(
                        session=session,
                        channel=inbound.channel,
                        address=inbound.sender_id,
                        text=inbound.text,
                        external_id=inbound.message_id,
                        payload={"metadata": inbound.metadata} if inbound.metadata else None,
                        attachments=attachments,
                        idle_after=self._idle_after,
                        thread_refs=_thread_refs(inbound),
                    )
                    claimed = stored.created and not await store.unanswered_before(
                        session=session,
                        conversation_id=stored.conversation.id,
                        message_id=stored.message.id,
                    )
                    if claimed:
                        store.claim_new_inbound(message=stored.message)
                    return stored, claimed
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _redelivered(self, stored: store.StoredInbound) -> Turn:
        message = stored.message
        if message.status in (MessageStatus.RECEIVED, MessageStatus.AWAITING_RETRY):
            turn = await self.process(message.id)
            if turn is not None:
                return replace(turn, duplicate=True)
        async with self._database.session() as session:
            replies = await store.replies_to(session=session, message_id=message.id)
        return Turn(
            message_id=message.id,
            conversation_id=stored.conversation.public_id,
            status=message.status,
            replies=tuple(
                StoredReply(r.id, BotReply.from_stored(r.text, r.payload)) for r in replies
            ),
            duplicate=True,
        )

    async def _answer_in_order(self, message_id: int, conversation_id: int) -> Turn:
        async with self._database.session() as session:
            backlog = await store.unanswered_before(
                session=session, conversation_id=conversation_id, message_id=message_id
            )
        earlier: list[StoredReply] = []
        for earlier_id in backlog:
            turn = await self.process(earlier_id)
            if turn is not None:
                earlier.extend(turn.replies)
        turn = await self.process(message_id)
        if turn is None:  # another worker took it; it will deliver the replies
            async with self._database.session() as session:
                message = await session.get_one(Message, message_id)
                conversation = await session.get_one(Conversation, message.conversation_id)
            return Turn(message_id, conversation.public_id, message.status, tuple(earlier))
        return replace(turn, replies=(*earlier, *turn.replies))

    async def _claim(self, message_id: int) -> _Claimed | None:
        async with self._database.session() as session:
            if not await store.claim_inbound(
                session=session, message_id=message_id, stale_after=self._stale_after
            ):
                return None
            message = await session.get_one(Message, message_id, populate_existing=True)
            conversation = await session.get_one(Conversation, message.conversation_id)
            identity = await session.get_one(ChannelIdentity, message.identity_id)
            return _Claimed(message, conversation, identity)

    async def _ask_rasa(self, claimed: _Claimed) -> tuple[str | None, list[BotReply]]:
        """Rasa's replies, or the reason the message has to wait for a retry."""
        if not (await self._health.check("action_server")).ok:
            return "action server unavailable", []
        message, conversation = claimed.message, claimed.conversation
        try:
            replies = await self._rasa.send_message(
                sender_id=conversation.public_id,
                text=message.text,
                metadata={
                    "channel": message.channel.value,
                    "customer_id": conversation.customer_id,
                    "conversation_id": conversation.public_id,
                    "message_id": message.id,
                },
            )
        except RasaError as error:
            self._health.forget("rasa")
            return str(error), []
        # Rasa carries on without a reply when a custom action fails; an empty answer
        # is only trusted once the action server is confirmed up.
        if not replies and not (await self._health.check("action_server", fresh=True)).ok:
            return "action server unavailable", []
        return None, replies

    async def _record_failure(
        self, session: AsyncSession, claimed: _Claimed, failure: str, *, gave_up: bool
    ) -> Turn:
        message = claimed.message
        status = MessageStatus.FAILED if gave_up else MessageStatus.AWAITING_RETRY
        already_told = await store.others_awaiting_retry(
            session=session, conversation_id=message.conversation_id, message_id=message.id
        )
        await store.finish_inbound(
            session=session, message_id=message.id, status=status, error=failure
        )
        notices: tuple[StoredReply, ...] = ()
        if gave_up:
            notices = (await _store_reply(session, message, BotReply(text=GAVE_UP_NOTICE)),)
        elif not already_told and message.attempts <= 1:
            notice = BotReply(text=SERVICE_TROUBLE_NOTICE, custom={"notice": "service_unavailable"})
            notices = (await _store_reply(session, message, notice),)
        log.warning(
            "turn_deferred",
            conversation_id=claimed.conversation.public_id,
            message_id=message.id,
            reason=failure,
            attempts=message.attempts,
            gave_up=gave_up,
        )
        return Turn(message.id, claimed.conversation.public_id, status, notices)

    async def _rasa_is_up(self) -> bool:
        return (await self._health.check("rasa")).ok


def _thread_refs(inbound: InboundMessage) -> list[str] | None:
    # Channels with threads (email) say which earlier messages this one answers.
    refs = inbound.metadata.get("thread_refs")
    return [str(ref) for ref in refs] if isinstance(refs, list) else None


async def _store_reply(session: AsyncSession, reply_to: Message, reply: BotReply) -> StoredReply:
    stored = await store.record_outbound(
        session=session, reply_to=reply_to, text=reply.text, payload=reply.to_payload()
    )
    return StoredReply(stored.id, reply)
