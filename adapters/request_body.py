"""Reading a request body with a size limit, before anything parses it."""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.requests import Request

from bot.core.errors import RequestTooLarge

_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: "²".isdigit() is True, int("²") fails


def declared_length(headers: Headers) -> int | None:
    """The Content-Length a request declares; None when it declares none (chunked) or one
    that is not a plain number (the bytes sent are counted then). More than 18 digits count
    as too large for anything."""
    declared = headers.get("content-length")
    if declared is None:
        return None
    declared = declared.strip()
    if _DIGITS.fullmatch(declared):
        return int(declared)
    return 10**18 if declared.isascii() and declared.isdigit() else None


async def read_body(request: Request, *, limit: int) -> bytes:
    """The body, refused with 413 `request_too_large` as soon as it is over `limit` bytes
    (declared or sent). The app-wide limit (`bot.http_guards.BodyLimit`) comes first; this
    is a route's own, tighter one."""
    declared = declared_length(request.headers)
    if declared is not None and declared > limit:
        raise RequestTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise RequestTooLarge(limit)
    return bytes(body)
