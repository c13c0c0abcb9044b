"""Fixtures of the email tests: sample customer mails and how the channel reads them, and
real mail servers (Dovecot for IMAP, aiosmtpd for SMTP) on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.email.parse import ParsedEmail, parse_inbound
from tests.support.mail import DovecotServer, SmtpCapture, dovecot_server, smtp_server

ALLOWED = frozenset({"image/png", "application/pdf"})
LIMIT = 1024
SHOP = "support@shop.test"


def build_raw_mail(body: str | bytes, *, headers: str = "", content_type: str = "") -> bytes:
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


def parse_mail(raw: bytes) -> ParsedEmail:
    """`raw` read as the channel reads it (PNG and PDF attachments up to 1 KB accepted)."""
    return parse_inbound(raw, max_attachment_bytes=LIMIT, allowed_attachment_types=ALLOWED)


def text_of_mail(body: str | bytes, *, headers: str = "", content_type: str = "") -> str:
    """The customer's text the channel reads in a minimal mail with this body."""
    return parse_mail(build_raw_mail(body, headers=headers, content_type=content_type)).text


@pytest.fixture
def raw_mail() -> Callable[..., bytes]:
    """`raw_mail(body, headers="", content_type="")`: a minimal mail from Jose."""
    return build_raw_mail


@pytest.fixture
def parse() -> Callable[[bytes], ParsedEmail]:
    """`parse(raw)`: a raw mail read as the channel reads it."""
    return parse_mail


@pytest.fixture
def text_of() -> Callable[..., str]:
    """`text_of(body, headers="", content_type="")`: the text read in a minimal mail."""
    return text_of_mail


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[DovecotServer]:
    """A Dovecot IMAP server with one empty mailbox, for this test only."""
    with dovecot_server(tmp_path) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpCapture]:
    """An SMTP server that keeps what it receives."""
    with smtp_server() as capture:
        yield capture
