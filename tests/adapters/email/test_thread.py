"""The thread a reply must land in, read from a parsed mail's stored metadata."""

from __future__ import annotations

import json
from collections.abc import Callable

from adapters.email.parse import ParsedEmail
from adapters.email.thread import EmailThread

RawMail = Callable[..., bytes]
Parse = Callable[[bytes], ParsedEmail]


def test_thread_from_email_and_from_stored_metadata_agree(raw_mail: RawMail, parse: Parse) -> None:
    parsed = parse(raw_mail("Hi\n", headers="References: <a@x> <b@x>\n"))
    thread = EmailThread.from_metadata(parsed.to_inbound().metadata)
    assert thread == EmailThread("My order", "<m1@example.com>", ("<a@x>", "<b@x>"))
    # Stored as JSON with the message (lists, not tuples), read back the same.
    stored = json.loads(json.dumps(parsed.to_inbound().metadata))
    assert EmailThread.from_metadata(stored) == thread


def test_thread_falls_back_to_in_reply_to_and_tolerates_bad_metadata(
    raw_mail: RawMail, parse: Parse
) -> None:
    parsed = parse(raw_mail("Hi\n", headers="In-Reply-To: <parent@x>\n"))
    assert EmailThread.from_metadata(parsed.to_inbound().metadata).references == ("<parent@x>",)
    assert EmailThread.from_metadata({"subject": 3, "references": "<a@x>"}) == EmailThread(
        "", None, ()
    )
