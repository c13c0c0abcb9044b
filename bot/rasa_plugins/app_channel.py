"""Rasa's input channel for our app (runs inside the Rasa server, Python 3.10).

Rasa's own REST channel accepts anyone who can reach it, logs the customer's text when a
turn times out, and runs a message again if it is sent again. This one:

- accepts only the app: every request carries `Authorization: Bearer <token>` (RASA_TOKEN);
- identifies a turn by the app's message id: a message sent again while its first attempt is
  still running joins that attempt, and one already answered is answered from what Rasa
  recorded (its replies in the tracker), so no message is ever processed twice;
- keeps running a turn whose caller went away (the app times out and asks again later);
- never writes the customer's text to the log.

Request: {"sender": "...", "message": "...", "message_id": "...", "metadata": {...}}
Response: Rasa's REST format, a list of {"recipient_id", "text", "buttons", "image", "custom"}.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

# How long answered turns are remembered in memory (the tracker remembers them for good).
RECENT_SECONDS = 15 * 60
RECENT_MAX = 10_000
REPLY_KEYS = ("text", "buttons", "image", "attachment", "custom")


def replies_after(
    events: list[Any], message_id: str, sender_id: str
) -> list[dict[str, Any]] | None:
    """The replies Rasa recorded for the user message `message_id` (None if it never ran).

    A turn is saved to the tracker only once it has finished, so a message found there has
    all its replies: the bot utterances up to the next user message.
    """
    replies: list[dict[str, Any]] | None = None
    for event in events:
        if isinstance(event, UserUttered):
            if replies is not None:
                break
            if event.message_id == message_id:
                replies = []
        elif replies is not None and isinstance(event, BotUttered):
            replies.append(_as_rest_reply(event, sender_id))
    return replies


def _as_rest_reply(event: Any, sender_id: str) -> dict[str, Any]:
    data = event.data or {}
    reply: dict[str, Any] = {"recipient_id": sender_id}
    if event.text:
        reply["text"] = event.text
    for key in REPLY_KEYS[1:]:
        if data.get(key):
            reply[key] = data[key]
    return reply


class AppChannel(InputChannel):
    """The app's channel into Rasa (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "app"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        token = (credentials or {}).get("token")
        if not token:
            raise ValueError("the app channel needs a token in credentials.yml")
        return cls(str(token))

    def __init__(self, token: str) -> None:
        self._token = token
        self._running: dict[str, asyncio.Task[list[dict[str, Any]]]] = {}
        self._recent: OrderedDict[str, tuple[float, list[dict[str, Any]]]] = OrderedDict()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("app_channel", __name__)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._authorised(request):
                return response.json({"error": "unauthorised"}, status=401)
            body = request.json if isinstance(request.json, dict) else {}
            sender, text = body.get("sender"), body.get("message")
            message_id = body.get("message_id")
            if not all(isinstance(v, str) and v for v in (sender, text, message_id)):
                return response.json(
                    {"error": "sender, message and message_id are required strings"}, status=400
                )
            metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
            replies = await self._turn(request, on_new_message, sender, text, message_id, metadata)
            return response.json(replies)

        return blueprint

    def _authorised(self, request: Request) -> bool:
        presented = request.headers.get("Authorization", "")
        return hmac.compare_digest(presented.encode(), f"Bearer {self._token}".encode())

    async def _turn(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        sender: str,
        text: str,
        message_id: str,
        metadata: dict[str, Any],
    ) -> list[dict[str, Any]]:
        key = f"{sender}\x00{message_id}"
        running = self._running.get(key)
        if running is None:
            recent = self._recent.get(key)
            if recent is not None:
                return recent[1]
            recorded = await self._recorded(request, sender, message_id)
            if recorded is not None:
                return recorded
            running = asyncio.ensure_future(
                self._run(on_new_message, key, sender, text, message_id, metadata)
            )
            self._running[key] = running
        # The turn goes on if the caller gives up waiting; asking again joins it.
        return await asyncio.shield(running)

    async def _recorded(
        self, request: Request, sender: str, message_id: str
    ) -> list[dict[str, Any]] | None:
        agent = request.app.ctx.agent
        tracker = await agent.tracker_store.retrieve(sender)
        if tracker is None:
            return None
        return replies_after(list(tracker.events), message_id, sender)

    async def _run(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        key: str,
        sender: str,
        text: str,
        message_id: str,
        metadata: dict[str, Any],
    ) -> list[dict[str, Any]]:
        collector = CollectingOutputChannel()
        try:
            await on_new_message(
                UserMessage(
                    text,
                    collector,
                    sender,
                    input_channel=self.name(),
                    metadata=metadata,
                    message_id=message_id,
                )
            )
            replies = list(collector.messages)
            self._remember(key, replies)
            return replies
        except Exception:
            # The text stays out of the log: which turn failed is enough to find it.
            logger.exception("turn failed (sender %s, message %s)", sender, message_id)
            raise
        finally:
            self._running.pop(key, None)

    def _remember(self, key: str, replies: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        self._recent[key] = (now, replies)
        while self._recent and (
            len(self._recent) > RECENT_MAX
            or next(iter(self._recent.values()))[0] < now - RECENT_SECONDS
        ):
            self._recent.popitem(last=False)
