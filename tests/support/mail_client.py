"""A customer's mail client in end-to-end tests: mails written as a mail client writes them
to the support address, and the assistant's answers as the SMTP server received them."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import make_msgid

from tests.support.mail import DovecotServer, ReceivedMail, SmtpCapture
from tests.support.stack import SUPPORT_ADDRESS
from tests.support.waiting import wait_for

MAIL_TIMEOUT = 60.0


def customer_mail(
    sender: str,
    subject: str,
    body: str,
    *,
    in_reply_to: str | None = None,
    references: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """A mail as a customer's mail client writes it."""
    mail = EmailMessage()
    mail["From"] = f"Ana Lima <{sender}>"
    mail["To"] = SUPPORT_ADDRESS
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or make_msgid(domain="mail.example.net")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = references or in_reply_to
    mail.set_content(body)
    return mail


def answers_to(smtp: SmtpCapture, sender: str) -> list[ReceivedMail]:
    """Every mail the assistant sent to `sender` so far, oldest first."""
    return [m for m in smtp.received if sender in m.envelope_to]


async def answer_to(smtp: SmtpCapture, sender: str, count: int) -> ReceivedMail:
    """The `count`-th mail the assistant sent to `sender` (1-based), waiting for it."""

    async def sent() -> list[ReceivedMail]:
        answers = answers_to(smtp, sender)
        return answers if len(answers) >= count else []

    answers = await wait_for(sent, timeout=MAIL_TIMEOUT, what=f"answer number {count} to {sender}")
    return answers[count - 1]


def text_of(mail: ReceivedMail) -> str:
    """The plain-text body of a received mail."""
    part = mail.message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def wait_until_handled(imap: DovecotServer, *uids: int) -> None:
    """Wait until the app's mailbox poller has handled the mails with these UIDs (it flags a
    mail \\Seen only once the app is done with it: stored, and answered if it answers)."""

    async def handled() -> bool:
        flags = await asyncio.to_thread(imap.flags)
        return all("\\Seen" in flags.get(uid, set()) for uid in uids)

    await wait_for(handled, timeout=MAIL_TIMEOUT, what=f"mails {uids} handled by the poller")


async def wait_until_all_seen(imap: DovecotServer) -> None:
    """Wait until every mail in the inbox is flagged \\Seen by the app's poller."""

    async def handled() -> bool:
        flags = await asyncio.to_thread(imap.flags_of_all)
        return bool(flags) and all("\\Seen" in f for f in flags)

    await wait_for(handled, timeout=MAIL_TIMEOUT, what="every mail in the inbox handled")
