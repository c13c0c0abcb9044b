"""What every HTTP request and response passes, whatever the route: a size limit on request
bodies, cross-origin requests from browsers only from the allowed origins, and security
headers (on the app's own pages a Content-Security-Policy with a nonce per response).

Plain ASGI middlewares, so a body over the limit is refused before any route reads it and
a streamed one is cut off at the limit instead of being read into memory. (FastAPI's own
`max_body_size` is not used: it answers outside the app's error handling, in plain text.)
One limit for every route but the few named with a larger one of their own (web chat's file
uploads); routes that need less read their body with `adapters.request_body.read_body`."""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.request_body import declared_length
from bot.core.errors import RequestTooLarge, error_response
from bot.core.settings import Settings

# Methods a browser sends across origins without asking first (a form, a text/plain fetch)
# or after a preflight; reads (GET) are left to CORS, which keeps their answers from the
# other site.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
# A Host header that can go into a header as it is (anything else is left out of the CSP).
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_OPENING_TAG = re.compile(rb"<(script|style)(?=[\s>])", re.IGNORECASE)

BASE_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
# Answers that are not pages (JSON, TwiML) load nothing and are shown in no frame.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# Other HTML (FastAPI's /docs loads its scripts from a CDN): at least never in a frame.
OTHER_HTML_POLICY = "frame-ancestors 'self'; base-uri 'none'; object-src 'none'"


def install_http_guards(
    app: FastAPI,
    settings: Settings,
    pages: Mapping[str, Collection[str]],
    body_limits: Mapping[str, int] | None = None,
) -> None:
    """Add the guards to `app`. `pages` maps the path of each of the app's HTML pages to
    the other origins allowed to show it in a frame (besides the app itself); `body_limits`
    maps the exact path of a route that takes more than MAX_REQUEST_BYTES to its own limit."""
    # Each middleware added wraps those added before it: the headers go on every answer,
    # the refusals of the guards inside included.
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes, per_path=body_limits or {})
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Retry-After"],
        max_age=600,
    )
    # Behind a proxy that rewrites Host, the public URL's origin is still the app's own.
    public = urlsplit(settings.public_url)
    own = [f"{public.scheme}://{public.netloc}"] if public.scheme and public.netloc else []
    app.add_middleware(OriginGuard, allowed=[*settings.allowed_origins, *own])
    app.add_middleware(SecurityHeaders, pages=pages)


class BodyLimit:
    """413 `request_too_large` for a body over `max_bytes` (or, on a path of `per_path`,
    over that path's own limit): at once when Content-Length says so, else as soon as the
    bytes received pass it (chunked bodies)."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, per_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Exact paths only: a prefix would open every route below it to the larger limit.
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        declared = declared_length(Headers(scope=scope))
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised where the route reads the body; the error handler answers it.
                    raise RequestTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except RequestTooLarge:
            # Read outside a route's error handling (or not handled): answered here.
            if started:
                raise
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = str(RequestTooLarge(limit).detail)
        # The connection stays open: the server drops the rest of the body without keeping
        # it, and the client reliably gets this answer (closing now would reset the
        # connection under a client still sending, and lose the answer).
        await error_response(413, "request_too_large", detail)(scope, receive, send)


class OriginGuard:
    """403 `origin_not_allowed` for a POST (or PUT, PATCH, DELETE), its preflight, or a
    WebSocket from a browser on another web site than the app's own or `allowed`.

    CORS alone keeps another site from reading the answers, not from sending: a form or
    `text/plain` post goes out without a preflight. Requests without an Origin header
    (Twilio's webhooks, programs) are not browsers' and pass.
    """

    def __init__(self, app: ASGIApp, *, allowed: Collection[str]) -> None:
        self.app = app
        self.allowed = frozenset(_normal_origin(origin) for origin in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = Headers(scope=scope)
        checked = scope["type"] == "websocket" or (
            scope["method"] in UNSAFE_METHODS or _is_preflight(scope["method"], headers)
        )
        origin = headers.get("origin")
        if not checked or origin is None or self.is_allowed(origin, headers.get("host", "")):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # Closing before accepting: the server answers the handshake with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
            return
        response = error_response(
            403,
            "origin_not_allowed",
            "Requests from other web sites are not accepted; ALLOWED_ORIGINS lists those that are.",
        )
        await response(scope, receive, send)

    def is_allowed(self, origin: str, host: str) -> bool:
        """Whether `origin` is the app's own (the host the request was sent to) or allowed."""
        normal = _normal_origin(origin)
        if normal in self.allowed:
            return True
        parts = urlsplit(normal)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (a sandboxed frame, a file) and anything odd
        return _without_default_port(parts.netloc, parts.scheme) == _without_default_port(
            host.lower(), parts.scheme
        )


class SecurityHeaders:
    """nosniff and no-referrer on every answer; a Content-Security-Policy on each: on the
    app's `pages` a strict one whose nonce is put on the page's own <script> and <style>
    tags (the only scripts and styles it allows), with the origins allowed to frame it."""

    def __init__(self, app: ASGIApp, *, pages: Mapping[str, Collection[str]]) -> None:
        self.app = app
        self.pages = {path: tuple(origins) for path, origins in pages.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        framers = self.pages.get(scope["path"])
        if framers is None:
            await self.app(scope, receive, _with_headers(send))
            return
        host = Headers(scope=scope).get("host", "")
        await self.app(scope, receive, _PageWithNonce(send, framers, host).send)


def _with_headers(send: Send) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            _add_base(headers)
            if "content-security-policy" not in headers:
                html = headers.get("content-type", "").startswith("text/html")
                headers["content-security-policy"] = OTHER_HTML_POLICY if html else API_POLICY
        await send(message)

    return send_with_headers


class _PageWithNonce:
    """One page answer, held until complete so its tags get the nonce its policy names."""

    def __init__(self, send: Send, framers: tuple[str, ...], host: str) -> None:
        self._send = send
        self._framers = framers
        self._host = host
        self._start: Message | None = None
        self._chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        if message["type"] != "http.response.body" or self._start is None:
            await self._send(message)
            return
        self._chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start, body = self._start, b"".join(self._chunks)
        headers = MutableHeaders(scope=start)
        _add_base(headers)
        nonce = secrets.token_urlsafe(18)
        if headers.get("content-type", "").startswith("text/html") and body:
            body = _OPENING_TAG.sub(rb'<\1 nonce="' + nonce.encode() + rb'"', body)
            headers["content-length"] = str(len(body))
        headers["content-security-policy"] = page_policy(nonce, self._framers, self._host)
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body})


def page_policy(nonce: str, framers: Collection[str], host: str) -> str:
    """The Content-Security-Policy of one of the app's pages: its own nonced script and
    style, pictures from anywhere secure (and the page's own `blob:` URLs: the chat's
    thumbnails of the files a visitor sends), connections (the chat's WebSocket) to the app
    only, framed only by the app and `framers`."""
    sockets = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'nonce-{nonce}'",
            f"style-src 'nonce-{nonce}'",
            "img-src 'self' https: data: blob:",
            f"connect-src 'self'{sockets}",
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            " ".join(("frame-ancestors 'self'", *framers)),
        )
    )


def _add_base(headers: MutableHeaders) -> None:
    for name, value in BASE_HEADERS.items():
        headers.setdefault(name, value)


def _is_preflight(method: str, headers: Headers) -> bool:
    return method == "OPTIONS" and "access-control-request-method" in headers


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def _without_default_port(netloc: str, scheme: str) -> str:
    default = f":{DEFAULT_PORTS.get(scheme, '')}"
    return netloc[: -len(default)] if netloc.endswith(default) else netloc
