"""The customer's own words in a mail: HTML and format=flowed read as text, quoted replies
and signatures stripped, any charset decoded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from adapters.email.body import html_to_text

TextOf = Callable[..., str]


def test_html_only_mail_becomes_text(text_of: TextOf) -> None:
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


def test_format_flowed_lines_are_rejoined(text_of: TextOf) -> None:
    body = "This line was wrapped \nby the mail client.\n\n-- \nJose\n"
    text = text_of(body, content_type="text/plain; charset=utf-8; format=flowed")
    assert text == "This line was wrapped by the mail client."
    delsp = text_of(
        "Gemein\nsam.\n".replace("\n", " \n", 1),
        content_type=("text/plain; charset=utf-8; format=flowed; delsp=yes"),
    )
    assert delsp == "Gemeinsam."


# --- quoted replies and signatures --------------------------------------------------------


def test_gmail_quote_is_stripped(text_of: TextOf) -> None:
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


def test_gmail_html_quote_is_stripped(text_of: TextOf) -> None:
    html = (
        '<div dir="ltr">Yes, the blue one.</div><br>'
        '<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">'
        "On Mon, Jan 1, 2024 at 10:00 AM Shop Support &lt;support@shop.test&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote">Which colour?<div>nested</div></blockquote></div>'
        '<div class="gmail_signature">Jose | ACME</div>'
    )
    assert text_of(html, content_type="text/html; charset=utf-8") == "Yes, the blue one."


def test_line_before_a_quote_header_is_kept(text_of: TextOf) -> None:
    body = (
        "On Monday my parcel was late\n"
        "On Mon, Jan 1, 2024 at 10:00 AM Shop <support@shop.test> wrote:\n"
        "> Sorry about that.\n"
    )
    assert text_of(body) == "On Monday my parcel was late"


def test_outlook_quote_is_stripped(text_of: TextOf) -> None:
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
def test_outlook_original_message_blocks_are_stripped(separator: str, text_of: TextOf) -> None:
    body = f"Please cancel it.\n\n{separator}\nYour order has shipped.\n"
    assert text_of(body) == "Please cancel it."


def test_apple_mail_quote_and_mobile_signature_are_stripped(text_of: TextOf) -> None:
    body = (
        "Sure, Tuesday works.\n\n"
        "Sent from my iPhone\n\n"
        "> On 1 Jan 2024, at 10:00, Shop Support <support@shop.test> wrote:\n"
        ">\n"
        "> Can we come on Tuesday?\n"
    )
    assert text_of(body) == "Sure, Tuesday works."


def test_apple_mail_html_quote_is_stripped(text_of: TextOf) -> None:
    html = (
        "<html><body><div>Sure, Tuesday works.</div><div><br>"
        '<blockquote type="cite"><div>On 1 Jan 2024, at 10:00, Shop wrote:</div>'
        "<div>Can we come on Tuesday?</div></blockquote></div></body></html>"
    )
    assert text_of(html, content_type="text/html") == "Sure, Tuesday works."


def test_answers_between_quoted_lines_are_kept(text_of: TextOf) -> None:
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
def test_customer_saying_wrote_is_not_a_quote_header(body: str, text_of: TextOf) -> None:
    assert text_of(body) == body


def test_signature_is_stripped(text_of: TextOf) -> None:
    body = "Where is my parcel?\n\n-- \nJose Garcia\nACME Corp | +1 555 0100\n"
    assert text_of(body) == "Where is my parcel?"


@pytest.mark.parametrize(
    "line",
    ["Sent from my iPhone", "Sent from my Galaxy", "Get Outlook for Android", "Sent from Mail"],
)
def test_mobile_signatures_are_stripped(line: str, text_of: TextOf) -> None:
    assert text_of(f"Call me back please.\n\n{line}\n") == "Call me back please."


# --- encodings ----------------------------------------------------------------------------


def test_latin1_body(text_of: TextOf) -> None:
    body = "Caf\xe9 cr\xe8me, \xa3 5\n".encode("iso-8859-1")
    text = text_of(body, content_type="text/plain; charset=iso-8859-1")
    assert text == "Café crème, £ 5"


def test_latin1_label_is_read_as_windows_1252(text_of: TextOf) -> None:
    body = "\u201cquoted\u201d \u2013 ok\n".encode("cp1252")
    assert text_of(body, content_type="text/plain; charset=iso-8859-1") == "“quoted” – ok"


def test_wrong_declared_charset_does_not_crash(text_of: TextOf) -> None:
    body = "Caf\xe9 au lait\n".encode("iso-8859-1")
    assert text_of(body, content_type="text/plain; charset=utf-8") == "Café au lait"


def test_unknown_charset_and_undeclared_utf8(text_of: TextOf) -> None:
    body = "Grüße aus Köln\n".encode()
    assert text_of(body, content_type="text/plain; charset=x-no-such-charset") == "Grüße aus Köln"
    assert text_of(body, content_type="text/plain; charset=us-ascii") == "Grüße aus Köln"
    assert text_of(body) == "Grüße aus Köln"


def test_undecodable_bytes_are_replaced(text_of: TextOf) -> None:
    text = text_of(b"bad \x81 byte\n", content_type="text/plain; charset=utf-8")
    assert text == "bad \ufffd byte"


def test_html_to_text_keeps_preformatted_text() -> None:
    assert html_to_text("<pre>a  b\n  c</pre><p>x</p>") == "a  b\nc\n\nx"
