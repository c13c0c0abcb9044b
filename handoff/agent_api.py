"""The agents' API: sign in, inbox, a conversation with its context, take, reply, decline,
transfer, resolve. Every view of a customer's data and every action is audited.

Errors: 401 for a missing, forged or expired token (or a wrong password); 403 for a
conversation outside the agent's queues or owned by someone else; 409 for one just taken.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
import yaml
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.messages import BotReply
from bot import store
from bot.delivery import StoredReply
from bot.deps import ServicesDep
from bot.models import (
    Agent,
    AgentStatus,
    Complaint,
    Conversation,
    Customer,
    Handoff,
    Message,
    utcnow,
)
from bot.rasa_client import RasaError
from bot.services import Services
from handoff import survey
from handoff.auth import InvalidToken, issue_token, read_token, verify_password
from handoff.live import InboxWatcher

router = APIRouter(prefix="/agent", tags=["agents"])
log = structlog.get_logger("handoff.agents")


class Credentials(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=200)


class StatusChange(BaseModel):
    status: AgentStatus


class ReplyText(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class NoteText(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class Transfer(BaseModel):
    note: str = Field(default="", max_length=2000)
    to_queue: str | None = None
    to_agent_id: int | None = None


async def current_agent(request: Request, services: ServicesDep) -> Agent:
    """The signed-in agent behind the request's bearer token (401 otherwise).

    The live event stream passes it as `?token=`, since browsers' EventSource cannot set
    headers.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if request.url.path.endswith("/events") and not token:
        scheme, token = "bearer", request.query_params.get("token", "")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "Sign in first.", headers={"WWW-Authenticate": "Bearer"})
    try:
        agent_id = read_token(
            token, secret=services.settings.agent_token_secret.get_secret_value(), now=utcnow()
        )
    except InvalidToken as error:
        raise HTTPException(401, f"{error}; sign in again.") from error
    async with services.database.session() as session:
        agent = await session.get(Agent, agent_id)
    if agent is None:
        raise HTTPException(401, "Unknown agent; sign in again.")
    return agent


CurrentAgent = Annotated[Agent, Depends(current_agent)]


CONSOLE_PAGE = Path(__file__).resolve().parent / "console_page" / "index.html"


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def console_page() -> HTMLResponse:
    """The agent console (a single page using this API)."""
    return HTMLResponse(CONSOLE_PAGE.read_text(encoding="utf-8"))


@router.post("/login")
async def login(credentials: Credentials, services: ServicesDep) -> dict[str, Any]:
    """Exchange email and password for a bearer token."""
    async with services.database.session() as session:
        agent = await store.agent_by_email(session=session, email=credentials.email)
        ok = agent is not None and verify_password(credentials.password, agent.password_hash)
        await store.record_audit(
            session=session,
            actor=f"agent:{agent.id}" if agent else "anonymous",
            action="agent.login" if ok else "agent.login_failed",
            entity_type="agent",
            entity_id=str(agent.id) if agent else credentials.email[:100],
        )
    if not ok or agent is None:
        raise HTTPException(401, "Wrong email or password.")
    settings = services.settings
    lifetime = timedelta(minutes=settings.agent_token_minutes)
    now = utcnow()
    token = issue_token(
        agent.id, secret=settings.agent_token_secret.get_secret_value(), now=now, lifetime=lifetime
    )
    return {
        "token": token,
        "expires_at": (now + lifetime).isoformat(),
        "agent": _agent_view(agent),
    }


@router.post("/status")
async def change_status(
    change: StatusChange, agent: CurrentAgent, services: ServicesDep
) -> dict[str, Any]:
    """Become available (and get conversations), busy, away or offline.

    Going offline gives the agent's conversations back to their queues, for others to take.
    """
    async with services.database.session() as session:
        requeued = await store.set_agent_status(
            session=session, agent_id=agent.id, status=change.status
        )
    assigned = await services.router.dispatch()
    await _announce(services, [a.handoff_id for a in assigned])
    return {
        "status": change.status.value,
        "assigned": [a.handoff_id for a in assigned if a.agent_id == agent.id],
        "requeued": requeued,
    }


@router.get("/inbox")
async def inbox(agent: CurrentAgent, services: ServicesDep) -> dict[str, Any]:
    """The agent's conversations and those waiting in the queues they serve."""
    queues = services.queues.served_by(agent.skills)
    async with services.database.session() as session:
        handoffs = await store.handoffs_for_agent(session=session, agent_id=agent.id, queues=queues)
        items = [await _inbox_item(services, session, h) for h in handoffs]
        await store.record_audit(
            session=session,
            actor=f"agent:{agent.id}",
            action=f"{store.VIEW_ACTION_PREFIX}inbox",
            entity_type="agent",
            entity_id=str(agent.id),
            details={"handoff_ids": [h.id for h in handoffs]},
        )
    return {
        "agent": _agent_view(agent),
        "assigned": [i for i in items if i["status"] == "assigned"],
        "queued": [i for i in items if i["status"] == "queued"],
    }


@router.get("/conversations/{handoff_id}")
async def conversation(
    handoff_id: int, agent: CurrentAgent, services: ServicesDep
) -> dict[str, Any]:
    """Everything the agent needs: customer, transcript on every channel with what the
    assistant understood, complaints, earlier conversations, notes."""
    async with services.database.session() as session:
        handoff = await _visible(services, session, handoff_id, agent)
        conversation = await session.get_one(Conversation, handoff.conversation_id)
        recent = await store.conversations_of_customer(
            session=session, customer_id=conversation.customer_id
        )
    # The transcript spans the customer's recent conversations.
    await _catch_up_understanding(services, [p.conversation for p in recent])
    async with services.database.session() as session:
        customer = await session.get_one(Customer, conversation.customer_id)
        history = await store.customer_history(session=session, customer_id=customer.id)
        complaints = await store.complaints_for_customer(session=session, customer_id=customer.id)
        identities = await store.identities_of(session=session, customer_id=customer.id)
        notes = await store.notes_on(session=session, conversation_id=conversation.id)
        colleagues = await store.agents_online(session=session)
        await store.record_audit(
            session=session,
            actor=f"agent:{agent.id}",
            action=f"{store.VIEW_ACTION_PREFIX}customer",
            entity_type="customer",
            entity_id=str(customer.id),
            details={"handoff_id": handoff_id},
        )
    return {
        "handoff": _handoff_view(handoff),
        "customer": {
            "id": customer.id,
            "name": customer.display_name,
            "vip": customer.is_vip,
            "verified": any(i.verified for i in identities),
            "channels": [{"channel": i.channel.value, "address": i.address} for i in identities],
        },
        "transcript": [_message_view(m) for m in reversed(history)],
        "understood": understood_in(history, conversation.id),
        "sentiment_trend": sentiment_trend(history, complaints),
        "complaints": [_complaint_view(c) for c in complaints],
        "conversations": [_past_view(p, current=conversation.id) for p in recent],
        "notes": [
            {"at": note.created_at.isoformat(), "agent": name, "text": note.text}
            for note, name in notes
        ],
        "queues": [{"key": q.key, "name": q.name} for q in services.queues.queues],
        "agents": [
            {"id": a.id, "name": a.display_name, "status": a.status.value, "load": load}
            for a, load in colleagues
            if a.id != agent.id
        ],
    }


@router.post("/conversations/{handoff_id}/take")
async def take(handoff_id: int, agent: CurrentAgent, services: ServicesDep) -> dict[str, Any]:
    """Pick a waiting conversation from one of the agent's queues."""
    async with services.database.session() as session:
        await _visible(services, session, handoff_id, agent)
        handoff = await store.take_handoff(
            session=session, handoff_id=handoff_id, agent_id=agent.id
        )
        if handoff is None:
            raise HTTPException(409, "Someone else has it, or you have no room for another.")
        view = _handoff_view(handoff)
    await _announce(services, [handoff_id])
    return view


@router.post("/conversations/{handoff_id}/reply")
async def reply(
    handoff_id: int, body: ReplyText, agent: CurrentAgent, services: ServicesDep
) -> dict[str, Any]:
    """Answer the customer on the channel they last wrote on."""
    async with services.database.session() as session:
        try:
            message, identity = await store.record_agent_reply(
                session=session, handoff_id=handoff_id, agent_id=agent.id, text=body.text
            )
        except store.HandoffNotYours as error:
            raise HTTPException(403, "This conversation is not yours.") from error
        stored = StoredReply(message.id, BotReply.from_stored(message.text, message.payload))
        channel, address = identity.channel, identity.address
    delivered = await services.deliveries.deliver(channel, address, [stored])
    return {"message_id": stored.message_id, "channel": channel.value, "delivered": delivered}


@router.post("/conversations/{handoff_id}/notes")
async def add_note(
    handoff_id: int, body: NoteText, agent: CurrentAgent, services: ServicesDep
) -> dict[str, Any]:
    """An internal note on the conversation, for the team only."""
    async with services.database.session() as session:
        await _visible(services, session, handoff_id, agent)
        note = await store.add_agent_note(
            session=session, handoff_id=handoff_id, agent_id=agent.id, text=body.text
        )
        return {"id": note.id, "text": note.text}


@router.get("/canned")
async def canned(agent: CurrentAgent, services: ServicesDep) -> list[dict[str, str]]:
    """Canned responses for the reply box (from the canned responses file)."""
    return load_canned(services.settings.canned_responses_file)


@router.get("/events")
async def events(request: Request, agent: CurrentAgent) -> StreamingResponse:
    """Server-sent events: `inbox` whenever the agent's inbox may have changed."""
    watcher: InboxWatcher = request.app.state.inbox_watcher

    async def stream() -> AsyncIterator[str]:
        async for changed in watcher.changes():
            if await request.is_disconnected():
                return
            yield "event: inbox\ndata: {}\n\n" if changed else ": keep-alive\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@router.post("/conversations/{handoff_id}/decline")
async def decline(handoff_id: int, agent: CurrentAgent, services: ServicesDep) -> dict[str, Any]:
    """Give the conversation back to its queue (it is not offered to this agent again)."""
    return await _owned_action(services, agent, handoff_id, "decline")


@router.post("/conversations/{handoff_id}/transfer")
async def transfer(
    handoff_id: int, body: Transfer, agent: CurrentAgent, services: ServicesDep
) -> dict[str, Any]:
    """Pass the conversation to another queue or agent, with a note."""
    if body.to_queue is not None:
        try:
            services.queues.get(body.to_queue)
        except KeyError as error:
            raise HTTPException(422, f"No queue {body.to_queue!r}.") from error
    return await _owned_action(services, agent, handoff_id, "transfer", body)


@router.post("/conversations/{handoff_id}/resolve")
async def resolve(handoff_id: int, agent: CurrentAgent, services: ServicesDep) -> dict[str, Any]:
    """Done: the conversation goes back to the assistant, which asks for a rating."""
    view = await _owned_action(services, agent, handoff_id, "resolve")
    async with services.database.session() as session:
        handoff = await session.get_one(Handoff, handoff_id)
        conversation = await session.get_one(Conversation, handoff.conversation_id)
        await store.start_survey(session=session, handoff_id=handoff_id)
        message, identity = await store.record_notice(
            session=session,
            conversation_id=handoff.conversation_id,
            text=survey.question(0),
            payload={"custom": {"notice": "survey"}},
        )
        first = StoredReply(message.id, BotReply.from_stored(message.text, message.payload))
        channel, address = identity.channel, identity.address
    await services.deliveries.deliver(channel, address, [first])
    await _resume_assistant(services, conversation.public_id)
    return view


async def _catch_up_understanding(services: Services, conversations: list[Conversation]) -> None:
    # Rasa's answers carry no intents, so what it understood is read from its tracker when
    # an agent needs it (not on every turn, which would double Rasa's work per message).
    async with services.database.session() as session:
        pending = await store.not_yet_understood(
            session=session, conversation_ids=[c.id for c in conversations]
        )
    for conversation in conversations:
        if conversation.id not in pending:
            continue
        try:
            understood = await services.rasa.understandings(conversation.public_id)
        except RasaError as error:
            log.warning(
                "understanding_unavailable",
                conversation_id=conversation.public_id,
                error=str(error),
            )
            return
        async with services.database.session() as session:
            await store.record_understanding(
                session=session,
                conversation_id=conversation.id,
                understood={message_id: u.as_payload() for message_id, u in understood.items()},
            )


async def _resume_assistant(services: Services, sender_id: str) -> None:
    # The app kept the customer's messages from Rasa while the agent had them; Rasa's side
    # drops any half-finished form so its next answer is a fresh one. If Rasa is away, the
    # conversation still goes on: the worst case is one stale question.
    try:
        await services.rasa.resume_cleanly(sender_id)
    except RasaError as error:
        log.warning("rasa_resume_failed", conversation_id=sender_id, error=str(error))


async def _owned_action(
    services: Services,
    agent: Agent,
    handoff_id: int,
    action: Literal["decline", "transfer", "resolve"],
    body: Transfer | None = None,
) -> dict[str, Any]:
    async with services.database.session() as session:
        try:
            if action == "decline":
                handoff = await store.decline_handoff(
                    session=session, handoff_id=handoff_id, agent_id=agent.id
                )
            elif action == "resolve":
                handoff = await store.resolve_handoff(
                    session=session, handoff_id=handoff_id, agent_id=agent.id
                )
            else:
                assert body is not None
                handoff = await store.transfer_handoff(
                    session=session,
                    handoff_id=handoff_id,
                    agent_id=agent.id,
                    note=body.note,
                    to_queue=body.to_queue,
                    to_agent_id=body.to_agent_id,
                )
        except store.HandoffNotYours as error:
            raise HTTPException(403, "This conversation is not yours.") from error
        except store.AgentUnavailable as error:
            raise HTTPException(409, str(error)) from error
        except ValueError as error:
            raise HTTPException(422, str(error)) from error
        view = _handoff_view(handoff)
    assigned = await services.router.dispatch()
    handed_to_colleague = [handoff_id] if action == "transfer" and view["agent_id"] else []
    await _announce(services, handed_to_colleague + [a.handoff_id for a in assigned])
    return view


async def _announce(services: Services, handoff_ids: list[int]) -> None:
    """Customers on a live channel see who has just joined their conversation."""
    for handoff_id in handoff_ids:
        async with services.database.session() as session:
            handoff = await session.get_one(Handoff, handoff_id)
            team = services.queues.get(handoff.queue).name
            notice = await store.announce_agent(session=session, handoff_id=handoff_id, team=team)
            if notice is None:
                continue
            message, identity = notice
            stored = StoredReply(message.id, BotReply.from_stored(message.text, message.payload))
        await services.deliveries.deliver(identity.channel, identity.address, [stored])


async def _visible(
    services: Services, session: AsyncSession, handoff_id: int, agent: Agent
) -> Handoff:
    """A handoff the agent may see: theirs, or waiting in one of their queues (403 if not)."""
    handoff = await session.get(Handoff, handoff_id)
    if handoff is None:
        raise HTTPException(404, "No such conversation.")
    mine = handoff.agent_id == agent.id
    if not mine and handoff.queue not in services.queues.served_by(agent.skills):
        raise HTTPException(403, "This conversation is not in your queues.")
    return handoff


async def _inbox_item(
    services: Services, session: AsyncSession, handoff: Handoff
) -> dict[str, Any]:
    conversation = await session.get_one(Conversation, handoff.conversation_id)
    customer = await session.get_one(Customer, conversation.customer_id)
    latest = await store.customer_history(session=session, customer_id=customer.id, limit=1)
    return {
        **_handoff_view(handoff),
        "customer": customer.display_name or customer.email or customer.phone or "Visitor",
        "vip": customer.is_vip,
        "queue_name": services.queues.get(handoff.queue).name,
        "last_message": _message_view(latest[0]) if latest else None,
    }


def load_canned(path: Path) -> list[dict[str, str]]:
    """The canned responses: a list of {title, text}."""
    items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [
        {"title": str(item["title"]), "text": str(item["text"])}
        for item in items
        if isinstance(item, dict) and "title" in item and "text" in item
    ]


def _agent_view(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.display_name,
        "email": agent.email,
        "skills": agent.skills,
        "status": agent.status.value,
        "capacity": agent.capacity,
    }


def _handoff_view(handoff: Handoff) -> dict[str, Any]:
    return {
        "id": handoff.id,
        "queue": handoff.queue,
        "status": handoff.status.value,
        "kind": handoff.kind.value,
        "reason": handoff.reason,
        "intent": handoff.intent,
        "callback_number": handoff.callback_number,
        "agent_id": handoff.agent_id,
        "enqueued_at": handoff.enqueued_at.isoformat(),
        "note": handoff.note,
        "sentiment_score": handoff.sentiment_score,
    }


def _message_view(message: Message) -> dict[str, Any]:
    outbound = message.direction.value == "outbound"
    agent = (message.payload.get("custom") or {}).get("agent") if outbound else None
    understanding = message.payload.get("understanding") or {}
    return {
        "id": message.id,
        "at": message.created_at.isoformat(),
        "channel": message.channel.value,
        "from": ("agent" if agent else "assistant") if outbound else "customer",
        "agent": agent["name"] if agent else None,
        "text": message.payload.get("metadata", {}).get("display_text") or message.text,
        # What the assistant understood (not our own markers such as "for the agent").
        "intent": understanding.get("intent"),
        "confidence": understanding.get("confidence"),
        "entities": understanding.get("entities") or [],
        "sentiment": message.payload.get("sentiment"),
    }


def understood_in(history: list[Message], conversation_id: int) -> dict[str, Any]:
    """What the assistant collected in this conversation: its intents, and its latest slots."""
    mine = [
        m
        for m in reversed(history)
        if m.conversation_id == conversation_id and m.direction.value == "inbound"
    ]
    slots: dict[str, Any] = {}
    intents: list[str] = []
    for message in mine:
        understanding = message.payload.get("understanding") or {}
        slots = understanding.get("slots") or slots
        if understanding.get("intent"):
            intents.append(understanding["intent"])
    return {"intents": list(dict.fromkeys(intents)), "slots": slots}


def sentiment_trend(history: list[Message], complaints: list[Complaint]) -> list[dict[str, Any]]:
    """Sentiment scores over time, oldest first (empty until the NLP services fill them)."""
    points = [
        {"at": m.created_at.isoformat(), "score": float(m.payload["sentiment"]["score"])}
        for m in history
        if isinstance(m.payload.get("sentiment"), dict)
        and isinstance(m.payload["sentiment"].get("score"), int | float)
    ] + [
        {"at": c.created_at.isoformat(), "score": c.sentiment_score}
        for c in complaints
        if c.sentiment_score is not None
    ]
    return sorted(points, key=lambda point: point["at"])


def _past_view(past: store.PastConversation, *, current: int) -> dict[str, Any]:
    conversation = past.conversation
    return {
        "id": conversation.public_id,
        "current": conversation.id == current,
        "channel": conversation.started_channel.value,
        "started_at": conversation.started_at.isoformat(),
        "status": conversation.status.value,
        "messages": past.messages,
        "handoffs": [
            {"queue": h.queue, "status": h.status.value, "agent": name, "reason": h.reason}
            for h, name in past.handoffs
        ],
    }


def _complaint_view(complaint: Complaint) -> dict[str, Any]:
    return {
        "case_id": complaint.case_id,
        "category": complaint.category,
        "status": complaint.status.value,
        "priority": complaint.priority.value,
        "summary": complaint.summary,
        "sentiment": complaint.sentiment_label,
        "sentiment_score": complaint.sentiment_score,
        "created_at": complaint.created_at.isoformat(),
    }
