"""The agents' API and the console page. Errors: 401 for a missing, forged or expired token
(or a wrong password); 403 for a conversation outside the agent's queues or someone else's;
404 for none; 409 for one just taken or a colleague without room; 422 for a bad transfer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import yaml
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from bot.core.deps import DatabaseDep, SettingsDep
from bot.core.models import utcnow
from bot.core.store import audit
from handoff.auth import issue_token, verify_password
from handoff.console import schemas
from handoff.console.deps import CurrentAgent
from handoff.console.views import agent_view, handoff_view
from handoff.deps import ConsoleDep, DeskDep, WatcherDep
from handoff.desk import AlreadyTaken, NoSuchHandoff, NotInYourQueues
from handoff.store.agent_actions import AgentUnavailable, HandoffNotYours
from handoff.store.agents import agent_by_email

router = APIRouter(prefix="/agent", tags=["agents"])
CONSOLE_PAGE = Path(__file__).resolve().parent / "page" / "index.html"


@contextmanager
def refusals() -> Iterator[None]:
    """The desk's refusals as HTTP errors."""
    try:
        yield
    except NoSuchHandoff as error:
        raise HTTPException(404, "No such conversation.") from error
    except NotInYourQueues as error:
        raise HTTPException(403, "This conversation is not in your queues.") from error
    except HandoffNotYours as error:
        raise HTTPException(403, "This conversation is not yours.") from error
    except (AgentUnavailable, AlreadyTaken) as error:
        raise HTTPException(409, str(error)) from error
    except ValueError as error:
        raise HTTPException(422, str(error)) from error


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def console_page() -> HTMLResponse:
    """The agent console (a single page using this API)."""
    return HTMLResponse(CONSOLE_PAGE.read_text(encoding="utf-8"))


@router.post("/login", response_model=schemas.SignedIn)
async def login(
    credentials: schemas.Credentials, database: DatabaseDep, settings: SettingsDep
) -> schemas.SignedIn:
    """Exchange email and password for a bearer token."""
    async with database.session() as session:
        agent = await agent_by_email(session=session, email=credentials.email)
        ok = agent is not None and verify_password(credentials.password, agent.password_hash)
        audit.record(
            session=session,
            actor=f"agent:{agent.id}" if agent else "anonymous",
            action="agent.login" if ok else "agent.login_failed",
            entity_type="agent",
            entity_id=str(agent.id) if agent else credentials.email[:100],
        )
    if not ok or agent is None:
        raise HTTPException(401, "Wrong email or password.")
    lifetime, now = timedelta(minutes=settings.agent_token_minutes), utcnow()
    secret = settings.agent_token_secret.get_secret_value()
    return schemas.SignedIn(
        token=issue_token(agent.id, secret=secret, now=now, lifetime=lifetime),
        expires_at=(now + lifetime).isoformat(),
        agent=agent_view(agent),
    )


@router.post("/status", response_model=schemas.StatusResult)
async def change_status(
    change: schemas.StatusChange, agent: CurrentAgent, desk: DeskDep
) -> schemas.StatusResult:
    """Become available (and get conversations), busy, away or offline (which gives the
    agent's conversations back to their queues, for others to take)."""
    changed = await desk.set_status(agent, change.status)
    return schemas.StatusResult(
        status=changed.status.value, assigned=changed.assigned, requeued=changed.requeued
    )


@router.get("/inbox", response_model=schemas.Inbox)
async def inbox(agent: CurrentAgent, console: ConsoleDep) -> schemas.Inbox:
    """The agent's conversations and those waiting in the queues they serve."""
    return await console.inbox(agent)


@router.get("/conversations/{handoff_id}", response_model=schemas.ConversationDetail)
async def conversation(
    handoff_id: int, agent: CurrentAgent, desk: DeskDep, console: ConsoleDep
) -> schemas.ConversationDetail:
    """Everything the agent needs: customer, transcript on every channel with what the
    assistant understood, complaints, earlier conversations, notes."""
    with refusals():
        handoff = await desk.visible(handoff_id, agent)
    return await console.conversation(agent, handoff)


@router.post("/conversations/{handoff_id}/take", response_model=schemas.HandoffView)
async def take(handoff_id: int, agent: CurrentAgent, desk: DeskDep) -> schemas.HandoffView:
    """Pick a waiting conversation from one of the agent's queues."""
    with refusals():
        return handoff_view(await desk.take(agent, handoff_id))


@router.post("/conversations/{handoff_id}/reply", response_model=schemas.ReplyResult)
async def reply(
    handoff_id: int, body: schemas.ReplyText, agent: CurrentAgent, desk: DeskDep
) -> schemas.ReplyResult:
    """Answer the customer on the channel they last wrote on."""
    with refusals():
        sent = await desk.reply(agent, handoff_id, body.text)
    return schemas.ReplyResult(
        message_id=sent.notice.reply.message_id,
        channel=sent.notice.channel.value,
        delivered=sent.delivered,
    )


@router.post("/conversations/{handoff_id}/notes", response_model=schemas.NoteResult)
async def add_note(
    handoff_id: int, body: schemas.NoteText, agent: CurrentAgent, desk: DeskDep
) -> schemas.NoteResult:
    """An internal note on the conversation, for the team only."""
    with refusals():
        note = await desk.add_note(agent, handoff_id, body.text)
    return schemas.NoteResult(id=note.id, text=note.text)


@router.get("/canned", response_model=list[schemas.CannedResponse])
async def canned(agent: CurrentAgent, settings: SettingsDep) -> list[schemas.CannedResponse]:
    """Canned responses for the reply box (from the canned responses file)."""
    return load_canned(settings.canned_responses_file)


@router.get("/events")
async def events(request: Request, agent: CurrentAgent, watcher: WatcherDep) -> StreamingResponse:
    """Server-sent events: `inbox` whenever the agent's inbox may have changed."""

    async def stream() -> AsyncIterator[str]:
        async for changed in watcher.changes():
            if await request.is_disconnected():
                return
            yield "event: inbox\ndata: {}\n\n" if changed else ": keep-alive\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


@router.post("/conversations/{handoff_id}/decline", response_model=schemas.HandoffView)
async def decline(handoff_id: int, agent: CurrentAgent, desk: DeskDep) -> schemas.HandoffView:
    """Give the conversation back to its queue (it is not offered to this agent again)."""
    with refusals():
        return handoff_view(await desk.decline(agent, handoff_id))


@router.post("/conversations/{handoff_id}/transfer", response_model=schemas.HandoffView)
async def transfer(
    handoff_id: int, body: schemas.Transfer, agent: CurrentAgent, desk: DeskDep
) -> schemas.HandoffView:
    """Pass the conversation to another queue or agent, with a note."""
    with refusals():
        handoff = await desk.transfer(
            agent, handoff_id, note=body.note, to_queue=body.to_queue, to_agent=body.to_agent_id
        )
    return handoff_view(handoff)


@router.post("/conversations/{handoff_id}/resolve", response_model=schemas.HandoffView)
async def resolve(handoff_id: int, agent: CurrentAgent, desk: DeskDep) -> schemas.HandoffView:
    """Done: the conversation goes back to the assistant, which asks for a rating."""
    with refusals():
        return handoff_view(await desk.resolve(agent, handoff_id))


def load_canned(path: Path) -> list[schemas.CannedResponse]:
    """The canned responses: a list of {title, text}."""
    items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [
        schemas.CannedResponse(title=str(item["title"]), text=str(item["text"]))
        for item in items
        if isinstance(item, dict) and "title" in item and "text" in item
    ]
