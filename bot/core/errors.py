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
from bot.core.rate_limits import RateLimited


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


class RequestTooLarge(StarletteHTTPException):
    """A request body over its limit (declared or sent): 413 `request_too_large`."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is over {limit} bytes.")
        self.limit = limit


# How much of FastAPI's validation errors a 422 says: where and what, never the input.
MAX_SHOWN_ERRORS = 10
MAX_LOCATION_PART = 40
MAX_DETAIL_CHARS = 1000


def describe_validation(errors: list[Any]) -> str:
    """FastAPI's validation errors as one sentence: "body.text: Field required; ...".

    Says where and what only: the submitted values (pydantic's `input` and `ctx`) are left
    out, and so are parts of the request that show up elsewhere (a long key the client
    chose, a value a custom message quotes), so a refused password or a huge body is never
    sent back.
    """
    parts = [_describe_one(error) for error in errors[:MAX_SHOWN_ERRORS]]
    if len(errors) > MAX_SHOWN_ERRORS:
        parts.append(f"and {len(errors) - MAX_SHOWN_ERRORS} more")
    detail = "; ".join(part for part in parts if part) or "The request is not valid."
    return detail if len(detail) <= MAX_DETAIL_CHARS else detail[: MAX_DETAIL_CHARS - 1] + "…"


def _describe_one(error: Any) -> str:
    if not isinstance(error, Mapping):
        return "invalid"
    where = ".".join(_location_part(part) for part in error.get("loc", ()))
    what = str(error.get("msg") or "invalid")
    submitted = error.get("input")
    if isinstance(submitted, str | bytes) and len(submitted) >= 4:
        shown = submitted if isinstance(submitted, str) else submitted.decode("utf-8", "replace")
        what = what.replace(shown, "…")
    return f"{where}: {what}" if where else what


def _location_part(part: Any) -> str:
    # Keys come from the client (an extra field's name): shortened, never echoed whole.
    text = str(part)
    return text if len(text) <= MAX_LOCATION_PART else text[: MAX_LOCATION_PART - 1] + "…"


def install_error_handlers(app: FastAPI) -> None:
    """Answer every refused request with the one error shape, never a traceback."""

    @app.exception_handler(InvalidMessage)
    async def invalid_message(request: Request, error: InvalidMessage) -> JSONResponse:
        return error_response(error.status_code, error.code, error.reason)

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, error: RateLimited) -> JSONResponse:
        headers = {"Retry-After": str(error.retry_after)}
        return error_response(429, "rate_limited", str(error), headers)

    @app.exception_handler(RequestTooLarge)
    async def too_large(request: Request, error: RequestTooLarge) -> JSONResponse:
        return error_response(413, "request_too_large", str(error.detail))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(
            error.status_code, code_for(error.status_code), str(error.detail), error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", describe_validation(list(error.errors())))
