"""The agents' API and the console page. Errors: 401 for a missing, forged, expired or
revoked token (or a wrong password); 429 after too many failed sign-ins; 403 for a
conversation outside the agent's queues or someone else's; 404 for none; 409 for one just
taken or a colleague without room; 422 for a bad transfer or an id out of range.

The customer panel and the actions on the customer's records (refunds, receipts,
complaints) answer besides: 403 `over_refund_limit` above the agent's role limit, 404
`not_found` for a record that is not this customer's, 409 `not_verified` /
`refund_not_waiting`, 503 `business_systems_unavailable`.

A file of a transcript (`/agent/attachments/{id}`) answers 404 `not_found` alike for one
that does not exist and one the agent may not see, and 503 `file_store_unavailable` when
the document store does not give its bytes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from bot.core.attachments import AttachmentStore
from bot.core.deps import DatabaseDep, SettingsDep, from_app_state
from bot.core.errors import error_response
from bot.core.ids import DbId
from handoff.console import schemas
from handoff.console.customer_actions import ActionRefused, CustomerActions
from handoff.console.customer_view import refund_view
from handoff.console.deps import CurrentAgent, CurrentSession, StreamAgent
from handoff.console.files import FileStoreDown, FileUnavailable, file_response, open_file
from handoff.console.signin import TICKET_LIFETIME, SignIn, StreamGrant, WrongCredentials
from handoff.console.views import agent_view, complaint_view, handoff_view
from handoff.deps import ConsoleDep, DeskDep, SignInDep, WatcherDep
from handoff.desk import AlreadyTaken, NoSuchHandoff, NotInYourQueues
from handoff.live import InboxWatcher
from handoff.models import AgentStatus
from handoff.store.agent_actions import AgentUnavailable, HandoffNotYours

router = APIRouter(prefix="/agent", tags=["agents"])
# How often an open event stream checks its agent is still signed in (and the keep-alive).
RECHECK_SECONDS = 15.0
CONSOLE_PAGE = Path(__file__).resolve().parent / "page" / "index.html"

CustomerActionsDep = Annotated[CustomerActions, from_app_state("customer_actions")]
AttachmentsDep = Annotated[AttachmentStore, from_app_state("attachments")]
# A reference in the business systems (refund, payment) or a complaint's case ID.
RecordRef = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Result = TypeVar("Result")
# Answers of the actions on the customer's records (besides the conversation's own 403/404).
ACTION_REFUSALS: dict[int | str, dict[str, str]] = {
    403: {"description": "Not your conversation, or over your role's refund limit"},
    404: {"description": "No such conversation, or no such record of this customer"},
    409: {"description": "Not verified, not waiting for a decision, or refused"},
    503: {"description": "The business systems are not answering"},
}


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


@router.post(
    "/login",
    response_model=schemas.SignedIn,
    responses={
        401: {"description": "Wrong email or password"},
        429: {"description": "Too many failed sign-ins: wait Retry-After seconds"},
    },
)
async def login(
    credentials: schemas.Credentials, request: Request, sign_in: SignInDep
) -> schemas.SignedIn:
    """Exchange email and password for a bearer token (429 with Retry-After after too many
    failures for the email or from the address, whether or not the email is an agent's)."""
    address = request.client.host if request.client else "unknown"
    try:
        signed_in = await sign_in.sign_in(credentials.email, credentials.password, address=address)
    except WrongCredentials as error:
        raise HTTPException(401, "Wrong email or password.") from error
    return schemas.SignedIn(
        token=signed_in.token,
        expires_at=signed_in.expires_at.isoformat(),
        agent=agent_view(signed_in.agent),
    )


@router.post("/logout", status_code=204)
async def logout(agent: CurrentAgent, sign_in: SignInDep, desk: DeskDep) -> Response:
    """Sign out: the agent goes offline (their conversations go back to their queues, for
    others to take), and this token, and every other of the agent's, is refused from now on,
    by every app instance."""
    await desk.set_status(agent, AgentStatus.OFFLINE)
    await sign_in.sign_out(agent)
    return Response(status_code=204)


@router.post("/events/ticket", response_model=schemas.StreamTicket)
async def stream_ticket(signed_in: CurrentSession, sign_in: SignInDep) -> schemas.StreamTicket:
    """A single-use ticket to open the live stream with (`GET /agent/events?ticket=`), good
    for a few seconds: browsers' EventSource sends no Authorization header, and the
    long-lived token must not be put in a URL."""
    ticket = await sign_in.stream_ticket(signed_in.agent, signed_in.claims)
    return schemas.StreamTicket(ticket=ticket, expires_in=int(TICKET_LIFETIME.total_seconds()))


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
    handoff_id: DbId, agent: CurrentAgent, desk: DeskDep, console: ConsoleDep
) -> schemas.ConversationDetail:
    """Everything the agent needs: customer, transcript on every channel with what the
    assistant understood, complaints, earlier conversations, notes."""
    with refusals():
        handoff = await desk.visible(handoff_id, agent)
    return await console.conversation(agent, handoff)


@router.get(
    "/attachments/{attachment_id}",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes, with its type", "content": {"*/*": {}}},
        404: {"description": "No such file, or not in a conversation you may see"},
        503: {"description": "The document store is not answering"},
    },
)
async def attachment(
    attachment_id: DbId,
    agent: CurrentAgent,
    desk: DeskDep,
    database: DatabaseDep,
    store: AttachmentsDep,
) -> Response:
    """A file the customer sent (a photo, a PDF), for an agent who may see a transcript it
    is in (their conversation, or one waiting in their queues); audited as a view."""
    try:
        served = await open_file(
            database=database, desk=desk, store=store, agent=agent, attachment_id=attachment_id
        )
    except FileUnavailable as missing:
        return error_response(404, "not_found", missing.detail)
    except FileStoreDown:
        return error_response(
            503, "file_store_unavailable", "The file store is not answering; try again soon."
        )
    return file_response(served)


@router.post("/conversations/{handoff_id}/take", response_model=schemas.HandoffView)
async def take(handoff_id: DbId, agent: CurrentAgent, desk: DeskDep) -> schemas.HandoffView:
    """Pick a waiting conversation from one of the agent's queues."""
    with refusals():
        return handoff_view(await desk.take(agent, handoff_id))


@router.post("/conversations/{handoff_id}/reply", response_model=schemas.ReplyResult)
async def reply(
    handoff_id: DbId, body: schemas.ReplyText, agent: CurrentAgent, desk: DeskDep
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
    handoff_id: DbId, body: schemas.NoteText, agent: CurrentAgent, desk: DeskDep
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
async def events(
    request: Request, grant: StreamAgent, watcher: WatcherDep, sign_in: SignInDep
) -> StreamingResponse:
    """Server-sent events: `inbox` whenever the agent's inbox may have changed; `signed_out`
    (and the end) once their token expires or is revoked. Opened with `?ticket=`."""
    return StreamingResponse(
        _stream(request, grant, watcher, sign_in),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )


async def _stream(
    request: Request, grant: StreamGrant, watcher: InboxWatcher, sign_in: SignIn
) -> AsyncIterator[str]:
    checked = time.monotonic()
    async for changed in watcher.changes(heartbeat_seconds=RECHECK_SECONDS):
        if await request.is_disconnected():
            return
        # Is the token behind the stream still good? Asked once a heartbeat, not per event.
        if time.monotonic() - checked >= RECHECK_SECONDS:
            checked = time.monotonic()
            if not await sign_in.still_signed_in(grant):
                yield "event: signed_out\ndata: {}\n\n"
                return
        yield "event: inbox\ndata: {}\n\n" if changed else ": keep-alive\n\n"


@router.post("/conversations/{handoff_id}/decline", response_model=schemas.HandoffView)
async def decline(handoff_id: DbId, agent: CurrentAgent, desk: DeskDep) -> schemas.HandoffView:
    """Give the conversation back to its queue (it is not offered to this agent again)."""
    with refusals():
        return handoff_view(await desk.decline(agent, handoff_id))


@router.post("/conversations/{handoff_id}/transfer", response_model=schemas.HandoffView)
async def transfer(
    handoff_id: DbId, body: schemas.Transfer, agent: CurrentAgent, desk: DeskDep
) -> schemas.HandoffView:
    """Pass the conversation to another queue or agent, with a note."""
    with refusals():
        handoff = await desk.transfer(
            agent, handoff_id, note=body.note, to_queue=body.to_queue, to_agent=body.to_agent_id
        )
    return handoff_view(handoff)


@router.post("/conversations/{handoff_id}/resolve", response_model=schemas.HandoffView)
async def resolve(handoff_id: DbId, agent: CurrentAgent, desk: DeskDep) -> schemas.HandoffView:
    """Done: the conversation goes back to the assistant, which asks for a rating."""
    with refusals():
        return handoff_view(await desk.resolve(agent, handoff_id))


async def _acted(work: Awaitable[Result]) -> Result | JSONResponse:
    # The actions' refusals carry their own code ("over_refund_limit"), in the one shape.
    try:
        with refusals():
            return await work
    except ActionRefused as refused:
        return error_response(refused.status_code, refused.code, refused.detail)


@router.get("/conversations/{handoff_id}/customer", response_model=schemas.BusinessCustomer)
async def business_customer(
    handoff_id: DbId, agent: CurrentAgent, console: ConsoleDep
) -> schemas.BusinessCustomer:
    """What the business systems know of the customer of the agent's conversation (orders,
    shipments, payments, refunds, balances with masked numbers, verification); nothing but
    "not verified" for a customer who has not proved who they are."""
    with refusals():
        return await console.business_customer(agent, handoff_id)


@router.post(
    "/conversations/{handoff_id}/refunds/{refund_ref}/approve",
    response_model=schemas.RefundDecision,
    responses=ACTION_REFUSALS,
)
async def approve_refund(
    handoff_id: DbId, refund_ref: RecordRef, agent: CurrentAgent, actions: CustomerActionsDep
) -> schemas.RefundDecision | JSONResponse:
    """Approve the customer's waiting refund, up to the agent's role limit (audited)."""
    refund = await _acted(actions.approve_refund(agent, handoff_id, refund_ref))
    if isinstance(refund, JSONResponse):
        return refund
    return schemas.RefundDecision(refund=refund_view(refund, limit_minor=0))


@router.post(
    "/conversations/{handoff_id}/refunds/{refund_ref}/reject",
    response_model=schemas.RefundDecision,
    responses=ACTION_REFUSALS,
)
async def reject_refund(
    handoff_id: DbId, refund_ref: RecordRef, agent: CurrentAgent, actions: CustomerActionsDep
) -> schemas.RefundDecision | JSONResponse:
    """Reject the customer's waiting refund (audited)."""
    refund = await _acted(actions.reject_refund(agent, handoff_id, refund_ref))
    if isinstance(refund, JSONResponse):
        return refund
    return schemas.RefundDecision(refund=refund_view(refund, limit_minor=0))


@router.post(
    "/conversations/{handoff_id}/payments/{payment_ref}/resend-receipt",
    response_model=schemas.ReceiptSent,
    responses=ACTION_REFUSALS,
)
async def resend_receipt(
    handoff_id: DbId, payment_ref: RecordRef, agent: CurrentAgent, actions: CustomerActionsDep
) -> schemas.ReceiptSent | JSONResponse:
    """Send the receipt again: a PDF by email to the address on record, else a short text
    on the customer's channel (audited)."""
    resent = await _acted(actions.resend_receipt(agent, handoff_id, payment_ref))
    if isinstance(resent, JSONResponse):
        return resent
    return schemas.ReceiptSent(
        payment_ref=resent.payment_ref,
        channel=resent.notice.channel.value,
        attached_pdf=resent.attached_pdf,
        delivered=resent.delivered,
    )


@router.post(
    "/conversations/{handoff_id}/complaints/{case_id}/status",
    response_model=schemas.ComplaintStatusResult,
    responses=ACTION_REFUSALS,
)
async def complaint_status(
    handoff_id: DbId,
    case_id: RecordRef,
    body: schemas.ComplaintStatusChange,
    agent: CurrentAgent,
    actions: CustomerActionsDep,
) -> schemas.ComplaintStatusResult | JSONResponse:
    """Move one of the customer's complaints on; they are told, with its case ID."""
    changed = await _acted(actions.set_complaint_status(agent, handoff_id, case_id, body.status))
    if isinstance(changed, JSONResponse):
        return changed
    complaint, notified = changed
    return schemas.ComplaintStatusResult(complaint=complaint_view(complaint), notified=notified)


def load_canned(path: Path) -> list[schemas.CannedResponse]:
    """The canned responses: a list of {title, text}."""
    items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [
        schemas.CannedResponse(title=str(item["title"]), text=str(item["text"]))
        for item in items
        if isinstance(item, dict) and "title" in item and "text" in item
    ]
