"""Web chat's file uploads: `POST /webchat/uploads` sends files (a photo of the problem, a
PDF) with an optional caption as one message, and `GET /webchat/uploads/{id}` serves a file
back to its own customer only.

The upload is a `multipart/form-data` body with the session as `Authorization: Bearer
<token>` (the same checks as `POST /webchat/messages`):

    file   one to MAX_FILES files (the same field name repeated)
    text   the caption (optional, at most MAX_MESSAGE_BYTES)
    id     the page's id for the message (optional): sent again, it is stored and answered once

Every file is checked (ATTACHMENT_TYPES, ATTACHMENT_MAX_BYTES) before anything is kept: one
refused file refuses the upload, with 400, 413 or 415 and `{"code", "detail"}`. The request
may be larger than MAX_REQUEST_BYTES, up to `files.upload_body_limit` (on this path only).
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.webchat.access import CurrentSession, client_address, limit_message, rules_of
from adapters.webchat.files import (
    MAX_FILES,
    SHOWN_INLINE,
    UploadedFile,
    check_file,
    clean_filename,
    render_files,
    upload_inbound,
)
from adapters.webchat.frames import CLIENT_ID_PATTERN, render_stored
from adapters.webchat.sessions import WebchatSession
from bot.core.attachments import AttachmentNotKept, AttachmentStore
from bot.core.db import Database
from bot.core.deps import DatabaseDep, PipelineDep, RateLimitsDep, SettingsDep, from_app_state
from bot.core.documents import DocumentStoreError
from bot.core.ids import DbId
from bot.core.messages import InvalidMessage, clean_text
from bot.core.models import Attachment, Channel, Conversation, Message
from bot.core.settings import Settings
from bot.core.store import customers
from bot.core.store.inbound import AttachmentRef, attachments_of

router = APIRouter()
AttachmentsDep = Annotated[AttachmentStore, from_app_state("attachments")]
# The form's other fields: the caption and the id.
MAX_FIELDS = 2
_MULTIPART = re.compile(r"^multipart/form-data\s*(;|$)", re.IGNORECASE)
# A visitor's file is theirs: never kept by a browser's or a proxy's cache, never run as a
# page (whatever type it was kept as).
FILE_HEADERS = {
    "cache-control": "private, no-store",
    "content-security-policy": "default-src 'none'; sandbox",
}

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "maxItems": MAX_FILES,
                        },
                        "text": {"type": "string", "description": "The caption (optional)."},
                        "id": {"type": "string", "pattern": CLIENT_ID_PATTERN.pattern},
                    },
                }
            }
        },
    }
}


@router.post("/uploads", openapi_extra=UPLOAD_BODY)
async def upload(
    request: Request,
    session: CurrentSession,
    settings: SettingsDep,
    pipeline: PipelineDep,
    rate_limits: RateLimitsDep,
    attachments: AttachmentsDep,
    database: DatabaseDep,
) -> dict[str, Any]:
    """Send files with an optional caption as one message; the assistant's replies come in
    the response (or, when they take longer than ANSWER_WAIT_SECONDS, a notice that they
    will follow), like POST /webchat/messages."""
    if not _MULTIPART.match(request.headers.get("content-type", "")):
        raise InvalidMessage(
            "unsupported_media_type", "Send the files as multipart/form-data.", 415
        )
    # A visitor over their limit is refused before megabytes are read; counted below, once
    # the upload is known to be acceptable.
    await rate_limits.check(rules_of(settings).visitor, session.visitor_id, what="messages")
    caption, files, client_id = await _read_upload(request, settings)
    kinds = [check_file(attachments, file) for file in files]
    await limit_message(rate_limits, settings, session.visitor_id, client_address(request))
    refs = await _keep(attachments, files, kinds)
    inbound = upload_inbound(session=session, caption=caption, kinds=kinds, client_id=client_id)
    accepted = await pipeline.accept(inbound, attachments=refs)
    turn = await pipeline.respond_within(accepted, settings.answer_wait_seconds)
    await pipeline.deliveries.mark_delivered(turn.replies)
    message_id = accepted.stored.message.id
    async with database.session() as db_session:
        kept = (await attachments_of(session=db_session, message_ids=[message_id])).get(
            message_id, []
        )
    return {
        "status": turn.status.value,
        # Stored before under this id (a turn still waiting for Rasa says so only here).
        "duplicate": turn.duplicate or not accepted.stored.created,
        "message": {"id": message_id, "text": caption, "attachments": render_files(kept)},
        "messages": render_stored(turn.replies),
    }


async def _read_upload(
    request: Request, settings: Settings
) -> tuple[str, list[UploadedFile], str | None]:
    """The caption, the files and the page's id of an upload; 400 when the form is not one."""
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    except StarletteHTTPException as error:
        if error.status_code != 400:
            raise
        # Too many files or fields, or a body that is not multipart.
        raise InvalidMessage("malformed_upload", str(error.detail), 400) from None
    try:
        return await _fields(form, settings)
    finally:
        await form.close()  # the spooled files' temporary copies go now, not at exit


async def _fields(form: FormData, settings: Settings) -> tuple[str, list[UploadedFile], str | None]:
    uploads = form.getlist("file")
    if not uploads or not all(isinstance(u, UploadFile) for u in uploads):
        raise InvalidMessage("no_file", f"Send 1-{MAX_FILES} files in the form field 'file'.", 400)
    caption, client_id = form.get("text", ""), form.get("id")
    if not isinstance(caption, str) or not (client_id is None or isinstance(client_id, str)):
        raise InvalidMessage("malformed_upload", "'text' and 'id' must be plain fields.", 400)
    if client_id is not None and not CLIENT_ID_PATTERN.match(client_id):
        raise InvalidMessage("malformed", "'id' must be 1-64 letters, digits, '-' or '_'.", 400)
    # The caption's checks are a typed message's; none at all is fine here.
    text = clean_text(caption, max_bytes=settings.max_message_bytes) if caption.strip() else ""
    files = [
        UploadedFile(await u.read(), u.content_type or "", clean_filename(u.filename))
        for u in uploads
        if isinstance(u, UploadFile)
    ]
    return text, files, client_id


async def _keep(
    attachments: AttachmentStore, files: list[UploadedFile], kinds: list[str]
) -> list[AttachmentRef]:
    """Each file in the document store (kept once by content, so a repeated upload adds no
    copy); 503 when the store is down, and then no message is stored."""
    try:
        return [
            await attachments.save(file.data, content_type=kind, filename=file.filename)
            for file, kind in zip(files, kinds, strict=True)
        ]
    except AttachmentNotKept as error:
        raise InvalidMessage(
            "unavailable", f"Your file could not be kept: {error.reason}. Please try again.", 503
        ) from None


@router.get("/uploads/{attachment_id}")
async def download(
    attachment_id: DbId,
    session: CurrentSession,
    database: DatabaseDep,
    attachments: AttachmentsDep,
) -> Response:
    """A file of the visitor's own messages (any channel's: the transcript shows them all);
    404 for anyone else's, the same as for one that does not exist."""
    found = await _own_attachment(database, session, attachment_id)
    if found is None:
        raise InvalidMessage("not_found", "There is no such file.", 404)
    try:
        data = await attachments.read(found.storage_ref)
    except DocumentStoreError:
        raise InvalidMessage("unavailable", "That file cannot be read just now.", 503) from None
    # Pictures are shown in the page; anything else is saved, never opened from our origin.
    inline = found.content_type in SHOWN_INLINE
    name = quote(found.filename or f"file-{found.id}", safe="")
    disposition = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{name}"
    return Response(
        data,
        media_type=found.content_type,
        headers={**FILE_HEADERS, "content-disposition": disposition},
    )


async def _own_attachment(
    database: Database, session: WebchatSession, attachment_id: int
) -> Attachment | None:
    async with database.session() as db_session:
        identity = await customers.identity_of(
            session=db_session, channel=Channel.WEBCHAT, address=session.visitor_id
        )
        if identity is None:
            return None
        found: Attachment | None = await db_session.scalar(
            select(Attachment)
            .join(Message, Message.id == Attachment.message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Attachment.id == attachment_id)
            .where(Conversation.customer_id == identity.customer_id)
        )
        return found
