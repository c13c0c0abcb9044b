"""What agents do, with what follows from it in one place: taking a conversation announces
the agent to the customer, freeing a seat gives the next conversation away, resolving starts
the survey and gives the conversation back to the assistant."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from bot.core.db import Database
from bot.core.models import Conversation
from bot.core.rasa_client import RasaClient, RasaError
from bot.core.store import outbound
from handoff import survey
from handoff.announce import Announcer
from handoff.models import Agent, AgentNote, AgentStatus, Handoff
from handoff.queues import QueueDirectory
from handoff.routing import Router
from handoff.store import agent_actions, agents, assignment, notes
from handoff.store import survey as survey_store

log = structlog.get_logger("handoff.desk")


class NotInYourQueues(PermissionError):
    """A conversation waiting in a queue the agent has not the skills for."""


class NoSuchHandoff(LookupError):
    """No handed-over conversation has this id."""


class AlreadyTaken(RuntimeError):
    """Someone else took the conversation first, or the agent has no room for another."""


@dataclass(frozen=True)
class StatusChanged:
    """An agent's new status, the conversations it gave them and those it handed back."""

    status: AgentStatus
    assigned: list[int]
    requeued: list[int]


@dataclass(frozen=True)
class AgentReply:
    """An agent's reply, stored and (if the channel took it) delivered."""

    notice: outbound.Notice
    delivered: bool


class AgentDesk:
    """Agents' actions on handed-over conversations, and their side effects."""

    def __init__(
        self,
        *,
        database: Database,
        queues: QueueDirectory,
        router: Router,
        announcer: Announcer,
        rasa: RasaClient,
    ) -> None:
        self._database = database
        self._queues = queues
        self._router = router
        self._announcer = announcer
        self._rasa = rasa

    async def visible(self, handoff_id: int, agent: Agent) -> Handoff:
        """A handoff the agent may see: theirs, or waiting in one of their queues."""
        async with self._database.session() as session:
            handoff = await session.get(Handoff, handoff_id)
        if handoff is None:
            raise NoSuchHandoff(f"no conversation {handoff_id}")
        mine = handoff.agent_id == agent.id
        if not mine and handoff.queue not in self._queues.served_by(agent.skills):
            raise NotInYourQueues(f"conversation {handoff_id} is not in your queues")
        return handoff

    async def set_status(self, agent: Agent, status: AgentStatus) -> StatusChanged:
        """Become available (and get conversations), busy, away or offline (and hand the
        agent's conversations back to their queues, for others to take)."""
        async with self._database.session() as session:
            requeued = await agents.set_agent_status(
                session=session, agent_id=agent.id, status=status
            )
        assigned = await self._router.dispatch()
        mine = [a.handoff_id for a in assigned if a.agent_id == agent.id]
        return StatusChanged(status, mine, requeued)

    async def take(self, agent: Agent, handoff_id: int) -> Handoff:
        """Pick a waiting conversation from one of the agent's queues."""
        await self.visible(handoff_id, agent)
        async with self._database.session() as session:
            handoff = await assignment.take_handoff(
                session=session, handoff_id=handoff_id, agent_id=agent.id
            )
        if handoff is None:
            raise AlreadyTaken("Someone else has it, or you have no room for another.")
        await self._router.announce([handoff_id])
        return handoff

    async def reply(self, agent: Agent, handoff_id: int, text: str) -> AgentReply:
        """Answer the customer on the channel they last wrote on."""
        async with self._database.session() as session:
            notice = await agent_actions.record_agent_reply(
                session=session, handoff_id=handoff_id, agent_id=agent.id, text=text
            )
        return AgentReply(notice, await self._announcer.deliver(notice))

    async def add_note(self, agent: Agent, handoff_id: int, text: str) -> AgentNote:
        """An internal note on the conversation, for the team only."""
        await self.visible(handoff_id, agent)
        async with self._database.session() as session:
            return await notes.add_agent_note(
                session=session, handoff_id=handoff_id, agent_id=agent.id, text=text
            )

    async def decline(self, agent: Agent, handoff_id: int) -> Handoff:
        """Give the conversation back to its queue (it is not offered to this agent again)."""
        async with self._database.session() as session:
            handoff = await agent_actions.decline_handoff(
                session=session, handoff_id=handoff_id, agent_id=agent.id
            )
        await self._router.dispatch()
        return handoff

    async def transfer(
        self,
        agent: Agent,
        handoff_id: int,
        *,
        note: str,
        to_queue: str | None,
        to_agent: int | None,
    ) -> Handoff:
        """Pass the conversation to another queue or straight to a colleague, with a note."""
        if to_queue is not None and to_queue not in {q.key for q in self._queues.queues}:
            raise ValueError(f"No queue {to_queue!r}.")
        async with self._database.session() as session:
            handoff = await agent_actions.transfer_handoff(
                session=session,
                handoff_id=handoff_id,
                agent_id=agent.id,
                note=note,
                to_queue=to_queue,
                to_agent_id=to_agent,
            )
        await self._router.dispatch()
        if handoff.agent_id is not None:
            await self._router.announce([handoff_id])
        return handoff

    async def resolve(self, agent: Agent, handoff_id: int) -> Handoff:
        """Done: the seat goes to the next conversation, the customer is asked for a rating,
        and the assistant takes the conversation back."""
        async with self._database.session() as session:
            handoff = await agent_actions.resolve_handoff(
                session=session, handoff_id=handoff_id, agent_id=agent.id
            )
        await self._router.dispatch()
        sender_id = await self._start_survey(handoff)
        await self._resume_assistant(sender_id)
        return handoff

    async def _start_survey(self, handoff: Handoff) -> str:
        # The survey's first question goes to the customer; the conversation's Rasa sender id
        # comes back, for handing the conversation back to the assistant.
        async with self._database.session() as session:
            await survey_store.start_survey(session=session, handoff_id=handoff.id)
            notice = await outbound.record_notice(
                session=session,
                conversation_id=handoff.conversation_id,
                text=survey.question(0),
                payload={"custom": {"notice": "survey"}},
            )
            conversation = await session.get_one(Conversation, handoff.conversation_id)
        await self._announcer.deliver(notice)
        return conversation.public_id

    async def _resume_assistant(self, sender_id: str) -> None:
        # The app kept the customer's messages from Rasa while the agent had them; Rasa's side
        # drops any half-finished form so its next answer is a fresh one. If Rasa is away, the
        # conversation still goes on: the worst case is one stale question.
        try:
            await self._rasa.resume_cleanly(sender_id)
        except RasaError as error:
            log.warning("rasa_resume_failed", conversation_id=sender_id, error=str(error))
