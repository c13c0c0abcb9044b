"""Web chat's file uploads over real HTTP: one upload is one message with its files, stored
once for a repeated id; files are checked (type, size) before anything is kept; only the
visitor's session sends or reads them; the upload path alone takes bodies over the request
limit; and the message reaches the assistant, as "[photo]" when it has no caption."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.webchat.files import upload_body_limit
from bot.core.db import Database
from bot.core.models import Attachment, Direction
from bot.core.rasa_client import CHANNEL_WEBHOOK
from bot.core.settings import Settings
from bot.testing.ports import free_port
from tests.support.app_tokens import stored_rows
from tests.support.chat import ChatSession, stored_messages
from tests.support.webchat_app import WebchatApp, WebchatAppFactory, serving

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"p" * 3000
PDF = b"%PDF-1.7\n" + b"%" * 2000
FileSpec = tuple[str, bytes, str]


# A stand-in for Rasa and the action server, to see what reaches the assistant (the real
# one is in the end-to-end tests).
REPLY = "Thanks, I have your message."


@dataclass
class FakeRasa:
    """What the stand-in got: each request body to our channel's webhook, in order."""

    port: int
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Its base URL (for RASA_URL and ACTION_SERVER_URL alike)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def texts(self) -> list[str]:
        """The texts it was sent."""
        return [str(body.get("message")) for body in self.received]


def _app(fake: FakeRasa) -> Starlette:
    async def webhook(request: Request) -> JSONResponse:
        body = await request.json()
        fake.received.append(body)
        return JSONResponse([{"recipient_id": body.get("sender"), "text": REPLY}])

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model_file": "fake.tar.gz"})

    return Starlette(
        routes=[
            Route(CHANNEL_WEBHOOK, webhook, methods=["POST"]),
            Route("/health", health),
            Route("/status", health),
        ]
    )


@asynccontextmanager
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    """The stand-in, serving for the length of the block."""
    fake = FakeRasa(free_port())
    config = uvicorn.Config(_app(fake), host="127.0.0.1", port=fake.port, log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        yield fake
    finally:
        server.should_exit = True
        await task


async def _upload(
    app: WebchatApp,
    session: ChatSession | None,
    files: list[FileSpec],
    **fields: str,
) -> httpx.Response:
    headers = session.headers if session else {}
    async with app.http() as http:
        return await http.post(
            "/webchat/uploads",
            files=[("file", spec) for spec in files],
            data=fields,
            headers=headers,
        )


async def _kept_files(app: WebchatApp) -> list[Attachment]:
    async with app.database.session() as session:
        return list(await session.scalars(select(Attachment).order_by(Attachment.id)))


def _documents(app: WebchatApp) -> list[Path]:
    root = app.settings.var_dir / "attachments"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_an_upload_is_one_message_with_its_file_stored_once_for_a_repeated_id(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app() as app:
        visitor = await app.session()
        photo = ("lamp.png", PNG, "image/png")
        first = await _upload(app, visitor, [photo], text="the lamp arrived broken", id="up-1")
        again = await _upload(app, visitor, [photo], text="the lamp arrived broken", id="up-1")
        assert first.status_code == again.status_code == 200, (first.text, again.text)
        assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
        sent = first.json()["message"]
        assert again.json()["message"] == sent
        (file,) = sent["attachments"]
        assert {k: file[k] for k in ("filename", "content_type", "size_bytes")} == {
            "filename": "lamp.png",
            "content_type": "image/png",
            "size_bytes": len(PNG),
        }
        # The visitor reads their file back.
        async with app.http() as http:
            served = await http.get(file["url"], headers=visitor.headers)
        assert served.status_code == 200
        assert served.content == PNG
        assert served.headers["content-type"] == "image/png"
        assert served.headers["cache-control"] == "private, no-store"
        assert "sandbox" in served.headers["content-security-policy"]
    inbound = [
        m
        for m in await stored_messages(app.database, visitor.visitor_id)
        if m.direction is Direction.INBOUND
    ]
    assert [m.text for m in inbound] == ["the lamp arrived broken"]
    kept = await _kept_files(app)
    assert [(a.message_id, a.filename) for a in kept] == [(inbound[0].id, "lamp.png")]
    assert len(_documents(app)) == 1


async def test_files_of_a_wrong_type_or_too_big_are_refused_and_nothing_is_kept(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(attachment_max_bytes=2048) as app:
        visitor = await app.session()
        refused = {
            "page.html": await _upload(app, visitor, [("page.html", b"<html>hi", "text/html")]),
            "fake.png": await _upload(app, visitor, [("fake.png", b"GIF8 no", "image/png")]),
            "big.png": await _upload(app, visitor, [("big.png", PNG, "image/png")]),
            # One refused file refuses the whole upload.
            "mixed": await _upload(
                app,
                visitor,
                [("ok.pdf", PDF[:1000], "application/pdf"), ("x.exe", b"MZ\x90\x00", "")],
            ),
            "empty.png": await _upload(app, visitor, [("empty.png", b"", "image/png")]),
        }
        answers = {name: (r.status_code, r.json()["code"]) for name, r in refused.items()}
        assert answers == {
            "page.html": (415, "file_type_not_accepted"),
            "fake.png": (415, "file_type_not_accepted"),
            "big.png": (413, "file_too_large"),
            "mixed": (415, "file_type_not_accepted"),
            "empty.png": (400, "empty_file"),
        }
        for response in refused.values():
            assert set(response.json()) == {"code", "detail"}
        assert refused["big.png"].json()["detail"].startswith("big.png: files can be at most")
        assert await stored_rows(app) == (0, 0)
        assert await _kept_files(app) == []
        assert _documents(app) == []


async def test_malformed_uploads_get_clear_4xx(webchat_app: WebchatAppFactory) -> None:
    async with webchat_app() as app, app.http() as http:
        visitor = await app.session()
        photo = ("p.png", PNG, "image/png")
        too_many = await _upload(app, visitor, [photo] * 5)
        # A form with its file under another name (a form without files is not multipart).
        no_file = await http.post(
            "/webchat/uploads", files={"photo": photo}, headers=visitor.headers
        )
        bad_id = await _upload(app, visitor, [photo], id="not an id!")
        as_json = await http.post("/webchat/uploads", json={"text": "hi"}, headers=visitor.headers)
        codes = [(r.status_code, r.json()["code"]) for r in (too_many, no_file, bad_id, as_json)]
        assert codes == [
            (400, "malformed_upload"),
            (400, "no_file"),
            (400, "malformed"),
            (415, "unsupported_media_type"),
        ]
        assert await stored_rows(app) == (0, 0)


async def test_without_a_valid_session_an_upload_is_401(webchat_app: WebchatAppFactory) -> None:
    async with webchat_app() as app:
        photo = ("p.png", PNG, "image/png")
        missing = await _upload(app, None, [photo])
        forged = await _upload(app, ChatSession("eyJzdWIiOiJ4In0.forged", ""), [photo])
        for response in (missing, forged):
            assert response.status_code == 401
            assert response.json()["code"] == "unauthorized"
        assert await stored_rows(app) == (0, 0)
        assert _documents(app) == []


async def test_another_visitor_can_neither_read_the_file_nor_see_it(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app() as app, app.http() as http:
        owner, other = await app.session(), await app.session()
        sent = await _upload(app, owner, [("receipt.pdf", PDF, "application/pdf")])
        (file,) = sent.json()["message"]["attachments"]
        as_other = await http.get(file["url"], headers=other.headers)
        nobody = await http.get(file["url"])
        missing = await http.get("/webchat/uploads/999999", headers=owner.headers)
        assert (as_other.status_code, as_other.json()["code"]) == (404, "not_found")
        assert as_other.json() == missing.json()
        assert nobody.status_code == 401
        as_owner = await http.get(file["url"], headers=owner.headers)
        assert as_owner.content == PDF
        # Anything but a picture is downloaded, never opened from the app's origin.
        assert as_owner.headers["content-disposition"] == (
            "attachment; filename*=UTF-8''receipt.pdf"
        )
        theirs = await http.get("/webchat/history", headers=other.headers)
        mine = await http.get("/webchat/history", headers=owner.headers)
    assert theirs.json()["messages"] == []
    (shown,) = [m for m in mine.json()["messages"] if m["direction"] == "inbound"]
    assert shown["text"] == ""
    assert [a["url"] for a in shown["attachments"]] == [file["url"]]


async def test_only_the_upload_path_takes_a_body_over_the_request_limit(
    webchat_app: WebchatAppFactory,
) -> None:
    photo = b"\xff\xd8\xff\xe0" + b"j" * 200_000  # over the 64 KiB request limit
    async with webchat_app() as app, app.http() as http:
        visitor = await app.session()
        assert app.settings.max_request_bytes < len(photo) < app.settings.attachment_max_bytes
        taken = await _upload(app, visitor, [("big.jpg", photo, "image/jpeg")])
        assert taken.status_code == 200, taken.text
        # The same bytes to any other route are refused before the route reads them.
        for path in ("/webchat/messages", "/webchat/uploads/1", "/webchat/uploadsx"):
            refused = await http.post(path, content=photo, headers=visitor.headers)
            assert (refused.status_code, refused.json()["code"]) == (413, "request_too_large")


async def test_an_upload_over_its_own_limit_is_cut_off_unread(
    webchat_app: WebchatAppFactory,
) -> None:
    async def endless_form() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
        for _ in range(1024):
            yield b"\xff" * 1024

    async with webchat_app(attachment_max_bytes=4096) as app, app.http() as http:
        limit = upload_body_limit(app.settings)
        visitor = await app.session()
        headers = {**visitor.headers, "content-type": "multipart/form-data; boundary=b"}
        streamed = await http.post("/webchat/uploads", content=endless_form(), headers=headers)
        declared = await http.post("/webchat/uploads", content=b"-" * (limit + 1), headers=headers)
        for response in (streamed, declared):
            assert response.status_code == 413
            assert response.json() == {
                "code": "request_too_large",
                "detail": f"The request body is over {limit} bytes.",
            }
        assert await stored_rows(app) == (0, 0)


async def test_an_upload_reaches_the_assistant_as_photo_when_it_has_no_caption(
    tmp_path: Path, database_url: str, database: Database
) -> None:
    async with fake_rasa() as rasa:
        settings = Settings(
            var_dir=tmp_path / "var",
            database_url=database_url,
            app_port=free_port(),
            rasa_url=rasa.url,
            action_server_url=rasa.url,
            nlp_enabled=False,  # as the other in-process apps: no models loaded in the tests
        )
        async with serving(settings):
            app = WebchatApp(settings, database)
            visitor = await app.session()
            bare = await _upload(app, visitor, [("crack.jpg", b"\xff\xd8\xff" + b"c" * 500, "")])
            captioned = await _upload(
                app, visitor, [("d.pdf", PDF, "application/pdf")], text="  the invoice  "
            )
            document = await _upload(app, visitor, [("d.pdf", PDF, "application/pdf")])
    assert bare.status_code == 200, bare.text
    assert [m["text"] for m in bare.json()["messages"]] == [REPLY]
    assert bare.json()["message"]["text"] == ""
    assert bare.json()["message"]["attachments"][0]["content_type"] == "image/jpeg"
    assert rasa.texts == ["[photo]", "the invoice", "[file]"]
    assert captioned.json()["status"] == document.json()["status"] == "answered"
    stored = [
        m
        for m in await stored_messages(database, visitor.visitor_id)
        if m.direction is Direction.INBOUND
    ]
    # Rasa read "[photo]"; the transcript (and the agent's view) shows what was sent.
    assert stored[0].text == "[photo]"
    assert stored[0].payload["metadata"]["display_text"] == ""


async def test_uploads_count_against_the_visitors_rate(webchat_app: WebchatAppFactory) -> None:
    async with webchat_app(webchat_visitor_rate="2/minute") as app:
        visitor = await app.session()
        photo = ("p.png", PNG, "image/png")
        for n in range(2):
            assert (await _upload(app, visitor, [photo], id=f"r{n}")).status_code == 200
        over = await _upload(app, visitor, [photo], id="r2")
        assert over.status_code == 429
        assert over.json()["code"] == "rate_limited"
        assert int(over.headers["retry-after"]) > 0
        assert len(await _kept_files(app)) == 2


async def test_the_page_has_an_attach_button_and_may_show_its_own_thumbnails(
    webchat_app: WebchatAppFactory,
) -> None:
    async with webchat_app(attachment_max_bytes=3_000_000) as app, app.http() as http:
        page = await http.get("/webchat")
    assert '<input id="file" type="file" accept="image/*,application/pdf" multiple' in page.text
    assert 'Number("3000000")' in page.text
    assert "__MAX_FILE" not in page.text and "__MAX_FILES__" not in page.text
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' https: data: blob:" in policy
    assert "script-src 'nonce-" in policy
