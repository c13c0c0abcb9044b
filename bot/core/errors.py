"""One error shape for every 4xx the app answers: `{"code": "...", "detail": "..."}`.

`code` is stable for programs, `detail` is for people. Requests that fail FastAPI's own
checks (an `HTTPException`, a body that does not validate) get the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.core.messages import InvalidMessage


def error_response(
    status_code: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The error answer: `{"code", "detail"}` with `status_code`."""
    return JSONResponse({"code": code, "detail": detail}, status_code=status_code, headers=headers)


def code_for(status_code: int) -> str:
    """The code of a plain HTTP error: 403 -> "forbidden", 409 -> "conflict"."""
    try:
        return HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def describe_validation(errors: list[Any]) -> str:
    """FastAPI's validation errors as one sentence: "body.text: Field required; ..."."""
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg"))
    return "; ".join(str(part) for part in parts) or "The request is not valid."


def install_error_handlers(app: FastAPI) -> None:
    """Answer every refused request with the one error shape, never a traceback."""

    @app.exception_handler(InvalidMessage)
    async def invalid_message(request: Request, error: InvalidMessage) -> JSONResponse:
        return error_response(error.status_code, error.code, error.reason)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(
            error.status_code, code_for(error.status_code), str(error.detail), error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", describe_validation(list(error.errors())))
