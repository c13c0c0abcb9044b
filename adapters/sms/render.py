"""SMS replies as a phone shows them well: plain text (buttons as numbered options), in
GSM-7 where possible, split on word boundaries into at most three segments a message; and
as TwiML for replies given in the webhook's answer."""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.messaging_response import MessagingResponse

from adapters.contract import Degradation
from bot.core.messages import BotReply

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"  # each takes two septets
# Typographic characters an assistant's texts are full of; one of them would switch the
# whole message to UCS-2 (70 instead of 160 characters a segment), as Twilio's Smart
# Encoding also avoids.
GSM7_LOOKALIKES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2022": "-",
        "\u00b7": "-",
    }
)
# At most three segments a message either way: 320 GSM-7 characters, or 201 in UCS-2.
MAX_GSM7_CHARS = 320
MAX_UCS2_CHARS = 201

DEGRADATION = Degradation()


def to_gsm7(text: str) -> str:
    """Typographic punctuation replaced by its plain GSM-7 look-alike."""
    return text.translate(GSM7_LOOKALIKES)


def is_gsm7(text: str) -> bool:
    """Whether the text can be sent in the GSM-7 alphabet."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def split_message(text: str, max_chars: int) -> list[str]:
    """Split on line breaks, else spaces, into parts of at most `max_chars`."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > max_chars:
        window = text[: max_chars + 1]
        cut = window.rfind("\n")
        if cut < max_chars // 2:
            cut = window.rfind(" ")
        if cut < max_chars // 3:  # one enormous word (a URL): cut it
            cut = max_chars
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def reply_text(reply: BotReply) -> str:
    """One reply as plain text: buttons as numbered options, an image as its link."""
    return "\n".join(DEGRADATION.parts(reply).lines())


def render_reply(reply: BotReply) -> list[str]:
    """The SMS bodies one reply is sent as."""
    text = to_gsm7(reply_text(reply))
    return split_message(text, MAX_GSM7_CHARS if is_gsm7(text) else MAX_UCS2_CHARS)


def render_outbound(replies: Sequence[BotReply]) -> list[str]:
    """The SMS bodies for a turn's replies, in order."""
    return [body for reply in replies for body in render_reply(reply)]


def render_twiml(replies: Sequence[BotReply]) -> str:
    """The replies as a TwiML webhook answer (`<Message>` per SMS body)."""
    response = MessagingResponse()
    for body in render_outbound(replies):
        response.message(body)
    return str(response)


EMPTY_TWIML = str(MessagingResponse())
