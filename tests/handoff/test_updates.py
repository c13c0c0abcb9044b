"""Proactive updates: a paid refund (the demo backend's payment run, or the HTTP backend's
signed webhook) and a complaint's new status are told to the customer on their preferred
channel with the case ID, once; an SMS opt-out is respected; nobody is told of a refund who
never talked to us."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from bot.business.demo.backend import DemoBusinessSystems
from bot.business.records import Money, Refund, RefundRequest, RefundStatus
from bot.core.db import Database
from bot.core.errors import install_error_handlers
from bot.core.models import AuditEvent, Channel, ComplaintStatus, Conversation, Message
from bot.core.store import complaints, customers
from handoff import business_events
from handoff.models import Agent
from handoff.updates import RefundPayouts
from tests.support.business_fakes import seeded_demo
from tests.support.verified import Desk, customer_writes, desk, handed_to, new_agent, verify

ALICE, BILAL = "C-10001", "C-10002"
ALICE_PHONE, ALICE_EMAIL = "+447700900001", "alice.morgan@example.com"
SECRET = "business-events-secret"


@pytest.fixture
async def services(tmp_path: Path, database: Database, database_url: str) -> AsyncIterator[Desk]:
    async with seeded_demo(tmp_path) as backend, desk(tmp_path, database_url, backend) as built:
        yield built


async def _approved_refund(desk: Desk, customer_ref: str, order_ref: str, minor: int) -> Refund:
    return await desk.backend.request_refund(
        RefundRequest(
            customer_ref=customer_ref,
            order_ref=order_ref,
            amount=Money(minor, "GBP"),
            reason="arrived broken",
            approved=True,
            decided_by="policy:auto",
        )
    )


async def _alice_on_webchat(database: Database) -> int:
    """Alice writes on web chat and proves who she is; her conversation's id."""
    conversation_id = await customer_writes(database, Channel.WEBCHAT, "alice-app-user")
    await verify(database, conversation_id, ALICE, via="sms")
    return conversation_id


async def _payouts(desk: Desk) -> RefundPayouts:
    assert isinstance(desk.backend, DemoBusinessSystems)
    return RefundPayouts(desk.backend, desk.handoff.updates)


async def test_a_paid_refund_is_told_on_the_preferred_channel_once(
    services: Desk, database: Database
) -> None:
    conversation_id = await _alice_on_webchat(database)
    refund = await _approved_refund(services, ALICE, "ORD-100001", 1500)
    payouts = await _payouts(services)
    assert await payouts.run_once() >= 1
    # Alice prefers SMS: the update goes to the number on her record, with the case ID.
    (sms,) = services.pushed.on(Channel.SMS)
    assert sms.address == ALICE_PHONE
    (text,) = sms.texts
    assert refund.ref in text and "£15.00" in text and "ORD-100001" in text
    assert services.pushed.on(Channel.WEBCHAT) == []
    # Stored like every reply (so it is resent if the channel was down), in her conversation.
    async with database.session() as session:
        stored = await session.get_one(Message, sms.message_ids[0])
        assert stored.conversation_id == conversation_id
        assert stored.payload["custom"]["refund_ref"] == refund.ref
    # Paid once, told once: another run, or the same event again, says nothing more.
    assert await payouts.run_once() == 0
    paid = [r for r in await services.backend.refunds(ALICE) if r.ref == refund.ref]
    assert paid[0].status is RefundStatus.PAID
    assert await services.handoff.updates.refund_paid(paid[0]) is None
    assert len(services.pushed.on(Channel.SMS)) == 1


async def test_an_sms_opt_out_is_respected(services: Desk, database: Database) -> None:
    await _alice_on_webchat(database)
    async with database.session() as session:
        await customers.set_opt_out(
            session=session, channel=Channel.SMS, address=ALICE_PHONE, opted_out=True
        )
    refund = await _approved_refund(services, ALICE, "ORD-100001", 1000)
    await (await _payouts(services)).run_once()
    assert services.pushed.on(Channel.SMS) == []
    # She is told where she last wrote instead.
    (told,) = services.pushed.on(Channel.WEBCHAT)
    assert told.address == "alice-app-user"
    assert refund.ref in told.texts[0]


async def test_nobody_is_told_who_never_talked_to_us(services: Desk) -> None:
    # Bilal is in the business systems but never wrote to the assistant.
    await _approved_refund(services, BILAL, "ORD-100003", 1000)
    assert await (await _payouts(services)).run_once() >= 1
    assert services.pushed.sent == []


async def test_a_complaint_status_change_is_told_with_its_case_id(
    services: Desk, database: Database
) -> None:
    conversation_id = await customer_writes(database, Channel.EMAIL, "someone@example.com")
    async with database.session() as session:
        conversation = await session.get_one(Conversation, conversation_id)
        complaint = await complaints.open_complaint(
            session=session,
            customer_id=conversation.customer_id,
            conversation_id=conversation_id,
            channel=Channel.EMAIL,
            category="late_delivery",
            description="still waiting",
        )
    agent_id, _ = await new_agent(database)
    handoff_id = await handed_to(database, conversation_id, agent_id)
    async with database.session() as session:
        agent = await session.get_one(Agent, agent_id)
    actions = services.handoff.customer_actions
    changed, told = await actions.set_complaint_status(
        agent, handoff_id, complaint.case_id, ComplaintStatus.OPEN
    )
    assert changed.status is ComplaintStatus.OPEN and told
    (mail,) = services.pushed.on(Channel.EMAIL)
    assert mail.address == "someone@example.com"
    assert complaint.case_id in mail.texts[0] and "being worked on" in mail.texts[0]
    # The same status again changes nothing and says nothing.
    _, again = await actions.set_complaint_status(
        agent, handoff_id, complaint.case_id, ComplaintStatus.OPEN
    )
    assert not again and len(services.pushed.on(Channel.EMAIL)) == 1


def _webhook_app(desk: Desk, secret: str | None) -> FastAPI:
    app = FastAPI()
    app.include_router(business_events.router)
    install_error_handlers(app)
    settings = desk.core.settings
    if secret is not None:
        settings = settings.model_copy(update={"business_webhook_secret": SecretStr(secret)})
    app.state.settings = settings
    app.state.business = desk.backend
    app.state.customer_updates = desk.handoff.updates
    return app


async def test_the_http_backends_signed_webhook_tells_the_customer(
    services: Desk, database: Database
) -> None:
    await _alice_on_webchat(database)
    refund = await _approved_refund(services, ALICE, "ORD-100001", 1200)
    assert isinstance(services.backend, DemoBusinessSystems)
    await services.backend.pay_due_refunds()
    body = json.dumps(
        {"type": "refund.paid", "refund_ref": refund.ref, "customer_ref": ALICE}
    ).encode()
    transport = httpx.ASGITransport(app=_webhook_app(services, SECRET))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        url = "/business/events"
        forged = {business_events.SIGNATURE_HEADER: business_events.sign(body, "not-the-secret")}
        for headers in ({}, forged):
            refused = await http.post(url, content=body, headers=headers)
            assert refused.status_code == 403
            assert set(refused.json()) == {"code", "detail"}
        assert services.pushed.sent == []
        signed = {business_events.SIGNATURE_HEADER: business_events.sign(body, SECRET)}
        first = await http.post(url, content=body, headers=signed)
        assert first.json() == {"status": "notified"}
        again = await http.post(url, content=body, headers=signed)
        assert again.json() == {"status": "not_notified"}
    (sms,) = services.pushed.on(Channel.SMS)
    assert refund.ref in sms.texts[0]
    async with database.session() as session:
        told = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "customer.told_refund_paid")
        )
        assert [e.entity_id for e in told] == [refund.ref]


async def test_without_a_secret_every_event_is_refused(services: Desk) -> None:
    body = b'{"type": "refund.paid", "refund_ref": "RF-1", "customer_ref": "C-10001"}'
    transport = httpx.ASGITransport(app=_webhook_app(services, None))
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        signed = {business_events.SIGNATURE_HEADER: business_events.sign(body, "")}
        response = await http.post("/business/events", content=body, headers=signed)
    assert response.status_code == 403
