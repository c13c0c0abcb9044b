"""One customer across channels: a customer the company knows texts, then emails, and is
recognised as the same person with one history (seen by the store, the CLI and web chat)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import AuditEvent, Channel, ChannelIdentity, Direction, utcnow
from bot.core.store.history import customer_history
from handoff.auth import issue_token
from handoff.store.agents import create_agent
from tests.support.mail_client import answer_to, customer_mail
from tests.support.phone import phone_texting
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

PHONE = "+14155558801"
EMAIL = "grace.hopper@mail.example.net"


async def test_sms_then_email_is_one_customer_with_one_history(stack: Stack, db: Database) -> None:
    added = stack.cli("customer", "--name", "Grace Hopper", "--phone", PHONE, "--email", EMAIL)
    assert "Grace Hopper" in added
    async with httpx.AsyncClient(timeout=60) as http:
        phone = phone_texting(stack, db, http, PHONE)
        assert await phone.text("what are your opening hours?")
    stack.imap.append(customer_mail(EMAIL, "Returns", "How do I return an item?").as_bytes())
    await answer_to(stack.smtp, EMAIL, 1)

    async with db.session() as session:
        identities = list(
            await session.scalars(
                select(ChannelIdentity).where(ChannelIdentity.address.in_([PHONE, EMAIL]))
            )
        )
        (customer_id,) = {i.customer_id for i in identities}
        history = await customer_history(session=session, customer_id=customer_id)
        linked = list(
            await session.scalars(
                select(AuditEvent.details).where(
                    AuditEvent.action == "identity.linked",
                    AuditEvent.entity_id == str(customer_id),
                )
            )
        )
    assert {(i.channel, i.verified) for i in identities} == {
        (Channel.SMS, False),
        (Channel.EMAIL, False),
    }
    assert len(linked) == 2
    # Newest first, each message labelled with its channel: the email turn, then the SMS one.
    channels = [m.channel for m in history]
    assert channels[0] is Channel.EMAIL and channels[-1] is Channel.SMS
    assert [m.text for m in history if m.direction is Direction.INBOUND] == [
        "How do I return an item?",
        "what are your opening hours?",
    ]

    said = [line for line in stack.cli("history", "--phone", PHONE).splitlines() if "<-" in line]
    assert said[0].endswith("[email  ] <- 'How do I return an item?'")
    assert said[-1].endswith("[sms    ] <- 'what are your opening hours?'")

    # Asking for a person: the action sees (and hands on) the history on both channels.
    async with httpx.AsyncClient(timeout=60) as http:
        phone = phone_texting(stack, db, http, PHONE)
        replies = await phone.text("can I talk to a real person please")
    assert (
        replies[-1]
        == "Whoever picks this up will see your whole history with us, by SMS and email."
    )
    async with db.session() as session:
        request = await session.scalar(
            select(AuditEvent)
            .where(AuditEvent.action == "handoff.queued")
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
    assert request is not None
    assert request.details["messages_by_channel"] == {"sms": 2, "email": 1}

    # The agent who opens it sees both conversations, and what the assistant understood of
    # the messages in each (read from Rasa's tracker of each conversation).
    async with db.session() as session:
        agent = await create_agent(
            session=session,
            email="grace-agent@shop.example",
            display_name="Ada",
            password_hash="x",
            skills=["general"],
        )
    secret = stack.settings.agent_token_secret.get_secret_value()
    token = issue_token(agent.id, secret=secret, now=utcnow(), lifetime=timedelta(hours=1))
    handoff_id = request.details["handoff_id"]
    async with httpx.AsyncClient(timeout=60) as http:
        view = await http.get(
            f"{stack.app_url}/agent/conversations/{handoff_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert view.status_code == 200, view.text
    context = view.json()
    assert sorted(c["channel"] for c in context["conversations"]) == ["email", "sms"]
    understood = {m["text"]: m["intent"] for m in context["transcript"] if m["from"] == "customer"}
    assert understood == {
        "what are your opening hours?": "hours_of_operation",
        "How do I return an item?": "return_policy",
        "can I talk to a real person please": "request_human",
    }
