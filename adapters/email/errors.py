"""What goes wrong talking to mail servers."""

from __future__ import annotations


class EmailTransportError(Exception):
    """The mail server could not be reached, refused us, or broke off."""


class EmailDeliveryError(EmailTransportError):
    """A mail was not sent; `permanent` when sending it again cannot help (e.g. 5xx)."""

    def __init__(self, reason: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.code = code
