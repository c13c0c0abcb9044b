"""Web chat frames: a frame from the page (or a REST body) read into the core's message, and
replies and transcripts rendered as the page shows them (buttons as buttons, pictures as
pictures: nothing to degrade)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from adapters.webchat.sessions import SessionKind, WebchatSession
from bot.core.messages import BotReply, InboundMessage, InvalidMessage, StoredReply, clean_text
from bot.core.models import Channel, Direction, Message, VerificationLevel

CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

# The metadata keys that say who a message is from, for the core to mark the conversation
# verified. Only the server's session sets them: nothing in a frame reaches `metadata`.
SESSION_KIND = "session_kind"
VERIFIED_CUSTOMER_REF = "verified_customer_ref"
VERIFICATION = "verification"


# JSON framing around a maximal text (escapes can double it) must still fit.
FRAME_OVERHEAD_BYTES = 1024


class MessageFrame(BaseModel):
    """A message from the page: a WebSocket frame or the body of POST /webchat/messages.

    Documents the shape (for the OpenAPI and fuzzers); `parse_inbound` reads it, with its own
    error codes.
    """

    type: Literal["message"] = "message"
    id: str | None = Field(
        default=None,
        pattern=CLIENT_ID_PATTERN.pattern,
        description="The page's id for the message: sent again, it is answered once.",
    )
    text: str = Field(description="What the customer typed, or the title of a button.")
    payload: str | None = Field(default=None, description="The payload of a pressed button.")


def parse_inbound(frame: Any, *, session: WebchatSession, max_bytes: int) -> InboundMessage:
    """The customer message in one frame from the page (or one REST body), from the visitor
    of `session` (whatever else the frame says)."""
    if not isinstance(frame, dict):
        raise InvalidMessage("malformed", "Expected a JSON object.", status_code=400)
    if frame.get("type", "message") != "message":
        raise InvalidMessage("unknown_type", f"Unknown frame type {frame.get('type')!r}.", 400)
    text, payload = frame.get("text"), frame.get("payload")
    client_id = frame.get("id")
    if not isinstance(text, str) or (payload is not None and not isinstance(payload, str)):
        raise InvalidMessage("malformed", "'text' (and 'payload', if given) must be strings.", 400)
    if client_id is not None and not (
        isinstance(client_id, str) and CLIENT_ID_PATTERN.match(client_id)
    ):
        raise InvalidMessage("malformed", "'id' must be 1-64 letters, digits, '-' or '_'.", 400)
    shown = clean_text(text, max_bytes=max_bytes)
    metadata = session_metadata(session)
    if payload:
        # A button: Rasa gets the button's payload, the transcript shows its title.
        metadata["display_text"] = shown
        shown = clean_text(payload, max_bytes=max_bytes)
    return InboundMessage(
        text=shown,
        sender_id=session.visitor_id,
        channel=Channel.WEBCHAT,
        message_id=f"{session.visitor_id}:{client_id}" if client_id else None,
        metadata=metadata,
    )


def session_metadata(session: WebchatSession) -> dict[str, Any]:
    """What the session says about who is writing: how they got it, and for the company app's
    customer the ref its token vouched for."""
    metadata: dict[str, Any] = {SESSION_KIND: session.kind.value}
    if session.kind is SessionKind.APP and session.customer_ref:
        metadata[VERIFIED_CUSTOMER_REF] = session.customer_ref
        metadata[VERIFICATION] = VerificationLevel.APP_TOKEN.value
    return metadata


def render_outbound(replies: Sequence[BotReply]) -> list[dict[str, Any]]:
    """The replies as the page shows them: text, buttons as buttons, images."""
    rendered = []
    for reply in replies:
        item: dict[str, Any] = {"text": reply.text}
        if reply.buttons:
            item["buttons"] = [{"title": b.title, "payload": b.payload} for b in reply.buttons]
        if reply.image:
            item["image"] = reply.image
        agent = (reply.custom or {}).get("agent")
        if isinstance(agent, dict) and agent.get("name"):
            item["agent"] = str(agent["name"])  # a person from the team wrote this one
        rendered.append(item)
    return rendered


def render_stored(replies: Sequence[StoredReply]) -> list[dict[str, Any]]:
    """Rendered replies, each with the id of its stored message."""
    rendered = render_outbound([r.reply for r in replies])
    return [{"id": r.message_id, **item} for r, item in zip(replies, rendered, strict=True)]


def render_history(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Stored messages as the page shows a transcript, labelled with their channel."""
    items = []
    for message in messages:
        outbound = message.direction is Direction.OUTBOUND
        reply = BotReply.from_stored(message.text, message.payload) if outbound else None
        shown = message.payload.get("metadata", {}).get("display_text") if not outbound else None
        item: dict[str, Any] = {
            "id": message.id,
            "direction": message.direction.value,
            "channel": message.channel.value,
            "at": message.created_at.isoformat(),
            # A file sent without a caption shows none ("" shown; Rasa read "[photo]").
            **(render_outbound([reply])[0] if reply else {"text": _or(shown, message.text)}),
        }
        items.append(item)
    return items


def _or(shown: Any, text: str) -> str:
    return shown if isinstance(shown, str) else text
