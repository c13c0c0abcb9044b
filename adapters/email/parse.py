"""A raw inbound mail read: sender, thread ids, the customer's words and the acceptable
attachments. Never fails on odd encodings or malformed headers; only a mail without a sender
address is refused.

`ParsedEmail.problem` tells the caller what it should not answer: `"no_text"` (nothing
readable, e.g. only a photo) or `"auto_reply"` (out-of-office, bounce, no-reply sender:
answering would start a mail loop).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import Message
from typing import Any, TypeVar

from adapters.email.body import (
    CONTROL,
    clean_body,
    decode_bytes,
    html_to_text,
    one_line,
    printable,
    unflow,
)
from bot.core.messages import InboundMessage, InvalidMessage
from bot.core.models import Channel

_T = TypeVar("_T")
# What the stdlib's header parser raises on some malformed headers instead of recording a
# defect (UnboundLocalError too: a bug in Python 3.11's _header_value_parser).
_PARSE_ERRORS = (
    HeaderParseError,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
    UnboundLocalError,
)

NO_TEXT = "no_text"
AUTO_REPLY = "auto_reply"
SYNTHETIC_ID_DOMAIN = "assistant.invalid"

# At most the 200 characters a message's id is stored in, no control characters.
_MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]{1,198}>")
_BARE_MESSAGE_ID = re.compile(r"[^<>\s\x00-\x1f\x7f]{1,198}")
_MAX_ADDRESS = 320  # the longest address the store keeps (RFC 5321's limit too)
_AUTOMATED_SENDERS = re.compile(
    r"^(mailer-daemon|no-?reply|do-?not-?reply|bounces?)([+.-].*)?@", re.IGNORECASE
)


@dataclass(frozen=True)
class EmailAttachment:
    """A file that came with the mail and passed the type and size checks."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedEmail:
    """One inbound mail, reduced to what the assistant needs."""

    message_id: str
    sender: str
    sender_name: str | None
    subject: str
    text: str
    in_reply_to: str | None
    references: tuple[str, ...]
    attachments: tuple[EmailAttachment, ...] = ()
    rejected_attachments: tuple[tuple[str, str], ...] = ()
    problem: str | None = None

    def to_inbound(self) -> InboundMessage:
        """The mail as the channel-independent inbound message; threading goes in metadata."""
        return InboundMessage(
            text=self.text,
            sender_id=self.sender,
            channel=Channel.EMAIL,
            message_id=self.message_id,
            metadata={
                "subject": self.subject,
                "message_id": self.message_id,
                "in_reply_to": self.in_reply_to,
                "references": list(self.references),
                "sender_name": self.sender_name,
            },
        )


def parse_inbound(
    raw: bytes, *, max_attachment_bytes: int, allowed_attachment_types: frozenset[str]
) -> ParsedEmail:
    """The customer's mail: sender, thread ids, cleaned text and the acceptable attachments.

    Never fails on odd encodings (bad bytes are replaced); raises `InvalidMessage`
    ("no_sender") only when there is no From address to answer.
    """
    message = email.message_from_bytes(raw, policy=email.policy.default)
    sender, sender_name = _sender(message)
    body, text = _body_text(message)
    attachments, rejected = _attachments(
        message,
        body=body,
        max_bytes=max_attachment_bytes,
        allowed_types=frozenset(t.lower() for t in allowed_attachment_types),
    )
    problem = AUTO_REPLY if _is_automatic(message, sender) else (None if text else NO_TEXT)
    return ParsedEmail(
        message_id=_message_id(message, raw),
        sender=sender,
        sender_name=sender_name,
        subject=one_line(printable(_header(message, "Subject") or "")),
        text=printable(text),
        in_reply_to=next(iter(_ids(_raw_header(message, "In-Reply-To"))), None),
        references=_ids(_raw_header(message, "References")),
        attachments=attachments,
        rejected_attachments=rejected,
        problem=problem,
    )


def _safely(read: Callable[[], _T], default: _T) -> _T:
    # A malformed header must not lose the whole mail: it reads as absent.
    try:
        return read()
    except _PARSE_ERRORS:
        return default


def _raw_header(message: Message, name: str) -> str | None:
    """The first `name` header as sent (unfolded), not parsed."""
    raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    return None if raw is None else " ".join(_sanitize(str(raw)).split())


def _header_object(message: Message, name: str) -> Any:
    """The first `name` header, parsed (RFC 2047 decoded); None if absent or unparsable."""
    value = _raw_header(message, name)
    if value is None:
        return None
    return _safely(lambda: email.policy.default.header_fetch_parse(name, value), None)


def _header(message: Message, name: str) -> str | None:
    value = _header_object(message, name)
    text = None if value is None else _safely(lambda: str(value), None)
    return None if text is None else _sanitize(text)


def _sanitize(value: str) -> str:
    """`value` without lone surrogates: raw 8-bit bytes in headers (against the RFCs, but
    common) and bad bytes in encoded words are read like a body's bytes."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return decode_bytes(data, None)


def _content_type(part: Message) -> str:
    return _safely(part.get_content_type, "application/octet-stream")


def _sender(message: Message) -> tuple[str, str | None]:
    header = _header_object(message, "From")
    addresses: tuple[Address, ...] = _safely(lambda: tuple(getattr(header, "addresses", ())), ())
    for address in addresses:
        addr_spec = _sanitize(str(address.addr_spec)).strip().lower()
        local, _, domain = addr_spec.rpartition("@")
        if (
            local
            and domain
            and len(addr_spec) <= _MAX_ADDRESS
            and not re.search(r"[\s\x00-\x1f\x7f]", addr_spec)
        ):
            return addr_spec, one_line(printable(_sanitize(str(address.display_name)))) or None
    raise InvalidMessage("no_sender", "The email has no sender address (From) to answer.")


def _message_id(message: Message, raw: bytes) -> str:
    value = (_raw_header(message, "Message-ID") or "").strip()
    found = _MESSAGE_ID.search(value)
    if found:
        return found.group(0)
    if _BARE_MESSAGE_ID.fullmatch(value):
        return f"<{value}>"
    # Same bytes, same id: a redelivered mail without Message-ID is still recognised.
    return f"<{hashlib.sha256(raw).hexdigest()}@{SYNTHETIC_ID_DOMAIN}>"


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MESSAGE_ID.findall(value or "")))


def _is_automatic(message: Message, sender: str) -> bool:
    auto_submitted = (_header(message, "Auto-Submitted") or "no").strip().lower()
    precedence = (_header(message, "Precedence") or "").strip().lower()
    return (
        auto_submitted != "no"
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or _header(message, "X-Autoreply") is not None
        or _header(message, "X-Autorespond") is not None
        or _content_type(message) == "multipart/report"
        or bool(_AUTOMATED_SENDERS.match(sender))
    )


def _body_text(message: Message) -> tuple[Message | None, str]:
    """The part read as the customer's text (plain preferred, else HTML), and that text."""
    candidates = [part for part in _leaf_parts(message) if not _is_attachment(part)]
    for content_type in ("text/plain", "text/html"):
        for part in candidates:
            if _content_type(part) == content_type:
                text = clean_body(_readable_text(part, content_type))
                if text:
                    return part, text
    return None, ""


def _readable_text(part: Message, content_type: str) -> str:
    decoded = decode_text(part)
    if content_type == "text/html":
        return html_to_text(decoded)
    if _param(part, "format") == "flowed":
        return unflow(decoded, delsp=_param(part, "delsp") == "yes")
    return decoded


def _param(part: Message, name: str) -> str:
    value = _safely(lambda: part.get_param(name), None)
    return value.lower() if isinstance(value, str) else ""


def decode_text(part: Message) -> str:
    """A text part's content as str, whatever its declared charset (bad bytes replaced)."""
    payload = _safely(lambda: part.get_payload(decode=True), None)
    data = payload if isinstance(payload, bytes) else b""
    return decode_bytes(data, _safely(part.get_content_charset, None))


def _attachments(
    message: Message,
    *,
    body: Message | None,
    max_bytes: int,
    allowed_types: frozenset[str],
) -> tuple[tuple[EmailAttachment, ...], tuple[tuple[str, str], ...]]:
    accepted: list[EmailAttachment] = []
    rejected: list[tuple[str, str]] = []
    for part in _leaf_parts(message):
        if part is body or not _is_attachment(part):
            continue
        content_type = _content_type(part)
        filename = _filename(part)
        shown = filename or f"unnamed {printable(content_type)[:100]}"
        if content_type not in allowed_types:
            rejected.append((shown, f"{printable(content_type)[:100]} files are not accepted"))
            continue
        data = _attachment_bytes(part)
        if len(data) > max_bytes:
            rejected.append(
                (shown, f"too large ({_size(len(data))}; the limit is {_size(max_bytes)})")
            )
            continue
        accepted.append(EmailAttachment(filename=filename, content_type=content_type, data=data))
    return tuple(accepted), tuple(rejected)


def _leaf_parts(part: Message) -> Iterator[Message]:
    # A forwarded mail (message/rfc822) is one attachment, not more body parts.
    if _content_type(part).startswith("multipart/") and part.is_multipart():
        for child in part.get_payload():
            if isinstance(child, Message):
                yield from _leaf_parts(child)
    else:
        yield part


def _is_attachment(part: Message) -> bool:
    disposition = _safely(part.get_content_disposition, None)
    if (disposition or "").lower() == "attachment":
        return True
    return not _content_type(part).startswith("text/") and _filename(part) is not None


def _filename(part: Message) -> str | None:
    name = _safely(part.get_filename, None)
    if not name:
        return None
    # Only the last path component: a name like "../../x" must not point anywhere.
    name = CONTROL.sub("", re.split(r"[/\\]", _sanitize(str(name)))[-1]).strip()
    return name[:255] or None


def _attachment_bytes(part: Message) -> bytes:
    if _content_type(part).startswith("message/"):
        inner = part.get_payload()
        inner_message = inner[0] if isinstance(inner, list) and inner else None
        if isinstance(inner_message, Message):
            return _safely(inner_message.as_bytes, b"")
    payload = _safely(lambda: part.get_payload(decode=True), None)
    return payload if isinstance(payload, bytes) else b""


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):.1f} MB"
    return f"{-(-count // 1024)} KB"
