"""Email parsing and rendering, asserted on exact text and headers."""

from __future__ import annotations

import email
import email.policy
import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from adapters.email import (
    AUTO_REPLY,
    NO_TEXT,
    EmailAttachment,
    EmailThread,
    ParsedEmail,
    html_to_text,
    parse_inbound,
    render_outbound,
)
from adapters.messages import BotReply, Button, InboundMessage, InvalidMessage
from bot.models import Channel

ALLOWED = frozenset({"image/png", "application/pdf"})
LIMIT = 1024
SHOP = "support@shop.test"
SENT_AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
OUTLOOK_ID = "<DM6PR11MB4657E5B0B2E3D7AB21F1C8C3C9A12@DM6PR11MB4657.namprd11.prod.outlook.com>"


def raw_mail(body: str | bytes, *, headers: str = "", content_type: str = "") -> bytes:
    """A minimal mail from Jose, with extra `headers` and a Content-Type line if given."""
    head = (
        "From: Jose Garcia <Jose.Garcia@Example.COM>\n"
        f"To: {SHOP}\n"
        "Subject: My order\n"
        "Message-ID: <m1@example.com>\n"
        f"{headers}"
        f"{f'Content-Type: {content_type}' + chr(10) if content_type else ''}"
        "\n"
    )
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    return (head.encode("utf-8") + data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def parse(raw: bytes) -> ParsedEmail:
    return parse_inbound(raw, max_attachment_bytes=LIMIT, allowed_attachment_types=ALLOWED)


def text_of(body: str | bytes, **kwargs: str) -> str:
    return parse(raw_mail(body, **kwargs)).text


# --- bodies -------------------------------------------------------------------------------


def test_plain_mail() -> None:
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


def test_html_only_mail_becomes_text() -> None:
    html = (
        "<html><head><title>t</title><style>p {color: red}</style></head><body>"
        "<script>alert('x')</script>"
        "<p>Hello&nbsp;there &amp; thanks &lt;3</p>"
        "<div>Order <b>1234</b><br>arrived   broken</div>"
        "<ul><li>a cup</li><li>a plate</li></ul>"
        "</body></html>"
    )
    text = text_of(html, content_type="text/html; charset=utf-8")
    assert text == "Hello there & thanks <3\n\nOrder 1234\narrived broken\n\n- a cup\n- a plate"


def test_multipart_alternative_prefers_plain_text() -> None:
    message = EmailMessage()
    message["From"] = "jose@example.com"
    message["Message-ID"] = "<alt@example.com>"
    message.set_content("The plain version.\n")
    message.add_alternative("<p>The <i>HTML</i> version.</p>", subtype="html")
    assert parse(message.as_bytes()).text == "The plain version."


def test_empty_plain_part_falls_back_to_html() -> None:
    message = EmailMessage()
    message["From"] = "jose@example.com"
    message.set_content("\n\n")
    message.add_alternative("<p>Only here.</p>", subtype="html")
    assert parse(message.as_bytes()).text == "Only here."


def test_format_flowed_lines_are_rejoined() -> None:
    body = "This line was wrapped \nby the mail client.\n\n-- \nJose\n"
    text = text_of(body, content_type="text/plain; charset=utf-8; format=flowed")
    assert text == "This line was wrapped by the mail client."
    delsp = text_of(
        "Gemein\nsam.\n".replace("\n", " \n", 1),
        content_type=("text/plain; charset=utf-8; format=flowed; delsp=yes"),
    )
    assert delsp == "Gemeinsam."


# --- quoted replies and signatures --------------------------------------------------------


def test_gmail_quote_is_stripped() -> None:
    body = (
        "Yes, the blue one.\n\n"
        "On Mon, Jan 1, 2024 at 10:00 AM Shop Support <support@shop.test>\n"
        "wrote:\n\n"
        "> Which colour did you order?\n"
        ">\n"
        "> On Sun, Dec 31, 2023 at 9:00 AM Jose wrote:\n"
        ">> Where is my order?\n"
    )
    assert text_of(body) == "Yes, the blue one."


def test_gmail_html_quote_is_stripped() -> None:
    html = (
        '<div dir="ltr">Yes, the blue one.</div><br>'
        '<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">'
        "On Mon, Jan 1, 2024 at 10:00 AM Shop Support &lt;support@shop.test&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote">Which colour?<div>nested</div></blockquote></div>'
        '<div class="gmail_signature">Jose | ACME</div>'
    )
    assert text_of(html, content_type="text/html; charset=utf-8") == "Yes, the blue one."


def test_line_before_a_quote_header_is_kept() -> None:
    body = (
        "On Monday my parcel was late\n"
        "On Mon, Jan 1, 2024 at 10:00 AM Shop <support@shop.test> wrote:\n"
        "> Sorry about that.\n"
    )
    assert text_of(body) == "On Monday my parcel was late"


def test_outlook_quote_is_stripped() -> None:
    body = (
        "Please cancel it.\n\n"
        "________________________________\n"
        "From: Shop Support <support@shop.test>\n"
        "Sent: Monday, January 1, 2024 10:00 AM\n"
        "To: Jose Garcia <jose@example.com>\n"
        "Subject: RE: My order\n\n"
        "Your order has shipped.\n"
    )
    assert text_of(body) == "Please cancel it."


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----\nFrom: Shop Support\nSent: Monday\n",
        "-------- Original message --------\nFrom: Shop Support <support@shop.test>\n",
        "From: Shop Support <support@shop.test>\nSent: Monday, January 1, 2024 10:00\n"
        "To: jose@example.com\n",
        "*From:* Shop Support <support@shop.test>\n*Date:* Monday, 1 January 2024\n",
    ],
)
def test_outlook_original_message_blocks_are_stripped(separator: str) -> None:
    body = f"Please cancel it.\n\n{separator}\nYour order has shipped.\n"
    assert text_of(body) == "Please cancel it."


def test_apple_mail_quote_and_mobile_signature_are_stripped() -> None:
    body = (
        "Sure, Tuesday works.\n\n"
        "Sent from my iPhone\n\n"
        "> On 1 Jan 2024, at 10:00, Shop Support <support@shop.test> wrote:\n"
        ">\n"
        "> Can we come on Tuesday?\n"
    )
    assert text_of(body) == "Sure, Tuesday works."


def test_apple_mail_html_quote_is_stripped() -> None:
    html = (
        "<html><body><div>Sure, Tuesday works.</div><div><br>"
        '<blockquote type="cite"><div>On 1 Jan 2024, at 10:00, Shop wrote:</div>'
        "<div>Can we come on Tuesday?</div></blockquote></div></body></html>"
    )
    assert text_of(html, content_type="text/html") == "Sure, Tuesday works."


def test_answers_between_quoted_lines_are_kept() -> None:
    body = (
        "On Mon, 1 Jan 2024 at 10:00, Shop Support <support@shop.test> wrote:\n"
        "> What is your order number?\n"
        "1234\n"
        "> And your postcode?\n"
        "10115\n"
    )
    assert text_of(body) == "1234\n10115"


@pytest.mark.parametrize(
    "body", ["On the form I wrote:\nmy old address", "On 5 May I wrote:\nmy old address"]
)
def test_customer_saying_wrote_is_not_a_quote_header(body: str) -> None:
    assert text_of(body) == body


def test_signature_is_stripped() -> None:
    body = "Where is my parcel?\n\n-- \nJose Garcia\nACME Corp | +1 555 0100\n"
    assert text_of(body) == "Where is my parcel?"


@pytest.mark.parametrize(
    "line",
    ["Sent from my iPhone", "Sent from my Galaxy", "Get Outlook for Android", "Sent from Mail"],
)
def test_mobile_signatures_are_stripped(line: str) -> None:
    assert text_of(f"Call me back please.\n\n{line}\n") == "Call me back please."


# --- encodings ----------------------------------------------------------------------------


def test_latin1_body() -> None:
    body = "Caf\xe9 cr\xe8me, \xa3 5\n".encode("iso-8859-1")
    text = text_of(body, content_type="text/plain; charset=iso-8859-1")
    assert text == "Café crème, £ 5"


def test_latin1_label_is_read_as_windows_1252() -> None:
    body = "\u201cquoted\u201d \u2013 ok\n".encode("cp1252")
    assert text_of(body, content_type="text/plain; charset=iso-8859-1") == "“quoted” – ok"


def test_wrong_declared_charset_does_not_crash() -> None:
    body = "Caf\xe9 au lait\n".encode("iso-8859-1")
    assert text_of(body, content_type="text/plain; charset=utf-8") == "Café au lait"


def test_unknown_charset_and_undeclared_utf8() -> None:
    body = "Grüße aus Köln\n".encode()
    assert text_of(body, content_type="text/plain; charset=x-no-such-charset") == "Grüße aus Köln"
    assert text_of(body, content_type="text/plain; charset=us-ascii") == "Grüße aus Köln"
    assert text_of(body) == "Grüße aus Köln"


def test_undecodable_bytes_are_replaced() -> None:
    text = text_of(b"bad \x81 byte\n", content_type="text/plain; charset=utf-8")
    assert text == "bad \ufffd byte"


def test_rfc2047_subject_and_name_are_decoded() -> None:
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


def test_mail_without_text_is_flagged() -> None:
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
def test_automatic_replies_are_flagged(headers: str) -> None:
    assert parse(raw_mail("I am out of office.\n", headers=headers)).problem == AUTO_REPLY


def test_bounces_are_flagged() -> None:
    raw = raw_mail("Delivery failed.\n").replace(
        b"Jose Garcia <Jose.Garcia@Example.COM>", b"MAILER-DAEMON@mx.example.com"
    )
    assert parse(raw).problem == AUTO_REPLY


def test_auto_submitted_no_is_a_person() -> None:
    assert parse(raw_mail("Hi\n", headers="Auto-Submitted: no\n")).problem is None


@pytest.mark.parametrize(
    "from_header", ["", "From: \r\n", "From: undisclosed-recipients:;\r\n", "From: no address\r\n"]
)
def test_mail_without_sender_is_refused(from_header: str) -> None:
    raw = f"{from_header}Subject: hi\r\nMessage-ID: <x@y>\r\n\r\nHello\r\n".encode()
    with pytest.raises(InvalidMessage) as caught:
        parse(raw)
    assert caught.value.code == "no_sender"


def test_missing_message_id_is_synthesised_stably() -> None:
    raw = raw_mail("Hello\n").replace(b"Message-ID: <m1@example.com>\r\n", b"")
    expected = f"<{hashlib.sha256(raw).hexdigest()}@assistant.invalid>"
    assert parse(raw).message_id == expected
    assert parse(raw).message_id == expected
    assert parse(raw + b"more\r\n").message_id != expected


def test_message_id_without_brackets_gets_them() -> None:
    raw = raw_mail("Hello\n").replace(b"<m1@example.com>", b"m1@example.com")
    assert parse(raw).message_id == "<m1@example.com>"


# --- attachments --------------------------------------------------------------------------


def test_attachments_are_checked_for_type_and_size() -> None:
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


def test_inline_image_with_name_is_an_attachment_and_text_part_is_not() -> None:
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


def test_forwarded_mail_is_one_attachment() -> None:
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


# --- inbound message and thread -----------------------------------------------------------


def test_to_inbound() -> None:
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


def test_thread_from_email_and_from_stored_metadata_agree() -> None:
    parsed = parse(raw_mail("Hi\n", headers="References: <a@x> <b@x>\n"))
    thread = EmailThread.from_email(parsed)
    assert thread == EmailThread("My order", "<m1@example.com>", ("<a@x>", "<b@x>"))
    assert EmailThread.from_metadata(parsed.to_inbound().metadata) == thread


def test_thread_falls_back_to_in_reply_to_and_tolerates_bad_metadata() -> None:
    parsed = parse(raw_mail("Hi\n", headers="In-Reply-To: <parent@x>\n"))
    assert EmailThread.from_email(parsed).references == ("<parent@x>",)
    assert EmailThread.from_metadata({"subject": 3, "references": "<a@x>"}) == EmailThread(
        "", None, ()
    )


def test_html_to_text_keeps_preformatted_text() -> None:
    assert html_to_text("<pre>a  b\n  c</pre><p>x</p>") == "a  b\nc\n\nx"


# --- outbound -----------------------------------------------------------------------------

THREAD = EmailThread(
    subject="RE: Re: My order", reply_to_message_id="<m1@example.com>", references=("<r0@x>",)
)
REPLIES = [
    BotReply(text="Sorry to hear that.\nI can help.\n\nWhat would you like?"),
    BotReply(
        text="Pick one:",
        buttons=(
            Button(title="Refund <all>", payload="/refund"),
            Button(title="Send a new one", payload="/resend"),
        ),
    ),
    BotReply(image="https://shop.test/label.png"),
]


def rendered(
    replies: list[BotReply] = REPLIES, thread: EmailThread = THREAD, **kwargs: str
) -> EmailMessage:
    return render_outbound(
        replies,
        thread=thread,
        from_address=SHOP,
        to_address="jose@example.com",
        message_id="<reply-1@shop.test>",
        from_name=kwargs.get("from_name", "Shop Support"),
        date=SENT_AT,
    )


def test_reply_headers() -> None:
    message = rendered()
    headers = {
        name: str(message[name])
        for name in ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References")
    }
    assert headers == {
        "From": "Shop Support <support@shop.test>",
        "To": "jose@example.com",
        "Subject": "Re: My order",
        "Date": "Mon, 06 May 2024 07:08:09 +0000",
        "Message-ID": "<reply-1@shop.test>",
        "In-Reply-To": "<m1@example.com>",
        "References": "<r0@x> <m1@example.com>",
    }
    assert message["Auto-Submitted"] == "auto-replied"
    assert message.get_content_type() == "multipart/alternative"


def test_reply_plain_body() -> None:
    plain = rendered().get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content() == (
        "Sorry to hear that.\nI can help.\n\nWhat would you like?\n\n"
        "Pick one:\n\n"
        "1. Refund <all>\n"
        "2. Send a new one\n\n"
        "Reply with the number of your choice.\n\n"
        "Image: https://shop.test/label.png\n"
    )


def test_reply_html_body_is_escaped() -> None:
    part = rendered().get_body(preferencelist=("html",))
    assert part is not None
    markup = part.get_content()
    assert "<p>Sorry to hear that.<br>I can help.</p>\n<p>What would you like?</p>" in markup
    assert "<ol><li>Refund &lt;all&gt;</li><li>Send a new one</li></ol>" in markup
    assert "<p>Reply with the number of your choice.</p>" in markup
    assert '<a href="https://shop.test/label.png">https://shop.test/label.png</a>' in markup
    assert "<all>" not in markup


def test_non_web_image_links_are_not_clickable() -> None:
    part = rendered([BotReply(image="javascript:alert(1)")]).get_body(preferencelist=("html",))
    assert part is not None
    assert "href" not in part.get_content()


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("", "Re: Your message"),
        ("Re:", "Re: Your message"),
        ("Re: RE: re[2]: Aw: Order", "Re: Order"),
        ("Fwd: Order", "Re: Fwd: Order"),
        ("Order\n  1234", "Re: Order 1234"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    thread = EmailThread(subject=subject, reply_to_message_id=None)
    message = rendered(thread=thread)
    assert message["Subject"] == expected
    assert "In-Reply-To" not in message
    assert "References" not in message


def test_long_message_ids_are_folded_not_encoded() -> None:
    thread = EmailThread(
        subject="Order", reply_to_message_id=OUTLOOK_ID, references=(f"<a{'x' * 60}@x>",) * 1
    )
    raw = rendered(thread=thread).as_bytes(policy=email.policy.SMTP)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "=?" not in head.split("Subject:")[0]
    assert f"In-Reply-To: {OUTLOOK_ID}\r\n" in head
    assert f"References: <a{'x' * 60}@x>\r\n {OUTLOOK_ID}\r\n" in head
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["References"]).split() == [f"<a{'x' * 60}@x>", OUTLOOK_ID]


def test_non_ascii_reply_round_trips() -> None:
    message = rendered([BotReply(text="Grüße, José!")], from_name="Équipe Support")
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    plain = parsed.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content() == "Grüße, José!\n"
    assert str(parsed["From"]) == "Équipe Support <support@shop.test>"


def test_references_are_capped() -> None:
    ids = tuple(f"<{n}@x>" for n in range(30))
    message = rendered(thread=EmailThread("Order", "<last@x>", ids))
    references = str(message["References"]).split()
    assert len(references) == 20
    assert references[0] == "<0@x>"
    assert references[-2:] == ["<29@x>", "<last@x>"]
