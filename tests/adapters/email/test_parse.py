"""Reading a raw mail: sender, ids, thread headers, problems and attachments, asserted on
exact values."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from adapters.email.parse import AUTO_REPLY, NO_TEXT, EmailAttachment, ParsedEmail
from bot.core.messages import InboundMessage, InvalidMessage
from bot.core.models import Channel

RawMail = Callable[..., bytes]
Parse = Callable[[bytes], ParsedEmail]


def test_plain_mail(raw_mail: RawMail, parse: Parse) -> None:
    parsed = parse(
        raw_mail(
            "Hello,\n\nmy order 1234 never arrived.\n\n\n\n\nCan you help?\n",
            headers="In-Reply-To: <r0@shop.test>\nReferences: <root@shop.test>\n <r0@shop.test>\n",
        )
    )
    assert parsed == ParsedEmail(
        message_id="<m1@example.com>",
        sender="jose.garcia@example.com",
        sender_name="Jose Garcia",
        subject="My order",
        text="Hello,\n\nmy order 1234 never arrived.\n\nCan you help?",
        in_reply_to="<r0@shop.test>",
        references=("<root@shop.test>", "<r0@shop.test>"),
        attachments=(),
        rejected_attachments=(),
        problem=None,
    )


def test_multipart_alternative_prefers_plain_text(parse: Parse) -> None:
    message = EmailMessage()
    message["From"] = "jose@example.com"
    message["Message-ID"] = "<alt@example.com>"
    message.set_content("The plain version.\n")
    message.add_alternative("<p>The <i>HTML</i> version.</p>", subtype="html")
    assert parse(message.as_bytes()).text == "The plain version."


def test_empty_plain_part_falls_back_to_html(parse: Parse) -> None:
    message = EmailMessage()
    message["From"] = "jose@example.com"
    message.set_content("\n\n")
    message.add_alternative("<p>Only here.</p>", subtype="html")
    assert parse(message.as_bytes()).text == "Only here."


def test_rfc2047_subject_and_name_are_decoded(parse: Parse) -> None:
    raw = (
        b"From: =?utf-8?q?Jos=C3=A9_Garc=C3=ADa?= <jose@example.com>\r\n"
        b"Subject: =?iso-8859-1?q?R=E9clamation?= =?utf-8?b?IOKAkyBjb21tYW5kZSAxMjM0?=\r\n"
        b"Message-ID: <m2@example.com>\r\n\r\nHi\r\n"
    )
    parsed = parse(raw)
    assert parsed.subject == "Réclamation – commande 1234"
    assert parsed.sender_name == "José García"
    assert parsed.sender == "jose@example.com"


# --- problems -----------------------------------------------------------------------------


def test_mail_without_text_is_flagged(parse: Parse) -> None:
    message = EmailMessage()
    message["From"] = "jose@example.com"
    message["Message-ID"] = "<photo@example.com>"
    message.add_attachment(b"\x89PNG data", maintype="image", subtype="png", filename="a.png")
    parsed = parse(message.as_bytes())
    assert parsed.text == ""
    assert parsed.problem == NO_TEXT
    assert parsed.attachments == (EmailAttachment("a.png", "image/png", b"\x89PNG data"),)


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied\n",
        "Precedence: bulk\n",
        "X-Autoreply: yes\n",
    ],
)
def test_automatic_replies_are_flagged(headers: str, raw_mail: RawMail, parse: Parse) -> None:
    assert parse(raw_mail("I am out of office.\n", headers=headers)).problem == AUTO_REPLY


def test_bounces_are_flagged(raw_mail: RawMail, parse: Parse) -> None:
    raw = raw_mail("Delivery failed.\n").replace(
        b"Jose Garcia <Jose.Garcia@Example.COM>", b"MAILER-DAEMON@mx.example.com"
    )
    assert parse(raw).problem == AUTO_REPLY


def test_auto_submitted_no_is_a_person(raw_mail: RawMail, parse: Parse) -> None:
    assert parse(raw_mail("Hi\n", headers="Auto-Submitted: no\n")).problem is None


@pytest.mark.parametrize(
    "from_header", ["", "From: \r\n", "From: undisclosed-recipients:;\r\n", "From: no address\r\n"]
)
def test_mail_without_sender_is_refused(from_header: str, parse: Parse) -> None:
    raw = f"{from_header}Subject: hi\r\nMessage-ID: <x@y>\r\n\r\nHello\r\n".encode()
    with pytest.raises(InvalidMessage) as caught:
        parse(raw)
    assert caught.value.code == "no_sender"


def test_missing_message_id_is_synthesised_stably(raw_mail: RawMail, parse: Parse) -> None:
    raw = raw_mail("Hello\n").replace(b"Message-ID: <m1@example.com>\r\n", b"")
    expected = f"<{hashlib.sha256(raw).hexdigest()}@assistant.invalid>"
    assert parse(raw).message_id == expected
    assert parse(raw).message_id == expected
    assert parse(raw + b"more\r\n").message_id != expected


def test_message_id_without_brackets_gets_them(raw_mail: RawMail, parse: Parse) -> None:
    raw = raw_mail("Hello\n").replace(b"<m1@example.com>", b"m1@example.com")
    assert parse(raw).message_id == "<m1@example.com>"


# --- attachments --------------------------------------------------------------------------


def test_attachments_are_checked_for_type_and_size(parse: Parse) -> None:
    message = EmailMessage()
    message["From"] = "jose@example.com"
    message["Message-ID"] = "<att@example.com>"
    message.set_content("See the attached files.\n")
    message.add_attachment(b"p" * 100, maintype="image", subtype="png", filename="receipt.png")
    message.add_attachment(b"d" * 2000, maintype="application", subtype="pdf", filename="big.pdf")
    message.add_attachment(
        b"MZ", maintype="application", subtype="x-msdownload", filename="../../setup.exe"
    )
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="ok.pdf")
    parsed = parse(message.as_bytes())
    assert parsed.text == "See the attached files."
    assert parsed.attachments == (
        EmailAttachment("receipt.png", "image/png", b"p" * 100),
        EmailAttachment("ok.pdf", "application/pdf", b"%PDF"),
    )
    assert parsed.rejected_attachments == (
        ("big.pdf", "too large (2 KB; the limit is 1 KB)"),
        ("setup.exe", "application/x-msdownload files are not accepted"),
    )
    assert parsed.problem is None


def test_inline_image_with_name_is_an_attachment_and_text_part_is_not(parse: Parse) -> None:
    raw = (
        b"From: jose@example.com\r\nMessage-ID: <i@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/related; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nPhoto below\r\n"
        b'--b\r\nContent-Type: image/png; name="shot.png"\r\nContent-Disposition: inline\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n"
    )
    parsed = parse(raw)
    assert parsed.text == "Photo below"
    assert parsed.attachments == (EmailAttachment("shot.png", "image/png", b"hello"),)


def test_forwarded_mail_is_one_attachment(parse: Parse) -> None:
    inner = EmailMessage()
    inner["From"] = "someone@else.test"
    inner.set_content("Inner text\n")
    message = EmailMessage()
    message["From"] = "jose@example.com"
    message.set_content("Look at this.\n")
    message.add_attachment(inner)
    parsed = parse(message.as_bytes())
    assert parsed.text == "Look at this."
    assert parsed.rejected_attachments == (
        ("unnamed message/rfc822", "message/rfc822 files are not accepted"),
    )


# --- inbound message ----------------------------------------------------------------------


def test_to_inbound(raw_mail: RawMail, parse: Parse) -> None:
    parsed = parse(raw_mail("Hi\n", headers="References: <a@x> <b@x>\nIn-Reply-To: <b@x>\n"))
    assert parsed.to_inbound() == InboundMessage(
        text="Hi",
        sender_id="jose.garcia@example.com",
        channel=Channel.EMAIL,
        message_id="<m1@example.com>",
        metadata={
            "subject": "My order",
            "message_id": "<m1@example.com>",
            "in_reply_to": "<b@x>",
            "references": ["<a@x>", "<b@x>"],
            "sender_name": "Jose Garcia",
        },
    )
