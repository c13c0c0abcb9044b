"""Sending mails through one SMTP server, and what a failed send means (permanent or not)."""

from __future__ import annotations

import ssl
from email.message import EmailMessage

import aiosmtplib
import structlog

from adapters.email.errors import EmailDeliveryError
from bot.core.settings import Settings

log = structlog.get_logger("adapters.email")


class SmtpSender:
    """Sends mails through one SMTP server (a new connection per mail)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool | None = False,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if use_tls and start_tls:
            raise ValueError("use_tls (implicit TLS, port 465) and start_tls exclude each other")
        self._host, self._port = host, port
        self._user, self._password = user or None, password or None
        self._use_tls, self._start_tls = use_tls, start_tls
        self._timeout = timeout
        self._tls_context = tls_context

    async def send(self, message: EmailMessage) -> None:
        """Send `message` to its To/Cc/Bcc; raises EmailDeliveryError if not accepted."""
        try:
            refused, _ = await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._user,
                password=self._password if self._user else None,
                use_tls=self._use_tls,
                start_tls=self._start_tls,
                timeout=self._timeout,
                tls_context=self._tls_context,
            )
        except (aiosmtplib.SMTPException, OSError, ValueError) as error:
            raise _delivery_error(error) from error
        if refused:
            # Others took it: sending again would duplicate it for them.
            log.warning("smtp_recipients_refused", refused=len(refused))  # addresses stay out


def _delivery_error(error: Exception) -> EmailDeliveryError:
    """What a failed send means: permanent for 5xx answers and unsendable messages."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in error.recipients]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        return EmailDeliveryError(
            f"recipients refused: {detail}", permanent=permanent, code=codes[0] if codes else None
        )
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        # Wrong credentials are the server's configuration, not this mail's fault.
        return EmailDeliveryError(
            f"SMTP login refused: {error.code} {error.message}", permanent=False, code=error.code
        )
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return EmailDeliveryError(
            f"SMTP server said {error.code} {error.message}",
            permanent=500 <= error.code < 600,
            code=error.code,
        )
    if isinstance(error, aiosmtplib.SMTPNotSupported | ValueError):
        return EmailDeliveryError(f"the mail cannot be sent: {error}", permanent=True)
    return EmailDeliveryError(f"SMTP server unavailable: {error!r}", permanent=False)


def smtp_sender_from(settings: Settings) -> SmtpSender:
    """The SMTP sender the settings describe."""
    security = settings.smtp_security
    return SmtpSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        user=settings.smtp_user or None,
        password=settings.smtp_password.get_secret_value() or None,
        use_tls=security == "tls",
        start_tls=security == "starttls",
    )
