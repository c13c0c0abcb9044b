"""The customers' files in the agent console, over real HTTP: the transcript lists each
message's files (never where they are kept); an agent who may see the conversation gets a
file's bytes, inline for pictures and PDFs, never cached or sniffed, and the look audited;
anyone else gets the same 404 as for a file that does not exist; 503 when the document
store does not answer."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.core.attachments import AttachmentStore
from bot.core.db import Database
from bot.core.documents import build_document_store
from bot.core.models import Attachment, AuditEvent, Channel, Message, utcnow
from bot.core.settings import Settings
from bot.core.store import inbound
from handoff.console.files import content_disposition
from handoff.store import assignment
from handoff.store.queue import HandoffRequest, enqueue_handoff
from tests.support.agents import add_agent, console_settings, served_app, sign_in
from tests.support.handoff import unique_number
from tests.support.verified import customer_writes

PHOTO_NAME = "crushed box.png"
# A queue only agents with its skill serve (everyone serves general help).
QUEUE, SKILL = "support.complaints", "complaints"


def png(width: int = 40, height: int = 30) -> bytes:
    """A real PNG picture (one colour), small enough for a test."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\xd0\x40\x30" * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


async def customer_sent_files(
    database: Database,
    settings: Settings,
    files: Sequence[tuple[bytes, str, str | None]],
    text: str = "My parcel arrived crushed, photo attached",
) -> tuple[int, int]:
    """An MMS from a new customer with `files` (bytes, type, name) kept in the app's
    document store; the conversation's and the message's ids."""
    store = AttachmentStore(
        build_document_store(settings),
        max_bytes=settings.attachment_max_bytes,
        allowed_types=settings.attachment_types,
    )
    refs = [await store.save(data, content_type=kind, filename=name) for data, kind, name in files]
    await store.aclose()
    conversation_id = await customer_writes(
        database, Channel.SMS, f"+44770092{unique_number():04d}", text
    )
    async with database.session() as session:
        message_id = await session.scalar(
            select(Message.id).where(Message.conversation_id == conversation_id)
        )
        assert message_id is not None
        inbound.add_attachments(session=session, message_id=message_id, refs=refs)
    return conversation_id, message_id


async def handed_to(database: Database, conversation_id: int, agent_id: int) -> int:
    """The conversation handed to the complaints queue and taken by the agent; the
    handoff's id."""
    async with database.session() as session:
        handoff = await enqueue_handoff(
            session=session,
            conversation_id=conversation_id,
            request=HandoffRequest(queue=QUEUE, reason="complaint"),
            now=utcnow(),
        )
    async with database.session() as session:
        taken = await assignment.take_handoff(
            session=session, handoff_id=handoff.id, agent_id=agent_id
        )
        assert taken is not None
        return taken.id


@dataclass
class Console:
    """The app, its settings, and a way in for each agent: `sam` (complaints, has the
    conversations), `gia` (complaints, sees their queue), `olly` (billing only)."""

    url: str
    settings: Settings
    http: httpx.AsyncClient
    database: Database
    agents: dict[str, tuple[int, dict[str, str]]]

    async def get(self, agent: str | None, path: str) -> httpx.Response:
        headers = self.agents[agent][1] if agent else {}
        return await self.http.get(f"{self.url}{path}", headers=headers)

    async def handed_to_sam(self, files: list[tuple[bytes, str, str | None]]) -> int:
        """A customer's message with `files`, in a conversation Sam has; its handoff id."""
        conversation_id, _ = await customer_sent_files(self.database, self.settings, files)
        return await handed_to(self.database, conversation_id, self.agents["sam"][0])

    async def files_of(self, handoff_id: int) -> list[dict[str, object]]:
        detail = await self.get("sam", f"/agent/conversations/{handoff_id}")
        assert detail.status_code == 200, detail.text
        return [f for m in detail.json()["transcript"] for f in m["attachments"]]


@pytest.fixture
async def console(tmp_path: Path, database: Database, database_url: str) -> AsyncIterator[Console]:
    settings = console_settings(tmp_path, database_url)
    skills = {"sam": (SKILL,), "gia": (SKILL,), "olly": ("billing",)}
    async with served_app(settings) as url, httpx.AsyncClient(timeout=30) as http:
        agents = {}
        for name, skill in skills.items():
            email = f"{name}{unique_number()}@shop.example"
            agent_id = await add_agent(database, email, skills=skill)
            agents[name] = (agent_id, await sign_in(http, url, email))
        yield Console(url, settings, http, database, agents)


async def test_the_transcript_lists_each_messages_files(console: Console) -> None:
    photo = png()
    handoff_id = await console.handed_to_sam(
        [(photo, "image/png", PHOTO_NAME), (b"order 1234", "text/plain", None)]
    )
    detail = await console.get("sam", f"/agent/conversations/{handoff_id}")
    assert detail.status_code == 200, detail.text
    (message,) = [m for m in detail.json()["transcript"] if m["attachments"]]
    assert message["text"] == "My parcel arrived crushed, photo attached"
    first, second = message["attachments"]
    assert first == {
        "id": first["id"],
        "content_type": "image/png",
        "filename": PHOTO_NAME,
        "size_bytes": len(photo),
        "url": f"/agent/attachments/{first['id']}",
    }
    assert (second["content_type"], second["filename"], second["size_bytes"]) == (
        "text/plain",
        None,
        10,
    )
    # Where the bytes are kept is never shown.
    assert "storage_ref" not in detail.text and "file:" not in detail.text
    inbox = (await console.get("sam", "/agent/inbox")).json()
    (item,) = [i for i in inbox["assigned"] if i["id"] == handoff_id]
    assert [f["id"] for f in item["last_message"]["attachments"]] == [first["id"], second["id"]]


async def test_the_agent_with_the_conversation_gets_the_bytes(console: Console) -> None:
    photo = png()
    handoff_id = await console.handed_to_sam([(photo, "image/png", PHOTO_NAME)])
    (file,) = await console.files_of(handoff_id)
    served = await console.get("sam", str(file["url"]))
    assert served.status_code == 200, served.text
    assert served.content == photo
    assert served.headers["content-type"] == "image/png"
    assert served.headers["content-disposition"] == (
        "inline; filename=\"crushed box.png\"; filename*=UTF-8''crushed%20box.png"
    )
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "private, no-store"
    assert "sandbox" in served.headers["content-security-policy"]
    async with console.database.session() as session:
        (viewed,) = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "agent.viewed_attachment")
        )
    assert (viewed.actor, viewed.entity_id) == (
        f"agent:{console.agents['sam'][0]}",
        str(file["id"]),
    )


async def test_others_get_the_same_404_as_for_no_such_file(console: Console) -> None:
    handoff_id = await console.handed_to_sam([(png(), "image/png", PHOTO_NAME)])
    (file,) = await console.files_of(handoff_id)
    # The transcript's rule: Gia serves the conversation's queue and may see it, Olly not.
    for agent, expected in (("gia", 200), ("olly", 403)):
        conversation = await console.get(agent, f"/agent/conversations/{handoff_id}")
        assert conversation.status_code == expected, (agent, conversation.text)
    assert (await console.get("gia", str(file["url"]))).status_code == 200
    refused = await console.get("olly", str(file["url"]))
    unknown = await console.get("sam", f"/agent/attachments/{2**31 - 1}")
    assert refused.status_code == unknown.status_code == 404
    assert (
        refused.json()
        == unknown.json()
        == {"code": "not_found", "detail": "There is no such file."}
    )
    # No token, or a forged one: 401 in the one shape.
    for headers in ({}, {"Authorization": "Bearer forged"}):
        anonymous = await console.http.get(f"{console.url}{file['url']}", headers=headers)
        assert anonymous.status_code == 401
        assert set(anonymous.json()) == {"code", "detail"}
    assert (await console.get("sam", "/agent/attachments/0")).status_code == 422


async def test_503_when_the_file_store_does_not_answer_404_when_the_bytes_are_gone(
    console: Console,
) -> None:
    handoff_id = await console.handed_to_sam([(png(), "image/png", PHOTO_NAME)])
    (file,) = await console.files_of(handoff_id)
    async with console.database.session() as session:
        kept = await session.get_one(Attachment, file["id"])
        gone = Attachment(
            message_id=kept.message_id,
            content_type="image/png",
            size_bytes=3,
            storage_ref="file:ab/not-there.png",
        )
        # Kept in S3 while this app reads local files only: the store cannot read it.
        elsewhere = Attachment(
            message_id=kept.message_id,
            content_type="image/png",
            size_bytes=3,
            storage_ref="s3://evidence/ab/photo.png",
        )
        session.add_all([gone, elsewhere])
        await session.flush()
        gone_id, elsewhere_id = gone.id, elsewhere.id
    down = await console.get("sam", f"/agent/attachments/{elsewhere_id}")
    assert down.status_code == 503
    assert down.json()["code"] == "file_store_unavailable"
    assert "s3" not in down.text
    missing = await console.get("sam", f"/agent/attachments/{gone_id}")
    assert missing.status_code == 404
    assert missing.json() == {"code": "not_found", "detail": "That file is no longer kept."}


def _disposition(content_type: str, filename: str | None, attachment_id: int = 7) -> str:
    return content_disposition(
        Attachment(
            id=attachment_id,
            message_id=1,
            content_type=content_type,
            size_bytes=1,
            filename=filename,
            storage_ref="file:x",
        )
    )


def test_pictures_and_pdfs_are_inline_other_files_attachments_under_a_safe_name() -> None:
    assert _disposition("application/pdf", "receipt.pdf").startswith("inline; ")
    assert _disposition("image/jpeg; name=x.jpg", None) == (
        "inline; filename=\"file-7.jpg\"; filename*=UTF-8''file-7.jpg"
    )
    assert _disposition("text/plain", "notes.txt").startswith("attachment; ")
    assert _disposition("text/html", "page.html").startswith("attachment; ")
    assert _disposition("image/svg+xml", "logo.svg").startswith("attachment; ")
    # Folders, quotes, header breaks and control characters do not survive.
    hostile = _disposition("text/plain", '..\\..\\etc/pa"ss;\r\nX-Evil: 1\x00.txt')
    assert hostile == (
        "attachment; filename=\"pa_ss_X-Evil: 1.txt\"; filename*=UTF-8''pa%22ss%3BX-Evil%3A%201.txt"
    )
    accented = _disposition("image/png", "reçu été.png")
    assert accented == (
        "inline; filename=\"re_u _t_.png\"; filename*=UTF-8''re%C3%A7u%20%C3%A9t%C3%A9.png"
    )
