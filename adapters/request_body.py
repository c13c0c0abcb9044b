"""Reading a request body with a size limit, before anything parses it."""

from __future__ import annotations

from starlette.requests import Request

from bot.core.messages import InvalidMessage


async def read_body(request: Request, *, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is over `limit` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> InvalidMessage:
    return InvalidMessage("message_too_long", f"The body is over {limit} bytes.", 413)
