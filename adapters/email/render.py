"""A turn's replies as one mail in the customer's thread, as text and HTML: buttons become a
numbered list answered by number, images become links. Pure."""

from __future__ import annotations

import email.policy
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy

from adapters.contract import Degradation
from adapters.email.body import one_line
from adapters.email.thread import EmailThread, reply_references, reply_subject
from bot.core.messages import BotReply
from bot.core.texts import Text, say


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
class OutboundFile:
    """A file sent with a mail (a receipt's PDF)."""

    filename: str
    content_type: str
    data: bytes


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
    files: Sequence[OutboundFile] = (),
) -> EmailMessage:
    """One mail carrying all `replies` of a turn, as text and HTML, in the customer's thread.

    `date` defaults to now; `automated` adds Auto-Submitted (RFC 3834) and Microsoft's
    X-Auto-Response-Suppress so out-of-office replies do not answer the assistant;
    `files` are attached after the text and HTML bodies.
    """
    message = EmailMessage(policy=OUTBOUND_POLICY)
    message["From"] = Address(display_name=one_line(from_name or ""), addr_spec=from_address)
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
    for file in files:
        maintype, _, subtype = file.content_type.partition("/")
        message.add_attachment(
            file.data,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=one_line(file.filename),
        )
    return message


# Images as a line with their address; the HTML part links them.
DEGRADATION = Degradation(image=lambda url: say(Text.IMAGE_LINK, url=url))


def render_text(replies: Sequence[BotReply]) -> str:
    """The plain-text body: each reply a paragraph, buttons a numbered list."""
    blocks: list[str] = []
    for reply in replies:
        parts = DEGRADATION.parts(reply)
        blocks.extend(replace(parts, text=parts.text.strip()).blocks())
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
            blocks.extend([f"<ol>{items}</ol>", f"<p>{html.escape(say(Text.OPTIONS_PROMPT))}</p>"])
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
