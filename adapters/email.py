"""Email: a raw inbound mail to the customer's words, and a turn's replies to one reply mail.

Pure functions, no I/O (the IMAP/SMTP side is `adapters.email_transport`).

Inbound: the customer's own words are kept; quoted history (Gmail, Outlook, Apple Mail) and
signatures are cut, HTML-only mail is turned into text. `ParsedEmail.problem` tells the
caller what it should not answer: `"no_text"` (nothing readable, e.g. only a photo) or
`"auto_reply"` (out-of-office, bounce, no-reply sender: answering would start a mail loop).

Outbound: all replies of one turn go out as one mail in the customer's thread (In-Reply-To,
References, "Re: subject"), as text and HTML; buttons become a numbered list answered by
number, images become links.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.policy import Policy
from html.parser import HTMLParser
from typing import Any, TypeVar

from adapters.messages import BotReply, InboundMessage, InvalidMessage
from bot.models import Channel

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
CHOICE_PROMPT = "Reply with the number of your choice."
DEFAULT_SUBJECT = "Your message"
SYNTHETIC_ID_DOMAIN = "assistant.invalid"
# Long threads would make References grow without end; keep the root and the latest ids.
MAX_REFERENCES = 20

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_REPLY_PREFIX = re.compile(r"^(\s*(re|aw|sv|antw)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n{3,}")
# "On <date>, <name> wrote:" and its translations; a time or an address must appear in it
# so a customer's own "On 5 May I wrote:" is not taken for a quote header.
_WROTE = re.compile(
    r"^\s*(on|le|am|el|op|il|em)\b(?=.*(\d[:.]\d\d|@)).{0,300}?"
    r"(wrote|a écrit|schrieb|escribió|schreef|ha scritto|escreveu)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_WROTE_START = re.compile(r"^\s*(on|le|am|el|op|il|em)\b", re.IGNORECASE)
_ORIGINAL_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORE_RULE = re.compile(r"^\s*_{10,}\s*$")
_FROM_FIELD = re.compile(r"^\s*\*?(from|von|de|van|da)\s*:\*?\s*\S", re.IGNORECASE)
_SENT_FIELD = re.compile(
    r"^\s*\*?(sent|date|gesendet|datum|envoyé|enviado|verzonden|inviato)\s*:", re.IGNORECASE
)
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(sent from my \S.*|sent from (mail|outlook|yahoo mail)\b.*|sent with \S+ \S.*"
    r"|get outlook for (ios|android)\b.*|envoyé de mon \S.*|von meinem \S.* gesendet\.?"
    r"|enviado desde mi \S.*)$",
    re.IGNORECASE,
)
_SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
_AUTOMATED_SENDERS = re.compile(
    r"^(mailer-daemon|no-?reply|do-?not-?reply|bounces?)([+.-].*)?@", re.IGNORECASE
)


class _FoldedIdListHeader(UnstructuredHeader, BaseHeader):
    """A header of message ids, folded between ids and never encoded.

    The stdlib folds In-Reply-To and References as free text: an id longer than a line
    (Outlook's are) becomes an RFC 2047 encoded word, which breaks threading.
    """

    def fold(self, *, policy: Policy) -> str:
        width = policy.max_line_length or 78
        lines, line = [], f"{self.name}:"
        for token in str(self).split():
            if len(line) + 1 + len(token) > width and line != f"{self.name}:":
                lines.append(line)
                line = ""
            line += f" {token}"
        lines.append(line)
        return policy.linesep.join(lines) + policy.linesep


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("in-reply-to", _FoldedIdListHeader)
_HEADERS.map_to_type("references", _FoldedIdListHeader)
OUTBOUND_POLICY = email.policy.default.clone(header_factory=_HEADERS)


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


@dataclass(frozen=True)
class EmailThread:
    """What a reply needs to land in the customer's thread.

    `references` are the ids of the mail being answered and its ancestors, oldest first;
    the reply's References header is these plus `reply_to_message_id`.
    """

    subject: str
    reply_to_message_id: str | None
    references: tuple[str, ...] = ()

    @classmethod
    def from_email(cls, parsed: ParsedEmail) -> EmailThread:
        """The thread of a mail just received."""
        return cls._build(parsed.subject, parsed.message_id, parsed.in_reply_to, parsed.references)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> EmailThread:
        """The thread of a stored inbound message (the metadata of `ParsedEmail.to_inbound`)."""
        subject = metadata.get("subject")
        message_id = metadata.get("message_id")
        in_reply_to = metadata.get("in_reply_to")
        references = metadata.get("references")
        return cls._build(
            subject if isinstance(subject, str) else "",
            message_id if isinstance(message_id, str) and message_id else None,
            in_reply_to if isinstance(in_reply_to, str) and in_reply_to else None,
            tuple(r for r in references if isinstance(r, str))
            if isinstance(references, list | tuple)
            else (),
        )

    @classmethod
    def _build(
        cls,
        subject: str,
        message_id: str | None,
        in_reply_to: str | None,
        references: tuple[str, ...],
    ) -> EmailThread:
        # RFC 5322 3.6.4: a parent without References but with one In-Reply-To id
        # still tells us its own parent.
        ancestors = references or ((in_reply_to,) if in_reply_to else ())
        return cls(subject=subject, reply_to_message_id=message_id, references=ancestors)


# --- inbound ------------------------------------------------------------------------------


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
        subject=_one_line(_header(message, "Subject") or ""),
        text=text,
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
    return _decode_bytes(data, None)


def _content_type(part: Message) -> str:
    return _safely(part.get_content_type, "application/octet-stream")


def _sender(message: Message) -> tuple[str, str | None]:
    header = _header_object(message, "From")
    addresses: tuple[Address, ...] = _safely(lambda: tuple(getattr(header, "addresses", ())), ())
    for address in addresses:
        addr_spec = _sanitize(str(address.addr_spec)).strip().lower()
        local, _, domain = addr_spec.rpartition("@")
        if local and domain and not re.search(r"\s", addr_spec):
            return addr_spec, _one_line(_sanitize(str(address.display_name))) or None
    raise InvalidMessage("no_sender", "The email has no sender address (From) to answer.")


def _message_id(message: Message, raw: bytes) -> str:
    value = (_raw_header(message, "Message-ID") or "").strip()
    found = _MESSAGE_ID.search(value)
    if found:
        return found.group(0)
    if value and not re.search(r"[\s<>]", value):
        return f"<{value}>"
    # Same bytes, same id: a redelivered mail without Message-ID is still recognised.
    return f"<{hashlib.sha256(raw).hexdigest()}@{SYNTHETIC_ID_DOMAIN}>"


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MESSAGE_ID.findall(value or "")))


def _one_line(value: str) -> str:
    return " ".join(value.split())


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
        return _unflow(decoded, delsp=_param(part, "delsp") == "yes")
    return decoded


def _param(part: Message, name: str) -> str:
    value = _safely(lambda: part.get_param(name), None)
    return value.lower() if isinstance(value, str) else ""


def decode_text(part: Message) -> str:
    """A text part's content as str, whatever its declared charset (bad bytes replaced)."""
    payload = _safely(lambda: part.get_payload(decode=True), None)
    data = payload if isinstance(payload, bytes) else b""
    return _decode_bytes(data, _safely(part.get_content_charset, None))


def _decode_bytes(data: bytes, declared: str | None) -> str:
    for charset in _charsets_to_try(declared, data):
        try:
            return data.decode(charset)
        except (LookupError, UnicodeError):
            continue
    return data.decode("cp1252", errors="replace")


def _charsets_to_try(declared: str | None, data: bytes) -> list[str]:
    declared = (declared or "").strip().strip("\"'").lower()
    # Mailers often say ASCII or Latin-1 and send UTF-8; valid UTF-8 that is not ASCII is
    # almost never Latin-1 text. Latin-1 labels mean Windows-1252, as browsers read them.
    if declared in ("", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252"):
        return ["ascii", "utf-8", "cp1252"] if not data.isascii() else ["ascii"]
    return [declared, "utf-8", "cp1252"]


def _unflow(text: str, *, delsp: bool) -> str:
    """Rejoin the soft line breaks of format=flowed text (RFC 3676)."""
    lines: list[str] = []
    joining, last_depth = False, 0
    for raw_line in text.replace("\r\n", "\n").split("\n"):
        depth = len(raw_line) - len(raw_line.lstrip(">"))
        content = raw_line[depth:]
        content = content.removeprefix(" ")
        if joining and depth == last_depth and lines:
            lines[-1] += content
        else:
            lines.append(">" * depth + content)
        joining = content.endswith(" ") and not _SIGNATURE_DELIMITER.match(content)
        if joining and delsp:
            lines[-1] = lines[-1][:-1]
        last_depth = depth
    return "\n".join(lines)


def clean_body(text: str) -> str:
    """The customer's own words: no quoted history, no signature, no runs of blank lines."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = _strip_signature(_strip_quotes(text.split("\n")))
    text = "\n".join(line.rstrip() for line in lines)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _strip_quotes(lines: list[str]) -> list[str]:
    kept: list[str] = []
    index = 0
    while index < len(lines):
        header_lines = _wrote_header_at(lines, index)
        if header_lines:
            after = index + header_lines
            if not _next_is_quoted(lines, after):
                break  # a quote without ">" marks (Outlook, HTML): all the rest is history
            index = after
            continue
        if _original_message_at(lines, index):
            break
        if not lines[index].lstrip().startswith(">"):
            kept.append(lines[index])
        index += 1
    return kept


def _wrote_header_at(lines: list[str], index: int) -> int:
    """How many lines the "On ... wrote:" header starting at `index` spans (0: none)."""
    if not _WROTE_START.match(lines[index]):
        return 0
    for span in (1, 2, 3):
        window = lines[index : index + span]
        if len(window) < span or not _continues_header(window):
            return 0
        if _WROTE.match(" ".join(line.strip() for line in window)):
            return span
    return 0


def _continues_header(window: list[str]) -> bool:
    # Mail clients wrap a long header line; a finished sentence, a blank line, a quote or
    # another "On ..." line is not such a continuation.
    if len(window) == 1:
        return True
    previous, line = window[-2].rstrip(), window[-1]
    return bool(
        line.strip()
        and not previous.endswith((".", "!", "?"))
        and not line.lstrip().startswith(">")
        and not _WROTE_START.match(line)
    )


def _next_is_quoted(lines: list[str], index: int) -> bool:
    for line in lines[index:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return True


def _original_message_at(lines: list[str], index: int) -> bool:
    line = lines[index]
    if _ORIGINAL_SEPARATOR.match(line):
        return True
    if _UNDERSCORE_RULE.match(line):
        following = [candidate for candidate in lines[index + 1 : index + 4] if candidate.strip()]
        return bool(following) and bool(_FROM_FIELD.match(following[0]))
    if _FROM_FIELD.match(line):
        # Outlook's header block: From:, then Sent: (or Date:) within the next lines.
        following = [candidate for candidate in lines[index + 1 : index + 5] if candidate.strip()]
        return any(_SENT_FIELD.match(candidate) for candidate in following[:3])
    return False


def _strip_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line):
            lines = lines[:index]
            break
    return [line for line in lines if not _MOBILE_SIGNATURE.match(line)]


class _HtmlToText(HTMLParser):
    """Text of an HTML mail: paragraphs and line breaks kept, scripts, styles and quoted
    history (Gmail, Yahoo, Thunderbird, Apple Mail, Outlook on the web) dropped."""

    SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template", "svg"})
    QUOTE_CLASSES = frozenset(
        {"gmail_quote", "gmail_signature", "yahoo_quoted", "moz-cite-prefix", "moz-signature"}
    )
    # Outlook on the web puts everything after these elements' start into the quote.
    HISTORY_IDS = frozenset({"appendonsend", "divrplyfwdmsg"})
    PARAGRAPH_TAGS = frozenset(
        {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "pre", "hr"}
    )
    LINE_TAGS = frozenset(
        {"div", "tr", "section", "article", "header", "footer", "address", "dt", "dd"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_tag: str | None = None
        self._skip_depth = 0
        self._pre_depth = 0
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._done:
            return
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        attributes = {name: value or "" for name, value in attrs}
        if attributes.get("id", "").lower() in self.HISTORY_IDS:
            self._done = True
            return
        if self._skipped(tag, attributes):
            self._skip_tag, self._skip_depth = tag, 1
            return
        self._open(tag)

    def _skipped(self, tag: str, attributes: dict[str, str]) -> bool:
        classes = set(attributes.get("class", "").split())
        quoted = tag == "blockquote" and attributes.get("type", "").lower() == "cite"
        return tag in self.SKIP_TAGS or quoted or bool(classes & self.QUOTE_CLASSES)

    def _open(self, tag: str) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag in self.PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag in self.LINE_TAGS:
            self.parts.append("\n")
        if tag == "pre":
            self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._done:
            return
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in self.PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag in self.LINE_TAGS:
            self.parts.append("\n")
        if tag == "pre" and self._pre_depth:
            self._pre_depth -= 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> must not also count as a closing tag.
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._done or self._skip_tag is not None:
            return
        self.parts.append(data if self._pre_depth else re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """Readable text of an HTML mail body (entities decoded, blocks on their own lines)."""
    parser = _HtmlToText()
    parser.feed(markup)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).replace("\xa0", " ").split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


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
        shown = filename or f"unnamed {content_type}"
        if content_type not in allowed_types:
            rejected.append((shown, f"{content_type} files are not accepted"))
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
    name = _CONTROL.sub("", re.split(r"[/\\]", _sanitize(str(name)))[-1]).strip()
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


# --- outbound -----------------------------------------------------------------------------


def reply_subject(subject: str) -> str:
    """The reply's subject: "Re: <subject>", without piling up "Re:" prefixes."""
    stripped = _REPLY_PREFIX.sub("", _one_line(subject)).strip()
    return f"Re: {stripped or DEFAULT_SUBJECT}"


def reply_references(thread: EmailThread) -> tuple[str, ...]:
    """The References of a reply in `thread`: the ancestors, then the mail answered."""
    ids = list(thread.references)
    if thread.reply_to_message_id and thread.reply_to_message_id not in ids:
        ids.append(thread.reply_to_message_id)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return tuple(ids)


def render_outbound(
    replies: Sequence[BotReply],
    *,
    thread: EmailThread,
    from_address: str,
    to_address: str,
    message_id: str,
    from_name: str | None = None,
    date: datetime | None = None,
    automated: bool = True,
) -> EmailMessage:
    """One mail carrying all `replies` of a turn, as text and HTML, in the customer's thread.

    `date` defaults to now; `automated` adds Auto-Submitted (RFC 3834) and Microsoft's
    X-Auto-Response-Suppress so out-of-office replies do not answer the assistant.
    """
    message = EmailMessage(policy=OUTBOUND_POLICY)
    message["From"] = Address(display_name=_one_line(from_name or ""), addr_spec=from_address)
    message["To"] = to_address
    message["Subject"] = reply_subject(thread.subject)
    message["Date"] = date or datetime.now(UTC)
    message["Message-ID"] = message_id
    if thread.reply_to_message_id:
        message["In-Reply-To"] = thread.reply_to_message_id
    references = reply_references(thread)
    if references:
        message["References"] = " ".join(references)
    if automated:
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    plain = render_text(replies)
    message.set_content(plain, cte=None if plain.isascii() else "quoted-printable")
    rendered_html = render_html(replies)
    message.add_alternative(
        rendered_html, subtype="html", cte=None if rendered_html.isascii() else "quoted-printable"
    )
    return message


def render_text(replies: Sequence[BotReply]) -> str:
    """The plain-text body: each reply a paragraph, buttons a numbered list."""
    blocks: list[str] = []
    for reply in replies:
        if reply.text.strip():
            blocks.append(reply.text.strip())
        if reply.buttons:
            options = (f"{number}. {b.title}" for number, b in enumerate(reply.buttons, 1))
            blocks.extend(["\n".join(options), CHOICE_PROMPT])
        if reply.image:
            blocks.append(f"Image: {reply.image}")
    return "\n\n".join(blocks) + "\n"


def render_html(replies: Sequence[BotReply]) -> str:
    """The HTML body: the same content as `render_text`, escaped, in paragraphs."""
    blocks: list[str] = []
    for reply in replies:
        for paragraph in re.split(r"\n\s*\n", reply.text.strip()):
            if paragraph.strip():
                lines = (html.escape(line.strip()) for line in paragraph.strip().split("\n"))
                blocks.append(f"<p>{'<br>'.join(lines)}</p>")
        if reply.buttons:
            items = "".join(f"<li>{html.escape(b.title)}</li>" for b in reply.buttons)
            blocks.extend([f"<ol>{items}</ol>", f"<p>{html.escape(CHOICE_PROMPT)}</p>"])
        if reply.image:
            blocks.append(f"<p>Image: {_link(reply.image)}</p>")
    body = "\n".join(blocks)
    return (
        '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8"></head>\n'
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _link(url: str) -> str:
    shown = html.escape(url)
    if not re.match(r"^https?://", url, re.IGNORECASE):
        return shown  # only web links are clickable (no javascript: or data: URLs)
    return f'<a href="{html.escape(url, quote=True)}">{shown}</a>'
