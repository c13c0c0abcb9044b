"""Handing a conversation to people, the one way for every part that does it: the custom
actions (a request, a second miss, an urgent complaint, a call back), a caller pressing 1,
and the voice channel asking what a caller on hold should hear."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.models import Channel, utcnow
from bot.core.store import complaints, history
from bot.nlp import store as nlp_store
from bot.nlp.jobs import NlpJobs
from handoff.models import Agent, Handoff, HandoffKind, HandoffStatus
from handoff.queues import Queue, QueueDirectory
from handoff.routing import Router
from handoff.store import agents, assignment, queue
from handoff.store.queue import HandoffRequest


@dataclass(frozen=True)
class Escalation:
    """Where a conversation was handed, and what the customer should be told."""

    queue: Queue
    status: HandoffStatus
    position: int
    agents_on_duty: int
    channels: dict[Channel, int]
    case_id: str | None = None


@dataclass(frozen=True)
class CallerHandover:
    """Where a caller goes now that people have (or wait for) their conversation: through to
    `agent`, or on hold in the queue of `waiting`."""

    agent: Agent | None = None
    waiting: Handoff | None = None


class HoldEnd(enum.Enum):
    """How a caller's time on hold ended."""

    GONE = "gone"  # hung up or put through by Twilio: nothing more to say
    TO_AGENT = "to_agent"  # an agent has it: put through (or told they will text)
    DEALT_WITH = "dealt_with"  # no longer waiting: resolved or abandoned meanwhile
    CALL_BACK = "call_back"  # still waiting: booked a call back instead


# Twilio's QueueResult when the caller is no longer on our line to talk to.
QUEUE_LEFT_FOR_GOOD = frozenset({"hangup", "bridged", "bridging-in-process", "redirected"})


class Escalations:
    """Puts conversations in the right queue with their priority, and dispatches them."""

    def __init__(
        self,
        *,
        database: Database,
        queues: QueueDirectory,
        router: Router,
        jobs: NlpJobs | None = None,
    ) -> None:
        self._database = database
        self._queues = queues
        self._router = router
        # Summarises and prioritises each conversation handed to people, in the background.
        self._jobs = jobs

    async def escalate(
        self,
        *,
        conversation_id: int,
        customer_id: int,
        reason: str,
        intent: str | None = None,
        kind: HandoffKind = HandoffKind.CHAT,
        callback_number: str | None = None,
    ) -> Escalation:
        """Queue the conversation for people (routed by its complaint, else `intent`), with
        the customer's history per channel, and give it to a free agent if there is one."""
        async with self._database.session() as session:
            complaint = await complaints.latest_complaint_in(
                session=session, conversation_id=conversation_id
            )
            target = self._queues.route(
                intent=intent, complaint_category=complaint.category if complaint else None
            )
            used = await history.channels_used(session=session, customer_id=customer_id)
            request = HandoffRequest(
                queue=target.key,
                reason=reason,
                intent=intent,
                kind=kind,
                callback_number=callback_number,
                complaint_id=complaint.id if complaint else None,
                sentiment_score=await nlp_store.current_score(
                    session=session, conversation_id=conversation_id
                ),
                context={"messages_by_channel": {c.value: n for c, n in used.items()}},
            )
            handoff = await queue.enqueue_handoff(
                session=session, conversation_id=conversation_id, request=request
            )
            handoff_id = handoff.id
        if self._jobs is not None:
            await self._jobs.kick_conversation(conversation_id)
        await self._router.dispatch()
        return await self._escalation(handoff_id, used, complaint.case_id if complaint else None)

    async def _escalation(
        self, handoff_id: int, used: dict[Channel, int], case_id: str | None
    ) -> Escalation:
        async with self._database.session() as session:
            handoff = await session.get_one(Handoff, handoff_id)
            position = await queue.queue_position(session=session, handoff=handoff)
            on_duty = await agents.agents_serving(
                session=session, queues=self._queues, queue=handoff.queue
            )
            return Escalation(
                self._queues.get(handoff.queue), handoff.status, position, on_duty, used, case_id
            )

    async def caller_handover(self, conversation_id: int) -> CallerHandover | None:
        """Where a caller goes if people have their conversation or it waits in an open,
        staffed queue; None if the assistant carries on (no handoff, closed, a call back)."""
        async with self._database.session() as session:
            handoff = await queue.open_handoff_of(session=session, conversation_id=conversation_id)
            if handoff is None:
                return None
            if handoff.status is HandoffStatus.ASSIGNED:
                agent = await assignment.agent_with(
                    session=session, conversation_id=conversation_id
                )
                return None if agent is None else CallerHandover(agent=agent)
            if not await self._worth_holding(session, handoff):
                return None
            return CallerHandover(waiting=handoff)

    async def hold_position(self, handoff_id: int) -> int | None:
        """A held caller's place in line; None when they should leave the hold queue."""
        async with self._database.session() as session:
            waiting = await session.get(Handoff, handoff_id)
            if waiting is None or not await self._worth_holding(session, waiting):
                return None
            return await queue.queue_position(session=session, handoff=waiting)

    async def leave_hold(
        self, handoff_id: int, *, caller: str, result: str, waited: int
    ) -> tuple[HoldEnd, Agent | None]:
        """A caller left the hold queue (Twilio's QueueResult `result` after `waited` s):
        a hang-up abandons the request, a caller still waiting gets a call back."""
        if result == "hangup":
            async with self._database.session() as session:
                await queue.abandon_handoff(
                    session=session,
                    handoff_id=handoff_id,
                    reason=f"caller hung up after {waited} s on hold",
                )
        if result in QUEUE_LEFT_FOR_GOOD:
            return HoldEnd.GONE, None
        async with self._database.session() as session:
            held = await session.get(Handoff, handoff_id)
            if held is not None and held.status is HandoffStatus.ASSIGNED:
                agent = await assignment.agent_with(
                    session=session, conversation_id=held.conversation_id
                )
                if agent is not None:
                    return HoldEnd.TO_AGENT, agent
            if held is None or held.status is not HandoffStatus.QUEUED:
                return HoldEnd.DEALT_WITH, None
            queue.call_back_instead(
                session=session,
                handoff=held,
                number=caller,
                reason=f"left the hold queue ({result or 'unknown'}) after {waited} s",
            )
        return HoldEnd.CALL_BACK, None

    async def _worth_holding(self, session: AsyncSession, handoff: Handoff) -> bool:
        # A caller waits on hold only for a chat in an open queue that someone is serving.
        if handoff.status is not HandoffStatus.QUEUED or handoff.kind is HandoffKind.CALLBACK:
            return False
        if not self._queues.get(handoff.queue).is_open(utcnow()):
            return False
        serving = await agents.agents_serving(
            session=session, queues=self._queues, queue=handoff.queue
        )
        return bool(serving)
