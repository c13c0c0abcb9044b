"""The one path every customer message takes: store, resolve, answer, store, deliver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.delivery import Deliveries
from bot.core.intents import LocalIntent
from bot.core.messages import BotReply, InboundMessage, StoredReply, pick_offered
from bot.core.models import (
    ChannelIdentity,
    Conversation,
    Message,
    MessageStatus,
    VerificationLevel,
)
from bot.core.responders import AnswerDeferred, Claimed, RasaResponder, Responder
from bot.core.store import inbound as inbound_store
from bot.core.store import outbound, verification
from bot.core.texts import Text, say
from bot.core.turn_locks import TurnLocks

log = structlog.get_logger("bot.turn")

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
    stored: inbound_store.StoredInbound
    claimed: bool
    started: float

    def latency_ms(self) -> float:
        """Milliseconds since the message was accepted."""
        return round((time.perf_counter() - self.started) * 1000, 1)


class MessagePipeline:
    """Stores, answers and delivers customer messages.

    A claimed message is offered to each of `responders` in turn (an agent who has the
    conversation, a survey in progress); if none answers it, `assistant` (Rasa) does.
    """

    def __init__(
        self,
        *,
        database: Database,
        assistant: RasaResponder,
        responders: Sequence[Responder] = (),
        deliveries: Deliveries,
        idle_after: timedelta,
        stale_after: timedelta,
    ) -> None:
        self._database = database
        self._assistant = assistant
        self._responders = tuple(responders)
        self._deliveries = deliveries
        self._idle_after = idle_after
        self._stale_after = stale_after
        self._turns = TurnLocks()
        self._late: set[asyncio.Future[None]] = set()
        self._stored_listeners: list[Callable[[int], None]] = []

    def on_customer_message(self, listener: Callable[[int], None]) -> None:
        """Call `listener(message_id)` for every new customer message once it is stored
        (NLP scores it in the background); it must return at once and never raise."""
        self._stored_listeners.append(listener)

    @property
    def idle_after(self) -> timedelta:
        """How long a quiet conversation stays current before a new one starts."""
        return self._idle_after

    @property
    def deliveries(self) -> Deliveries:
        """Where replies go out."""
        return self._deliveries

    async def accept(
        self, inbound: InboundMessage, *, attachments: Sequence[inbound_store.AttachmentRef] = ()
    ) -> Accepted:
        """Store `inbound` (idempotently) with its files; after this it is never lost."""
        started = time.perf_counter()
        stored, claimed = await self._store_inbound(inbound, attachments)
        if stored.created:
            for listener in self._stored_listeners:
                listener(stored.message.id)
        return Accepted(inbound, stored, claimed, started)

    async def with_chosen_option(self, inbound: InboundMessage) -> InboundMessage:
        """On channels without buttons, a numbered answer ("2") picks the choice offered last."""
        async with self._database.session() as session:
            offered = await outbound.last_offered_buttons(
                session=session, channel=inbound.channel, address=inbound.sender_id
            )
        return pick_offered(inbound, offered) if offered else inbound

    async def answer_without_rasa(
        self, accepted: Accepted, replies: Sequence[BotReply], *, intent: LocalIntent
    ) -> Turn:
        """Answer a stored message ourselves (a channel keyword such as STOP, or a message with
        nothing to read) with `replies`, which may be none."""
        stored = accepted.stored
        claimed: Claimed | None = Claimed(stored.message, stored.conversation, stored.identity)
        if not accepted.claimed:
            # Stored behind an earlier message still waiting: take it before answering it.
            claimed = await self._claim(stored.message.id)
        if claimed is None:  # someone else has it and answers it
            return Turn(stored.message.id, stored.conversation.public_id, stored.message.status)
        async with self._database.session() as session:
            turn = await self._finish(session, claimed, replies, intent=intent)
        _log_turn(accepted, turn, intent=intent.value)
        return turn

    async def respond(self, accepted: Accepted, *, push: bool = True) -> Turn:
        """Answer an accepted message (after any earlier unanswered ones of its conversation).

        With `push`, replies go out through the channel's push delivery; otherwise the
        caller (a request/response channel) hands them over and marks them delivered.
        """
        inbound, stored = accepted.inbound, accepted.stored
        async with self._turns.hold(stored.conversation.id):
            if not stored.created:
                turn = await self._redelivered(stored)
            elif accepted.claimed:
                claimed = Claimed(stored.message, stored.conversation, stored.identity)
                turn = await self._answer(claimed)
            else:
                turn = await self._answer_in_order(stored.message.id, stored.conversation.id)
        if push:
            await self._deliveries.deliver(inbound.channel, inbound.sender_id, turn.replies)
        _log_turn(accepted, turn, duplicate=turn.duplicate)
        return turn

    async def respond_within(self, accepted: Accepted, seconds: float) -> Turn:
        """For a caller that must answer in its response (REST): the turn if it ends within
        `seconds`, else a stored "saved, answering shortly" notice while the turn carries on
        and pushes its replies when they come. A message that has to wait for a retry gets
        that notice too: every accepted message gets replies or the notice."""
        work = asyncio.ensure_future(self.respond(accepted, push=False))
        try:
            turn = await asyncio.wait_for(asyncio.shield(work), seconds)
        except TimeoutError:
            self._finish_later(accepted, work)
            return await self._with_notice(accepted, MessageStatus.PROCESSING)
        if turn.replies or turn.status is not MessageStatus.AWAITING_RETRY:
            return turn
        return await self._with_notice(accepted, turn.status)

    def _finish_later(self, accepted: Accepted, work: asyncio.Future[Turn]) -> None:
        inbound = accepted.inbound

        async def push_when_done() -> None:
            turn = await work
            await self._deliveries.deliver(inbound.channel, inbound.sender_id, turn.replies)

        task = asyncio.ensure_future(push_when_done())
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _with_notice(self, accepted: Accepted, status: MessageStatus) -> Turn:
        notice = BotReply(text=say(Text.ANSWER_PENDING), custom={"notice": "answer_pending"})
        stored = await self.add_reply(accepted, notice)
        return Turn(
            accepted.stored.message.id, accepted.stored.conversation.public_id, status, (stored,)
        )

    async def handle(self, inbound: InboundMessage, *, push: bool = True) -> Turn:
        """Accept and respond in one go."""
        return await self.respond(await self.accept(inbound), push=push)

    async def retry(self, message_id: int) -> Turn | None:
        """Answer a stored message again (after an outage or a crash) and push the replies."""
        async with self._database.session() as session:
            message = await session.get_one(Message, message_id)
            identity = await session.get_one(ChannelIdentity, message.identity_id)
        async with self._turns.hold(message.conversation_id):
            turn = await self.process(message_id)
        if turn is None:
            return None
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
        """Answer one stored inbound message; None if someone else has it."""
        claimed = await self._claim(message_id)
        return None if claimed is None else await self._answer(claimed)

    async def add_reply(self, accepted: Accepted, reply: BotReply) -> StoredReply:
        """Store one more reply of our own (a channel's note) to an accepted message."""
        async with self._database.session() as session:
            message = await session.get_one(Message, accepted.stored.message.id)
            return await _store_reply(session, message, reply)

    async def _answer(self, claimed: Claimed) -> Turn:
        for responder in self._responders:
            async with self._database.session() as session:
                local = await responder.answer(session, claimed)
                if local is not None:
                    return await self._finish(session, claimed, local.replies, intent=local.intent)
        try:
            replies = await self._assistant.answer(claimed)
        except AnswerDeferred as deferred:
            return await self._defer(claimed, deferred)
        async with self._database.session() as session:
            return await self._finish(session, claimed, replies, intent=None)

    async def _finish(
        self,
        session: AsyncSession,
        claimed: Claimed,
        replies: Sequence[BotReply],
        *,
        intent: LocalIntent | None,
    ) -> Turn:
        message = claimed.message
        ours = await inbound_store.finish_inbound(
            session=session,
            message_id=message.id,
            status=MessageStatus.ANSWERED,
            intent=intent,
            attempt=message.attempts,
        )
        if not ours:
            # A retry took the message over after this attempt looked dead; it answers.
            log.warning("turn_taken_over", message_id=message.id, attempt=message.attempts)
            return Turn(message.id, claimed.conversation.public_id, MessageStatus.PROCESSING)
        stored = [await _store_reply(session, message, reply) for reply in replies]
        return Turn(
            message.id, claimed.conversation.public_id, MessageStatus.ANSWERED, tuple(stored)
        )

    async def _store_inbound(
        self, inbound: InboundMessage, attachments: Sequence[inbound_store.AttachmentRef]
    ) -> tuple[inbound_store.StoredInbound, bool]:
        # Two deliveries of the same new message (or a new customer's first two messages)
        # can race on a unique constraint; the loser retries and finds the winner's row.
        for attempt in range(3):
            try:
                async with self._database.session() as session:
                    return await self._store_and_claim(session, inbound, attachments)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _store_and_claim(
        self,
        session: AsyncSession,
        inbound: InboundMessage,
        attachments: Sequence[inbound_store.AttachmentRef],
    ) -> tuple[inbound_store.StoredInbound, bool]:
        stored = await inbound_store.record_inbound(
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
        if stored.created:
            await _vouched_verification(session, inbound, stored.conversation)
        claimed = stored.created and not await inbound_store.unanswered_before(
            session=session, conversation_id=stored.conversation.id, message_id=stored.message.id
        )
        if claimed:
            inbound_store.claim_new_inbound(message=stored.message)
        return stored, claimed

    async def _redelivered(self, stored: inbound_store.StoredInbound) -> Turn:
        message = stored.message
        if message.status in (MessageStatus.RECEIVED, MessageStatus.AWAITING_RETRY):
            turn = await self.process(message.id)
            if turn is not None:
                return replace(turn, duplicate=True)
        async with self._database.session() as session:
            replies = await outbound.replies_to(session=session, message_id=message.id)
        return Turn(
            message_id=message.id,
            conversation_id=stored.conversation.public_id,
            status=message.status,
            replies=tuple(outbound.stored_reply(r) for r in replies),
            duplicate=True,
        )

    async def _answer_in_order(self, message_id: int, conversation_id: int) -> Turn:
        async with self._database.session() as session:
            backlog = await inbound_store.unanswered_before(
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

    async def _claim(self, message_id: int) -> Claimed | None:
        async with self._database.session() as session:
            if not await inbound_store.claim_inbound(
                session=session, message_id=message_id, stale_after=self._stale_after
            ):
                return None
            message = await session.get_one(Message, message_id, populate_existing=True)
            conversation = await session.get_one(Conversation, message.conversation_id)
            identity = await session.get_one(ChannelIdentity, message.identity_id)
            return Claimed(message, conversation, identity)

    async def _defer(self, claimed: Claimed, deferred: AnswerDeferred) -> Turn:
        message, failure = claimed.message, str(deferred)
        # Rasa only slow (its own backlog) is never a reason to give a message up.
        gave_up = (
            not deferred.busy and message.attempts >= MAX_ATTEMPTS and await self._assistant.is_up()
        )
        status = MessageStatus.FAILED if gave_up else MessageStatus.AWAITING_RETRY
        async with self._database.session() as session:
            already_told = await inbound_store.others_awaiting_retry(
                session=session, conversation_id=message.conversation_id, message_id=message.id
            )
            ours = await inbound_store.finish_inbound(
                session=session,
                message_id=message.id,
                status=status,
                error=failure,
                attempt=message.attempts,
            )
            if not ours:
                return Turn(message.id, claimed.conversation.public_id, MessageStatus.PROCESSING)
            notices = await self._failure_notices(
                session, message, gave_up=gave_up, already_told=already_told
            )
        log.warning(
            "turn_deferred",
            conversation_id=claimed.conversation.public_id,
            message_id=message.id,
            reason=failure,
            attempts=message.attempts,
            busy=deferred.busy,
            gave_up=gave_up,
        )
        return Turn(message.id, claimed.conversation.public_id, status, notices)

    async def _failure_notices(
        self, session: AsyncSession, message: Message, *, gave_up: bool, already_told: bool
    ) -> tuple[StoredReply, ...]:
        # The customer hears once that their message waits, and once if it is given up.
        if gave_up:
            return (await _store_reply(session, message, BotReply(text=say(Text.GAVE_UP))),)
        if already_told or message.attempts > 1:
            return ()
        notice = BotReply(text=say(Text.SERVICE_TROUBLE), custom={"notice": "service_unavailable"})
        return (await _store_reply(session, message, notice),)


def _log_turn(accepted: Accepted, turn: Turn, **extra: object) -> None:
    # One line per customer turn, whoever answered it.
    log.info(
        "turn",
        conversation_id=turn.conversation_id,
        message_id=turn.message_id,
        channel=accepted.inbound.channel.value,
        status=turn.status.value,
        replies=len(turn.replies),
        latency_ms=accepted.latency_ms(),
        **extra,
    )


def _thread_refs(inbound: InboundMessage) -> list[str] | None:
    # Channels with threads (email) say which earlier messages this one answers.
    refs = inbound.metadata.get("thread_refs")
    return [str(ref) for ref in refs] if isinstance(refs, list) else None


async def _store_reply(session: AsyncSession, reply_to: Message, reply: BotReply) -> StoredReply:
    stored = await outbound.record_outbound(
        session=session, reply_to=reply_to, text=reply.text, payload=reply.to_payload()
    )
    file = _file_of(reply)
    if file is not None:
        inbound_store.add_attachments(session=session, message_id=stored.id, refs=[file])
    return StoredReply(stored.id, reply)


def _file_of(reply: BotReply) -> inbound_store.AttachmentRef | None:
    # A reply may carry a file the actions kept in the document store (a receipt's PDF);
    # channels that send files (email) attach it to the reply's message.
    file = (reply.custom or {}).get("file")
    if not isinstance(file, dict):
        return None
    ref, kind, size = file.get("storage_ref"), file.get("content_type"), file.get("size_bytes")
    if not (isinstance(ref, str) and isinstance(kind, str) and isinstance(size, int)):
        return None
    name = file.get("filename")
    return inbound_store.AttachmentRef(kind, size, ref, name if isinstance(name, str) else None)


async def _vouched_verification(
    session: AsyncSession, inbound: InboundMessage, conversation: Conversation
) -> None:
    # The channel vouches for who the customer is (the company app's signed token, checked
    # by the web chat adapter; a visitor cannot set these metadata keys).
    ref = inbound.metadata.get("verified_customer_ref")
    if inbound.metadata.get("verification") != "app_token" or not isinstance(ref, str) or not ref:
        return
    if conversation.verified_customer_ref == ref:
        return
    verified = await verification.mark_verified(
        session=session,
        conversation_id=conversation.id,
        customer_ref=ref,
        level=VerificationLevel.APP_TOKEN,
        via=inbound.channel.value,
    )
    if verified is None:
        log.warning("app_token_for_other_record", conversation_id=conversation.id)
