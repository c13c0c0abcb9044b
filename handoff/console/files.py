"""The files customers sent (an MMS photo, an email's attachment, a web chat upload), served
to the agents: a file is shown to an agent who may see a transcript it is in, the same rule
as for the transcript itself (a transcript spans all of the customer's conversations), and
each look is audited as a view.

The console fetches the bytes with the agent's bearer token (never one in a URL) and shows
them from a `blob:` URL. The answer is never kept by a cache and never run as a page:
pictures and PDFs are `inline`, anything else an `attachment`, all with `nosniff` and a
sandboxing Content-Security-Policy, under a name cleaned of folders, quotes and control
characters.
"""

from __future__ import annotations

import mimetypes
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

import structlog
from fastapi import Response

from bot.core.attachments import AttachmentStore, base_type
from bot.core.db import Database
from bot.core.documents import DocumentNotFound, DocumentStoreError
from bot.core.models import Attachment
from bot.core.store import audit
from handoff.desk import AgentDesk, NoSuchHandoff, NotInYourQueues
from handoff.models import Agent
from handoff.store.console import VIEW_ACTION_PREFIX, file_and_handoffs

log = structlog.get_logger("handoff.console.files")

# Shown in the browser (by the console, from a blob: URL); anything else is downloaded.
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/heic",
        "image/heif",
        "application/pdf",
    }
)
MAX_FILENAME_CHARS = 150
FILE_HEADERS = {
    "cache-control": "private, no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
}


class FileUnavailable(Exception):
    """A file the agent may not see, or none: the same answer (404) for both."""

    def __init__(self, detail: str = "There is no such file.") -> None:
        super().__init__(detail)
        self.detail = detail


class FileStoreDown(Exception):
    """The document store did not give the file's bytes (503)."""


@dataclass(frozen=True)
class ServedFile:
    """A file's row and its bytes."""

    attachment: Attachment
    data: bytes


async def visible_file(
    *, database: Database, desk: AgentDesk, agent: Agent, attachment_id: int
) -> Attachment:
    """The file, if it is in a transcript `agent` may see: one of a handoff of its customer
    that the desk shows them (theirs, or in one of their queues). FileUnavailable if not,
    or if there is no such file."""
    async with database.session() as session:
        found = await file_and_handoffs(session=session, attachment_id=attachment_id)
    if found is None:
        raise FileUnavailable()
    for handoff_id in found.handoff_ids:
        try:
            await desk.visible(handoff_id, agent)
        except (NoSuchHandoff, NotInYourQueues):
            continue
        return found.attachment
    raise FileUnavailable()


async def open_file(
    *,
    database: Database,
    desk: AgentDesk,
    store: AttachmentStore,
    agent: Agent,
    attachment_id: int,
) -> ServedFile:
    """A file `agent` may see, with its bytes, the look audited. FileUnavailable (404) if
    they may not or it does not exist; FileStoreDown (503) if its bytes cannot be read."""
    attachment = await visible_file(
        database=database, desk=desk, agent=agent, attachment_id=attachment_id
    )
    try:
        data = await store.read(attachment.storage_ref)
    except DocumentNotFound as error:
        # The row outlived its bytes: nothing to show, whenever asked.
        log.warning("attachment_bytes_missing", attachment_id=attachment.id, error=str(error))
        raise FileUnavailable("That file is no longer kept.") from error
    except DocumentStoreError as error:
        log.error("attachment_unreadable", attachment_id=attachment.id, error=str(error))
        raise FileStoreDown(str(error)) from error
    async with database.session() as session:
        audit.record(
            session=session,
            actor=f"agent:{agent.id}",
            action=f"{VIEW_ACTION_PREFIX}attachment",
            entity_type="attachment",
            entity_id=str(attachment.id),
            details={"message_id": attachment.message_id},
        )
    return ServedFile(attachment, data)


def safe_filename(attachment: Attachment) -> str:
    """The file's name without folders or control characters, shortened; `file-<id>.<ext>`
    when it has none."""
    raw = (attachment.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in raw if unicodedata.category(ch)[0] != "C").strip(" .")
    if name:
        return name[:MAX_FILENAME_CHARS]
    extension = mimetypes.guess_extension(base_type(attachment.content_type)) or ""
    return f"file-{attachment.id}{extension}"


def content_disposition(attachment: Attachment) -> str:
    """`inline` for pictures and PDFs, `attachment` otherwise, with the name both as a
    plain ASCII fallback and, exactly, as RFC 5987 UTF-8."""
    kind = "inline" if base_type(attachment.content_type) in INLINE_TYPES else "attachment"
    name = safe_filename(attachment)
    fallback = "".join(ch if ch.isascii() and ch not in '"\\;' else "_" for ch in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(served: ServedFile) -> Response:
    """The file's bytes with its type, as the console fetches them."""
    attachment = served.attachment
    return Response(
        served.data,
        media_type=base_type(attachment.content_type) or "application/octet-stream",
        headers={**FILE_HEADERS, "content-disposition": content_disposition(attachment)},
    )
