"""Who answers a claimed customer message: small objects the pipeline asks in turn before
Rasa (an agent who has the conversation, a survey in progress), and Rasa itself.

The core does not know the features behind the responders; the composition root passes
them in (handoff's live in `handoff.responders`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.health import ServiceHealth
from bot.core.intents import LocalIntent
from bot.core.messages import BotReply
from bot.core.models import ChannelIdentity, Conversation, Message
from bot.core.rasa_client import RasaBusy, RasaClient, RasaError


@dataclass(frozen=True)
class Claimed:
    """An inbound message taken for processing, with its conversation and identity."""

    message: Message
    conversation: Conversation
    identity: ChannelIdentity


@dataclass(frozen=True)
class LocalAnswer:
    """An answer given without Rasa: the replies (maybe none) and why."""

    replies: tuple[BotReply, ...]
    intent: LocalIntent


class Responder(Protocol):
    """Answers a message before Rasa is asked, when the conversation is its business."""

    async def answer(self, session: AsyncSession, claimed: Claimed) -> LocalAnswer | None:
        """The answer, or None to let the next responder (and in the end Rasa) answer.

        Runs in the transaction that stores the answer: what it writes and the answer are
        kept together.
        """
        ...


class AnswerDeferred(Exception):
    """Rasa could not answer now: retry the message later. `busy` when Rasa is up but did
    not answer in time (its backlog): the turn may still be running there."""

    def __init__(self, reason: str, *, busy: bool = False) -> None:
        super().__init__(reason)
        self.busy = busy


class RasaResponder:
    """Asks Rasa for the replies, checking first that the action server is up."""

    def __init__(self, *, rasa: RasaClient, health: ServiceHealth) -> None:
        self._rasa = rasa
        self._health = health

    async def answer(self, claimed: Claimed) -> list[BotReply]:
        """Rasa's replies; AnswerDeferred with the reason when the message has to wait."""
        if not (await self._health.check("action_server")).ok:
            raise AnswerDeferred("action server unavailable")
        message, conversation = claimed.message, claimed.conversation
        try:
            replies = await self._rasa.send_message(
                sender_id=conversation.public_id,
                message_id=str(message.id),
                text=message.text,
                metadata={
                    "channel": message.channel.value,
                    "customer_id": conversation.customer_id,
                    "conversation_id": conversation.public_id,
                    "message_id": message.id,
                },
            )
        except RasaBusy as error:
            raise AnswerDeferred(str(error), busy=True) from error
        except RasaError as error:
            self._health.forget("rasa")
            raise AnswerDeferred(str(error)) from error
        self._health.saw_answer("rasa")
        self._health.saw_answer("action_server")
        # Rasa carries on without a reply when a custom action fails; an empty answer
        # is only trusted once the action server is confirmed up.
        if not replies and not (await self._health.check("action_server", fresh=True)).ok:
            raise AnswerDeferred("action server unavailable")
        return replies

    async def is_up(self) -> bool:
        """Whether Rasa answers its health check (a failure then is the message's own)."""
        return (await self._health.check("rasa")).ok
