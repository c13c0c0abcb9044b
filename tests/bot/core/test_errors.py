"""One error shape for every refused request: {"code", "detail"}."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from bot.core.errors import code_for, install_error_handlers
from bot.core.messages import InvalidMessage


class Body(BaseModel):
    text: str


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/invalid")
    async def invalid() -> None:
        raise InvalidMessage("empty_message", "The message is empty.", 422)

    @app.get("/forbidden")
    async def forbidden() -> None:
        raise HTTPException(403, "Not yours.", headers={"X-Why": "owner"})

    @app.post("/body")
    async def body(payload: Body) -> str:
        return payload.text

    return app


async def test_every_refusal_has_a_code_and_a_detail() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        await _check_refusals(client)


async def _check_refusals(client: httpx.AsyncClient) -> None:
    invalid = await client.post("/invalid")
    assert (invalid.status_code, invalid.json()) == (
        422,
        {"code": "empty_message", "detail": "The message is empty."},
    )
    forbidden = await client.get("/forbidden")
    assert forbidden.status_code == 403
    assert forbidden.json() == {"code": "forbidden", "detail": "Not yours."}
    assert forbidden.headers["x-why"] == "owner"
    missing = await client.post("/body", json={})
    assert missing.status_code == 422
    assert missing.json() == {"code": "invalid_request", "detail": "body.text: Field required"}
    unknown = await client.get("/nowhere")
    assert unknown.json() == {"code": "not_found", "detail": "Not Found"}


def test_codes_of_plain_http_errors() -> None:
    assert code_for(409) == "conflict"
    assert code_for(415) == "unsupported_media_type"
    assert code_for(599) == "error"
