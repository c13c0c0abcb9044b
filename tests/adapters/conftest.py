"""Fixtures of the adapter tests: real mail servers on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mail import DovecotServer, SmtpCapture, dovecot_server, smtp_server


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
