"""The message shapes every channel speaks (a customer's message in, the assistant's replies out),
and the checks every inbound text passes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.models import Channel

MAX_TEXT_BYTES = 4096


class InvalidMessage(ValueError):
    """An inbound message that cannot be processed; `code` is stable, `reason` is for people."""

    def __init__(self, code: str, reason: str, status_code: int = 422) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.status_code = status_code


class InboundMessage(BaseModel):
    """One message from a customer, whatever the channel (modelled on Rasa's UserMessage).

    `sender_id` is the customer's address on the channel (app user id, phone, email);
    `message_id` is the channel's own id and makes redelivery idempotent; channel-specific
    extras go in `metadata`.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    sender_id: str
    channel: Channel
    message_id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("text", "sender_id", "message_id", "metadata")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # Whatever a channel read, the store gets text both databases take.
        return storable_data(value)


class Button(BaseModel):
    """A choice offered to the customer; `payload` is what is sent back when it is picked."""

    model_config = ConfigDict(frozen=True)

    title: str
    payload: str

    @field_validator("title", "payload")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable_data(value)


class BotReply(BaseModel):
    """One reply of the assistant (or an agent), before a channel renders it."""

    model_config = ConfigDict(frozen=True)

    text: str = ""
    buttons: tuple[Button, ...] = ()
    image: str | None = None
    custom: dict[str, Any] | None = None

    @field_validator("text", "image", "custom")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable_data(value)

    @classmethod
    def from_rasa(cls, message: dict[str, Any]) -> BotReply:
        """A reply from one element of Rasa's REST channel response."""
        buttons = tuple(
            Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
            for b in message.get("buttons") or []
        )
        custom = message.get("custom")
        return cls(
            text=str(message.get("text") or ""),
            buttons=buttons,
            image=message.get("image"),
            custom=custom if isinstance(custom, dict) else None,
        )

    def to_payload(self) -> dict[str, Any]:
        """The reply as stored with its outbound message (everything but the text)."""
        data = self.model_dump(exclude={"text"}, exclude_defaults=True, mode="json")
        return dict(data)

    @classmethod
    def from_stored(cls, text: str, payload: dict[str, Any]) -> BotReply:
        """Rebuild a reply from a stored outbound message."""
        return cls.model_validate({**payload, "text": text})


@dataclass(frozen=True)
class StoredReply:
    """A reply together with the id of its stored outbound message."""

    message_id: int
    reply: BotReply


def clean_text(raw: str, *, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The customer's text, checked: not empty, not oversized, not binary.

    Control characters other than line breaks and tabs are dropped, NUL included (PostgreSQL
    cannot store it); unpaired surrogates (not UTF-8) become U+FFFD, so the same text is
    stored on SQLite and PostgreSQL. A text that is mostly control characters is refused
    as binary.
    """
    if len(raw.encode("utf-8", errors="surrogatepass")) > max_bytes:
        raise InvalidMessage(
            "message_too_long",
            f"Messages can be at most {max_bytes} bytes; please shorten it or split it up.",
            status_code=413,
        )
    raw = _pair_surrogates(raw)
    controls = sum(1 for ch in raw if _is_control(ch))
    if raw and controls > len(raw) // 4:
        raise InvalidMessage("binary_content", "That looks like binary data, not a text message.")
    text = "".join(ch for ch in raw if not _is_control(ch)).strip()
    if not text:
        raise InvalidMessage("empty_message", "The message is empty; please type something.")
    return text


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` as both databases store it: NUL (PostgreSQL refuses it) and unpaired
    surrogates (not UTF-8, so neither database takes them) become U+FFFD; nothing else
    changes."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _pair_surrogates(text).replace("\x00", "\ufffd")


def storable_data(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with every string, keys too, `storable`."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, Mapping):
        return {storable_data(key): storable_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(storable_data(item) for item in value)
    return value


def _pair_surrogates(text: str) -> str:
    # Two halves of a pair (as some decoders leave them) join into one character; a lone
    # half becomes U+FFFD.
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _is_control(ch: str) -> bool:
    return ch not in "\n\t\r" and unicodedata.category(ch) in ("Cc", "Co")


OPTION_NUMBER = re.compile(r"^\s*(?:option\s*|#\s*)?(\d{1,2})\s*[.)]?\s*$", re.IGNORECASE)


def choose_option(text: str, offered: Sequence[Button]) -> Button | None:
    """The offered button a reply such as "2" (or "2." or "option 2") picks, if any."""
    match = OPTION_NUMBER.match(text)
    if match is None:
        return None
    number = int(match.group(1))
    return offered[number - 1] if 1 <= number <= len(offered) else None


def pick_offered(inbound: InboundMessage, offered: Sequence[Mapping[str, Any]]) -> InboundMessage:
    """Replace a numbered answer to the last choices offered with the chosen button's payload;
    the transcript keeps what the customer typed."""
    buttons = [Button.model_validate(b) for b in offered if "title" in b and "payload" in b]
    chosen = choose_option(inbound.text, buttons)
    if chosen is None or not chosen.payload:
        return inbound
    metadata = {**inbound.metadata, "display_text": inbound.text, "chosen_option": chosen.title}
    return inbound.model_copy(update={"text": chosen.payload, "metadata": metadata})
