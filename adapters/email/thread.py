"""Email threads: what a reply needs to land in the customer's thread (In-Reply-To,
References, "Re: subject")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.email.body import one_line
from bot.core.texts import Text, say

# Long threads would make References grow without end; keep the root and the latest ids.
MAX_REFERENCES = 20

_REPLY_PREFIX = re.compile(r"^(\s*(re|aw|sv|antw)(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


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


def reply_subject(subject: str) -> str:
    """The reply's subject: "Re: <subject>", without piling up "Re:" prefixes."""
    stripped = _REPLY_PREFIX.sub("", one_line(subject)).strip()
    return f"Re: {stripped or say(Text.EMAIL_DEFAULT_SUBJECT)}"


def reply_references(thread: EmailThread) -> tuple[str, ...]:
    """The References of a reply in `thread`: the ancestors, then the mail answered."""
    ids = list(thread.references)
    if thread.reply_to_message_id and thread.reply_to_message_id not in ids:
        ids.append(thread.reply_to_message_id)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return tuple(ids)
