"""How one-time codes reach a customer: by SMS through Twilio, by email through SMTP, to the
phone number or address on their record. The code's text is never logged or stored."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from adapters.email.smtp import SmtpSender, smtp_sender_from
from adapters.twilio.rest import TwilioRest
from bot.core.settings import Settings


class CodeNotSent(RuntimeError):
    """The channel for the code is not configured."""


class ChannelCodeSender:
    """Sends codes with the channels the settings configure."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._twilio: TwilioRest | None = None
        self._smtp: SmtpSender | None = smtp_sender_from(settings) if settings.smtp_host else None

    async def send_sms(self, to: str, text: str) -> None:
        """Text the code from the company's number."""
        settings = self._settings
        if not settings.twilio_enabled:
            raise CodeNotSent("SMS is not configured (TWILIO_ACCOUNT_SID)")
        if self._twilio is None:
            self._twilio = TwilioRest(
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token.get_secret_value(),
                api_base_url=settings.twilio_api_base_url,
            )
        await self._twilio.send_sms(to=to, from_=settings.twilio_phone_number, body=text)

    async def send_email(self, to: str, subject: str, text: str) -> None:
        """Mail the code from the company's address."""
        if self._smtp is None:
            raise CodeNotSent("email is not configured (SMTP_HOST)")
        settings = self._settings
        message = EmailMessage()
        message["From"] = formataddr((settings.email_from_name, settings.email_from_address))
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=settings.email_from_address.partition("@")[2])
        # Automatic replies must not answer a code mail (RFC 3834).
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text)
        await self._smtp.send(message)
