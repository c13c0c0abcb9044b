"""Agents taking over, end to end: an agent signs in, sees a customer waiting with the whole
story, takes the conversation and answers on the customer's own channel (web chat, SMS),
the assistant stays quiet meanwhile, and answers again once the agent resolves it."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.core.db import Database
from bot.core.intents import LocalIntent
from bot.core.models import AuditEvent, Conversation, ConversationStatus, Message, utcnow
from handoff.auth import issue_token
from handoff.models import CsatResponse, Handoff
from tests.support.chat import ChatClient
from tests.support.lookups import handoff_of
from tests.support.phone import phone_texting
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

PASSWORD = "s3cure-enough-pass"


def _add_agent(stack: Stack, email: str, skills: str) -> None:
    stack.cli(
        "agent",
        *("--email", email, "--name", email.split("@")[0], "--skills", skills),
        *("--capacity", "2"),
        extra_env={"AGENT_PASSWORD": PASSWORD},
    )


async def _sign_in(http: httpx.AsyncClient, stack: Stack, email: str) -> dict[str, str]:
    response = await http.post(
        f"{stack.app_url}/agent/login", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture(scope="module")
def agents(stack: Stack) -> tuple[str, str]:
    """Two agents: Sam (general help) and Robin (orders only)."""
    _add_agent(stack, "sam@shop.example", "general")
    _add_agent(stack, "robin@shop.example", "orders")
    return "sam@shop.example", "robin@shop.example"


async def test_an_agent_takes_over_a_web_chat_and_gives_it_back(
    stack: Stack, db: Database, http: httpx.AsyncClient, agents: tuple[str, str]
) -> None:
    sam, robin = agents
    wrong = await http.post(
        f"{stack.app_url}/agent/login", json={"email": sam, "password": "not-it"}
    )
    assert wrong.status_code == 401
    headers = await _sign_in(http, stack, sam)
    async with ChatClient(stack.ws_url) as chat:
        await chat.say("can I talk to a real person please")
        handoff = await handoff_of(db, chat.visitor_id)
        url = f"{stack.app_url}/agent/conversations/{handoff.id}"

        inbox = (await http.get(f"{stack.app_url}/agent/inbox", headers=headers)).json()
        assert handoff.id in [item["id"] for item in inbox["queued"]]
        context = (await http.get(url, headers=headers)).json()
        assert context["handoff"]["queue"] == "support.general"
        assert [m["text"] for m in context["transcript"] if m["from"] == "customer"] == [
            "can I talk to a real person please"
        ]
        # Robin serves orders only: this conversation is not his to see.
        robin_headers = await _sign_in(http, stack, robin)
        assert (await http.get(url, headers=robin_headers)).status_code == 403

        taken = await http.post(f"{url}/take", headers=headers)
        assert taken.json()["status"] == "assigned"
        # On web chat the customer sees who has joined, at once.
        (joined,) = await chat.replies()
        assert (joined["text"], joined["agent"]) == (
            "sam from our General help team has joined the conversation.",
            "sam",
        )
        answer = await http.post(
            f"{url}/reply", headers=headers, json={"text": "Hi, I'm Sam. How can I help?"}
        )
        assert answer.json()["delivered"] is True
        (pushed,) = await chat.replies()
        assert (pushed["text"], pushed["agent"]) == ("Hi, I'm Sam. How can I help?", "sam")

        # While Sam has it, the assistant does not answer; the message is Sam's to read.
        assert await chat.say("my refund has not arrived") == []
        forbidden = await http.post(f"{url}/reply", headers=robin_headers, json={"text": "hi"})
        assert forbidden.status_code == 403

        resolved = await http.post(f"{url}/resolve", headers=headers)
        assert resolved.json()["status"] == "resolved"
        # The assistant is back, and asks for a rating of the help, one statement at a time.
        (first,) = await chat.replies()
        assert first["text"] == (
            "Before you go, three quick statements. Reply with a number from 1 (disagree) "
            "to 5 (agree).\n1/3: The person who helped me understood my problem."
        )
        assert (await chat.say("4"))[0]["text"] == "2/3: My problem was solved."
        assert (await chat.say("5."))[0]["text"].startswith("3/3: ")
        assert (await chat.say("3"))[0]["text"].startswith("Thank you for your answers")
        back = await chat.say("what are your opening hours?")
        assert "Monday to Friday" in back[0]["text"]

    async with db.session() as session:
        conversation = await session.get_one(Conversation, handoff.conversation_id)
        quiet = await session.scalar(
            select(Message).where(Message.text == "my refund has not arrived")
        )
        ratings = list(
            await session.scalars(
                select(CsatResponse)
                .where(CsatResponse.handoff_id == handoff.id)
                .order_by(CsatResponse.statement)
            )
        )
        agent_id = (await session.get_one(Handoff, handoff.id)).agent_id
        audited = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.actor.like("agent:%"))
                .order_by(AuditEvent.id)
            )
        )
    assert conversation.status is ConversationStatus.ACTIVE
    assert conversation.survey_handoff_id is None
    assert [(r.statement, r.score, r.agent_id) for r in ratings] == [
        (0, 4, agent_id),
        (1, 5, agent_id),
        (2, 3, agent_id),
    ]
    assert quiet is not None and quiet.intent == LocalIntent.FOR_AGENT
    for action in ("agent.login", "agent.viewed_customer", "handoff.taken", "agent.replied"):
        assert action in audited


async def test_the_agent_sees_what_the_assistant_understood_and_it_resumes_afresh(
    stack: Stack, db: Database, http: httpx.AsyncClient, agents: tuple[str, str]
) -> None:
    headers = await _sign_in(http, stack, agents[0])
    async with ChatClient(stack.ws_url) as chat:
        await chat.say("I'd like to speak to a person")
        handoff = await handoff_of(db, chat.visitor_id)
        # Still waiting: the customer starts a complaint with the assistant meanwhile.
        replies = await chat.say("I want to file a complaint, my parcel arrived damaged")
        assert "order number" in replies[-1]["text"]
        url = f"{stack.app_url}/agent/conversations/{handoff.id}"
        context = (await http.get(url, headers=headers)).json()
        said = {m["text"]: m for m in context["transcript"] if m["from"] == "customer"}
        complaint = said["I want to file a complaint, my parcel arrived damaged"]
        assert complaint["intent"] == "file_complaint"
        assert 0 < complaint["confidence"] <= 1
        assert said["I'd like to speak to a person"]["intent"] == "request_human"
        assert context["understood"]["intents"] == ["request_human", "file_complaint"]
        assert context["understood"]["slots"]["complaint_category"] == "damaged_item"
        assert [c["current"] for c in context["conversations"]] == [True]
        assert context["conversations"][0]["handoffs"][0]["status"] == "queued"

        # The agent takes it half-way through the form, and gives it back.
        assert (await http.post(f"{url}/take", headers=headers)).status_code == 200
        assert "has joined" in (await chat.replies())[0]["text"]
        assert await chat.say("are you still there?") == []
        await http.post(f"{url}/resolve", headers=headers)
        (survey,) = await chat.replies()
        assert survey["text"].startswith("Before you go")
        # Not a rating, so the survey ends; the assistant answers afresh instead of asking
        # for the order number of the form it was in before the agent took over.
        answer = await chat.say("what are your opening hours?")
        assert "Monday to Friday" in answer[0]["text"]
        assert not any("order number" in reply["text"] for reply in answer)


async def test_an_agents_reply_to_a_texter_goes_out_as_sms(
    stack: Stack, db: Database, http: httpx.AsyncClient, agents: tuple[str, str]
) -> None:
    headers = await _sign_in(http, stack, agents[0])
    phone = phone_texting(stack, db, http, "+14155557401")
    await phone.text("I want to speak to a human")
    handoff = await handoff_of(db, phone.number)
    url = f"{stack.app_url}/agent/conversations/{handoff.id}"
    assert (await http.post(f"{url}/take", headers=headers)).status_code == 200
    await http.post(f"{url}/reply", headers=headers, json={"text": "Sam here, looking now."})
    assert phone.new_messages() == ["Sam here, looking now."]
    await http.post(f"{url}/resolve", headers=headers)
    (survey,) = phone.new_messages()
    assert survey.startswith("Before you go, three quick statements.")
    # Not a rating: the survey ends and the assistant answers as usual.
    (hours,) = await phone.text("what are your opening hours?")
    assert "Monday to Friday" in hours


async def test_missing_forged_and_expired_tokens_get_401(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    inbox = f"{stack.app_url}/agent/inbox"
    assert (await http.get(inbox)).status_code == 401
    forged = issue_token(1, secret="not-the-secret", now=utcnow(), lifetime=timedelta(hours=1))
    assert (await http.get(inbox, headers={"Authorization": f"Bearer {forged}"})).status_code == 401
    secret = stack.settings.agent_token_secret.get_secret_value()
    expired = issue_token(
        1, secret=secret, now=utcnow() - timedelta(hours=2), lifetime=timedelta(hours=1)
    )
    response = await http.get(inbox, headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_signing_out_or_a_new_password_revokes_on_every_instance(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    email = "jo@shop.example"
    _add_agent(stack, email, "general")
    headers = await _sign_in(http, stack, email)
    with stack.extra_app("revoking") as second:
        assert (await http.get(f"{second}/agent/inbox", headers=headers)).status_code == 200
        out = await http.post(f"{stack.app_url}/agent/logout", headers=headers)
        assert out.status_code == 204
        for url in (stack.app_url, second):
            assert (await http.get(f"{url}/agent/inbox", headers=headers)).status_code == 401
            status = await http.post(
                f"{url}/agent/status", headers=headers, json={"status": "available"}
            )
            assert status.status_code == 401
        # A new password (set with the command line) signs the agent out everywhere too.
        headers = await _sign_in(http, stack, email)
        new_password = "another-passphrase"
        stack.cli(
            "agent",
            *("--email", email, "--reset-password"),
            extra_env={"AGENT_PASSWORD": new_password},
        )
        assert (await http.get(f"{second}/agent/inbox", headers=headers)).status_code == 401
        old = await http.post(f"{second}/agent/login", json={"email": email, "password": PASSWORD})
        assert old.status_code == 401
        new = await http.post(
            f"{second}/agent/login", json={"email": email, "password": new_password}
        )
        assert new.status_code == 200, new.text
