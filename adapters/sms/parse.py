"""An SMS or MMS as Twilio posts it, read: carrier keywords (STOP, START, HELP), the text,
and the media's URLs and types."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any

from adapters.twilio.params import MAX_MEDIA
from bot.core.messages import InboundMessage, InvalidMessage, clean_text
from bot.core.models import Channel

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT"})


START_WORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})


HELP_WORDS = frozenset({"HELP", "INFO"})

# How much of a body that cannot be read (binary, far too long) is kept for people to see.
UNREADABLE_KEPT_CHARS = 500
_MEDIA_COUNT = re.compile(r"[0-9]{1,2}")


class Keyword(enum.StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


def keyword_of(text: str) -> Keyword | None:
    """The carrier keyword a message is, if it is one word such as STOP, START or HELP."""
    word = text.strip().strip(".!").upper()
    if word in STOP_WORDS:
        return Keyword.STOP
    if word in START_WORDS:
        return Keyword.START
    if word in HELP_WORDS:
        return Keyword.HELP
    return None


def parse_inbound(form: Mapping[str, str], *, max_bytes: int) -> InboundMessage:
    """The customer's message in Twilio's webhook parameters.

    The text may be empty for a picture-only MMS; media URLs and types are in metadata.
    An unreadable body (binary, too long) is kept as-is and marked `unreadable`.
    """
    sender, sid = form.get("From", "").strip(), form.get("MessageSid", "").strip()
    if not sender or not sid:
        raise InvalidMessage("malformed", "From and MessageSid are required.", status_code=400)
    media = _media_of(form)
    metadata: dict[str, Any] = {"to": form.get("To", "")}
    if form.get("FromCountry"):
        metadata["from_country"] = form["FromCountry"]
    if media:
        metadata["media"] = media
    body = form.get("Body", "")
    try:
        text = clean_text(body, max_bytes=max_bytes) if body.strip() or not media else ""
    except InvalidMessage as error:
        metadata["unreadable"] = error.code
        text = body[:UNREADABLE_KEPT_CHARS]  # made storable by InboundMessage (NUL: U+FFFD)
    return InboundMessage(
        text=text, sender_id=sender, channel=Channel.SMS, message_id=sid, metadata=metadata
    )


def _media_of(form: Mapping[str, str]) -> list[dict[str, str]]:
    count = form.get("NumMedia", "0")
    # "²".isdigit() is True but int("²") fails: only ASCII digits, and Twilio's at most 10.
    if not _MEDIA_COUNT.fullmatch(count) or int(count) > MAX_MEDIA:
        raise InvalidMessage(
            "malformed", f"NumMedia must be a number from 0 to {MAX_MEDIA}.", status_code=400
        )
    media = []
    for index in range(int(count)):
        url = form.get(f"MediaUrl{index}")
        if url:
            media.append({"url": url, "content_type": form.get(f"MediaContentType{index}", "")})
    return media
