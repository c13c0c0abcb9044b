"""Resending a receipt from the console: a PDF attached to a mail to the address on the
customer's record (through a real SMTP server), or a short text on their channel when the
record has no email; stored like every reply and audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.contract import ChannelContext
from adapters.email.channel import EmailChannel
from adapters.email.smtp import SmtpSender
from bot.business.records import Money, Payment, PaymentMethod
from bot.core.db import Database
from bot.core.models import Attachment, AuditEvent, Channel
from handoff.models import Agent
from tests.support.business_fakes import NOW, sample, seeded_demo
from tests.support.mail import SmtpCapture, smtp_server
from tests.support.verified import Desk, customer_writes, desk, handed_to, new_agent, verify

ALICE_EMAIL = "alice.morgan@example.com"


@pytest.fixture
def smtp() -> Iterator[SmtpCapture]:
    """An SMTP server that keeps what it receives."""
    with smtp_server() as capture:
        yield capture


async def _alices_conversation(desk: Desk, database: Database) -> tuple[Agent, int]:
    """Alice on SMS, verified, with an agent; the agent and the handoff's id."""
    conversation_id = await customer_writes(database, Channel.SMS, "+447700900001")
    await verify(database, conversation_id, "C-10001")
    agent_id, _ = await new_agent(database)
    handoff_id = await handed_to(database, conversation_id, agent_id)
    async with database.session() as session:
        return await session.get_one(Agent, agent_id), handoff_id


def _mail_through(desk: Desk, smtp: SmtpCapture) -> None:
    core = desk.core
    context = ChannelContext(
        core.settings, core.database, core.pipeline, core.background, core.attachments,
        core.rate_limits,
    )  # fmt: skip
    email = EmailChannel(context, sender=SmtpSender(host=smtp.host, port=smtp.port))
    core.deliveries.register(Channel.EMAIL, email.push, resend_pending=True)


async def test_a_receipt_is_stored_with_its_pdf_and_audited(
    tmp_path: Path, database: Database, database_url: str
) -> None:
    async with seeded_demo(tmp_path) as backend, desk(tmp_path, database_url, backend) as built:
        agent, handoff_id = await _alices_conversation(built, database)
        resent = await built.handoff.customer_actions.resend_receipt(
            agent, handoff_id, "PAY-100001"
        )
        assert (resent.notice.channel, resent.attached_pdf, resent.delivered) == (
            Channel.EMAIL,
            True,
            True,
        )
        (mail,) = built.pushed.on(Channel.EMAIL)
        assert mail.address == ALICE_EMAIL
        assert "PAY-100001" in mail.texts[0]
        async with database.session() as session:
            (attached,) = await session.scalars(
                select(Attachment).where(Attachment.message_id == resent.notice.reply.message_id)
            )
            (entry,) = await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "receipt.resent")
            )
        assert (attached.content_type, attached.filename) == (
            "application/pdf",
            "receipt-PAY-100001.pdf",
        )
        assert (await built.core.attachments.read(attached.storage_ref)).startswith(b"%PDF")
        assert entry.entity_id == "PAY-100001"
        assert entry.actor == f"agent:{agent.id}"
        assert entry.details["amount_minor"] == 3250
        assert entry.details["channel"] == "email"
        assert entry.details["rule"] == "agent_action"


async def test_a_receipt_is_mailed_as_a_pdf_attachment(
    tmp_path: Path, database: Database, database_url: str, smtp: SmtpCapture
) -> None:
    async with seeded_demo(tmp_path) as backend, desk(tmp_path, database_url, backend) as built:
        _mail_through(built, smtp)
        agent, handoff_id = await _alices_conversation(built, database)
        await built.handoff.customer_actions.resend_receipt(agent, handoff_id, "PAY-100001")
        (received,) = smtp.wait_for(1)
    assert received.message["To"] == ALICE_EMAIL
    (pdf,) = list(received.message.iter_attachments())
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == "receipt-PAY-100001.pdf"
    assert pdf.get_content().startswith(b"%PDF")


async def test_without_an_email_on_record_a_short_text_goes_on_their_channel(
    tmp_path: Path, database: Database, database_url: str
) -> None:
    # Bob (C-2) has no email on his record.
    backend = sample()
    payment = Payment("PAY-200001", "C-2", None, NOW, Money(1999, "EUR"), PaymentMethod.PAYPAL)
    backend.payments_by_ref[payment.ref] = payment
    async with desk(tmp_path, database_url, backend) as built:
        conversation_id = await customer_writes(database, Channel.SMS, "+447700900002")
        await verify(database, conversation_id, "C-2")
        agent_id, _ = await new_agent(database)
        handoff_id = await handed_to(database, conversation_id, agent_id)
        async with database.session() as session:
            agent = await session.get_one(Agent, agent_id)
        resent = await built.handoff.customer_actions.resend_receipt(
            agent, handoff_id, "PAY-200001"
        )
    assert (resent.notice.channel, resent.attached_pdf) == (Channel.SMS, False)
    assert built.pushed.on(Channel.EMAIL) == []
    (text,) = built.pushed.on(Channel.SMS)
    assert text.address == "+447700900002"
    assert "PAY-200001" in text.texts[0] and "€19.99" in text.texts[0]
