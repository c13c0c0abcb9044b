"""The action server: rasa-sdk's app serving `actions/`, started by us so that it listens
where ACTION_SERVER_URL says (loopback by default; rasa-sdk's own command always listens on
every interface), answers only callers holding ACTION_SERVER_SECRET (our Rasa sends it in
the `X-Action-Secret` header, see `bot.processes.write_rasa_config`), and runs actions only
for conversations the app started.

    python -m bot.action_server
"""

from __future__ import annotations

import hmac
import json
import logging
import zlib
from typing import Any
from urllib.parse import urlsplit

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.services import database, set_code_sender
from adapters.code_sender import ChannelCodeSender
from bot.core.logs import configure_logging
from bot.core.settings import Settings, get_settings
from bot.core.store.conversations import conversation_by_public_id

ACTION_SECRET_HEADER = "X-Action-Secret"
OPEN_PATHS = frozenset({"/health"})
log = logging.getLogger("bot.action_server")


class SenderCheck:
    """Whether a Rasa sender id is a conversation the app started (ids found are remembered:
    conversations are never deleted)."""

    def __init__(self) -> None:
        self._known: set[str] = set()

    async def issued(self, sender_id: object) -> bool:
        """True if the app stored a conversation with this public id."""
        if not isinstance(sender_id, str) or not 0 < len(sender_id) <= 128:
            return False
        if sender_id in self._known:
            return True
        async with database().session() as session:
            found = await conversation_by_public_id(session=session, public_id=sender_id)
        if found is not None:
            self._known.add(sender_id)
        return found is not None


def build_app(settings: Settings) -> Sanic:  # type: ignore[type-arg]
    """rasa-sdk's app for `actions/`, with the secret and sender checks in front."""
    executor = ActionExecutor()
    executor.register_package("actions")
    set_code_sender(ChannelCodeSender(settings))
    app: Sanic = create_app(executor, cors_origins=None)  # type: ignore[type-arg]
    secret = f"{settings.action_server_secret.get_secret_value()}".encode()
    senders = SenderCheck()

    async def guard(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        presented = request.headers.get(ACTION_SECRET_HEADER, "").encode()
        if not hmac.compare_digest(presented, secret):
            return response.json({"error": "unauthorised"}, status=401)
        if request.path == "/webhook" and not await senders.issued(_sender_of(request)):
            return response.json({"error": "unknown conversation"}, status=403)
        return None

    async def failed(request: Request, error: Exception) -> HTTPResponse:
        # rasa-sdk's own handler echoes the whole request (the customer's tracker) back.
        log.error("action failed: %s", type(error).__name__, exc_info=error)
        return response.json({"error": "the action failed"}, status=500)

    app.on_request(guard)
    # Replaces rasa-sdk's handler for every exception (Sanic refuses a second one).
    app.error_handler.cached_handlers[(Exception, None)] = failed
    return app


def _sender_of(request: Request) -> object:
    raw = request.body or b"null"
    try:
        if request.headers.get("Content-Encoding") == "deflate":
            raw = zlib.decompress(raw)
        body: Any = json.loads(raw)
    except (ValueError, zlib.error):
        return None
    tracker = body.get("tracker") if isinstance(body, dict) else None
    return tracker.get("sender_id") if isinstance(tracker, dict) else None


def main() -> None:
    """Serve the actions on ACTION_SERVER_URL's host and port until stopped."""
    settings = get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    address = urlsplit(settings.action_server_url)
    app = build_app(settings)
    app.run(
        host=address.hostname or "127.0.0.1",
        port=address.port or 5055,
        single_process=True,
        access_log=False,
        motd=False,
    )


if __name__ == "__main__":
    main()
