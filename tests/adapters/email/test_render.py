"""A turn's replies rendered as one mail in the customer's thread, asserted on exact text and
headers."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from adapters.email.render import render_outbound
from adapters.email.thread import EmailThread
from bot.core.messages import BotReply, Button

SHOP = "support@shop.test"
SENT_AT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
OUTLOOK_ID = "<DM6PR11MB4657E5B0B2E3D7AB21F1C8C3C9A12@DM6PR11MB4657.namprd11.prod.outlook.com>"
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
    """The replies as the mail sent to Jose at SENT_AT."""
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
