"""How one-time codes reach a customer: by SMS through Twilio, by email through SMTP, to the
phone number or address on their record. The code's text is never logged or stored."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from adapters.email.smtp import SmtpSender, smtp_sender_from
from adapters.twilio.rest import TwilioRest
from bot.core.models import utcnow
from bot.core.settings import Settings


class CodeNotSent(RuntimeError):
    """The channel for the code is not configured."""


class ChannelCodeSender:
    """Sends codes with the channels the settings configure. With the demo business systems
    and no provider configured (the embedded default), a code for a demo customer is put in
    the local outbox `var/outbox/` instead, so verification can be tried out of the box."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._twilio: TwilioRest | None = None
        self._smtp: SmtpSender | None = smtp_sender_from(settings) if settings.smtp_host else None

    async def send_sms(self, to: str, text: str) -> None:
        """Text the code from the company's number."""
        settings = self._settings
        if not settings.twilio_enabled:
            self._to_demo_outbox("sms", to, text, missing="TWILIO_ACCOUNT_SID")
            return
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
            self._to_demo_outbox("email", to, text, missing="SMTP_HOST")
            return
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

    def _to_demo_outbox(self, via: str, to: str, text: str, *, missing: str) -> None:
        if self._settings.business_backend != "demo":
            raise CodeNotSent(f"{via} is not configured ({missing})")
        outbox = self._settings.var_dir / "outbox"
        outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Only demo records' addresses get here; still, nothing but a plain file name.
        name = re.sub(r"[^\w@.+-]", "_", to.strip().lower()).lstrip(".")
        path = outbox / f"{via}-{name}.txt"
        path.touch(mode=0o600)
        with path.open("a", encoding="utf-8") as file:
            file.write(f"{utcnow():%Y-%m-%d %H:%M:%S} UTC  {text}\n")
