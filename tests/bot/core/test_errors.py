"""One error shape for every refused request: {"code", "detail"}."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, field_validator

from bot.core.errors import RequestTooLarge, code_for, install_error_handlers
from bot.core.messages import InvalidMessage


class Body(BaseModel):
    text: str


SECRET = "correct-horse-battery-staple"


class Strict(BaseModel):
    """A body whose refusals could echo what was sent: extra keys are errors, a custom
    message quotes the value, a list can hold many wrong items."""

    model_config = ConfigDict(extra="forbid")
    password: str
    code: str = "x"
    counts: list[int] = []

    @field_validator("code")
    @classmethod
    def _quoting(cls, value: str) -> str:
        raise ValueError(f"{value} is not a code we issued")


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

    @app.post("/strict")
    async def strict(payload: Strict) -> str:
        return payload.password

    @app.post("/large")
    async def large() -> None:
        raise RequestTooLarge(1024)

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
    large = await client.post("/large")
    assert (large.status_code, large.json()) == (
        413,
        {"code": "request_too_large", "detail": "The request body is over 1024 bytes."},
    )


async def test_validation_errors_say_where_and_what_never_the_input() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        wrong_type = await client.post("/strict", json={"password": [SECRET]})
        assert wrong_type.status_code == 422
        assert wrong_type.json() == {
            "code": "invalid_request",
            "detail": "body.password: Input should be a valid string",
        }
        huge_key = "k" * 100_000 + SECRET
        extra = await client.post("/strict", json={"password": "p", huge_key: SECRET * 1000})
        assert extra.status_code == 422
        assert SECRET not in extra.text
        assert len(extra.text) < 300
        assert extra.json()["detail"].startswith("body.kkkk")
        quoted = await client.post("/strict", json={"password": "p", "code": SECRET})
        assert SECRET not in quoted.text
        assert "is not a code we issued" in quoted.json()["detail"]
        many = await client.post("/strict", json={"password": "p", "counts": ["x"] * 5000})
        assert many.status_code == 422
        assert len(many.json()["detail"]) <= 1000
        assert many.json()["detail"].endswith("and 4990 more")


def test_codes_of_plain_http_errors() -> None:
    assert code_for(409) == "conflict"
    assert code_for(415) == "unsupported_media_type"
    assert code_for(599) == "error"
