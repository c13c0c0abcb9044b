"""The HTTP side of the local Twilio API: requests recorded as received, replies in Twilio's
wire format (JSON resources and error objects), and a threaded server on loopback."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from bot.testing.twilio_webhooks import new_sid


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, parsed."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    form: list[tuple[str, str]]
    auth_user: str | None
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        """The first header called `name` (case-insensitive)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def form_value(self, name: str) -> str | None:
        """The first form field called `name`."""
        return next((v for k, v in self.form if k == name), None)


@dataclass(frozen=True)
class ApiReply:
    """What the server writes back: a status, headers and a body (sent chunked, without a
    Content-Length, when `chunked`)."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    chunked: bool = False


class Responder(Protocol):
    """What answers the requests the server receives."""

    def respond(self, request: RecordedRequest, password: str | None) -> ApiReply:
        """The reply to one request (made with HTTP basic auth `password`, if any)."""
        ...


def json_reply(status: int, payload: dict[str, Any]) -> ApiReply:
    """A JSON resource, with the request id header Twilio sends."""
    headers = (
        ("Content-Type", "application/json; charset=utf-8"),
        ("Twilio-Request-Id", new_sid("RQ")),
    )
    return ApiReply(status, json.dumps(payload).encode(), headers)


def error_reply(status: int, code: int, message: str) -> ApiReply:
    """Twilio's error object: its error `code`, a message and where to read more."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return json_reply(
        status, {"code": code, "message": message, "more_info": more_info, "status": status}
    )


def not_found(path: str) -> ApiReply:
    """Twilio's 404 for a resource that does not exist."""
    return error_reply(404, 20404, f"The requested resource {path} was not found")


def basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    """User and password of an HTTP basic Authorization header; (None, None) if there are
    none."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return user, password


class ApiServer(ThreadingHTTPServer):
    """A threaded HTTP server handing every request to `fake` to answer."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], fake: Responder) -> None:
        super().__init__(address, _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def handle(self) -> None:
        """Serve one connection."""
        # A client that timed out hangs up before a delayed answer is written.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the recorded requests are the log."""

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        user, password = basic_credentials(self.headers.get("Authorization"))
        url = urlsplit(self.path)
        is_form = (self.headers.get("Content-Type") or "").startswith(
            "application/x-www-form-urlencoded"
        )
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qsl(url.query, keep_blank_values=True),
            headers=list(self.headers.items()),
            form=parse_qsl(body.decode(), keep_blank_values=True) if is_form else [],
            auth_user=user,
            body=body,
        )
        self._write(self.server.fake.respond(request, password))

    def _write(self, reply: ApiReply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(reply.body), 4096):
                chunk = reply.body[start : start + 4096]
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
