"""End to end over the web chat: the real Rasa server and model, the action server, the app."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import (
    AuditEvent,
    Channel,
    ChannelIdentity,
    Complaint,
    ComplaintStatus,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
)
from tests.support.chat import ChatClient, open_session, stored_messages
from tests.support.stack import Stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

CASE_ID = re.compile(r"CMP-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{5}")


async def _inbound(db: Database, visitor_id: str) -> list[Message]:
    return [m for m in await stored_messages(db, visitor_id) if m.direction is Direction.INBOUND]


def _texts(replies: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in replies]


async def test_complaint_then_its_status(stack: Stack, db: Database) -> None:
    async with ChatClient(stack.ws_url) as chat:
        assert chat.history == []
        replies = await chat.say("I want to file a complaint, my parcel arrived damaged")
        # The category and the story were in the first message: only the order is asked.
        assert replies[0]["text"].startswith("I'm sorry to hear that")
        assert "order number" in replies[-1]["text"]

        replies = await chat.say("it's ORD-482913")
        assert replies[-1]["text"] == "What would you like us to do to put this right?"
        assert [b["title"] for b in replies[-1]["buttons"]] == [
            "Refund",
            "Replacement",
            "Repair",
            "Just let you know",
        ]

        replies = await chat.click(replies[-1], "Replacement")
        (confirmation,) = _texts(replies)
        match = CASE_ID.search(confirmation)
        assert match, confirmation
        case_id = match.group(0)
        assert "damaged item" in confirmation

        (status,) = _texts(await chat.say("what's the status of my complaint"))
        assert case_id in status
        assert "received and waiting for our team to review it" in status

    async with db.session() as session:
        complaint = await session.scalar(select(Complaint).where(Complaint.case_id == case_id))
        assert complaint is not None
        conversation = await session.get_one(Conversation, complaint.conversation_id)
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.address == chat.visitor_id)
        )
        audit = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "complaint.opened", AuditEvent.entity_id == case_id
            )
        )
    assert complaint.category == "damaged_item"
    assert complaint.description == "I want to file a complaint, my parcel arrived damaged"
    assert complaint.order_ref == "ORD-482913"
    assert complaint.desired_outcome == "replacement"
    assert complaint.status is ComplaintStatus.PENDING
    assert complaint.channel is Channel.WEBCHAT
    assert identity is not None and identity.channel is Channel.WEBCHAT
    assert complaint.customer_id == identity.customer_id == conversation.customer_id
    assert audit is not None

    messages = await stored_messages(db, chat.visitor_id)
    inbound = [m for m in messages if m.direction is Direction.INBOUND]
    outbound = [m for m in messages if m.direction is Direction.OUTBOUND]
    assert [m.text for m in inbound] == [
        "I want to file a complaint, my parcel arrived damaged",
        "it's ORD-482913",
        '/inform{"desired_outcome": "replacement"}',
        "what's the status of my complaint",
    ]
    assert inbound[0].payload == {"metadata": {"session_kind": "anonymous"}}
    assert inbound[2].payload == {
        "metadata": {"display_text": "Replacement", "session_kind": "anonymous"}
    }
    assert all(m.status is MessageStatus.ANSWERED for m in inbound)
    assert all(m.status is MessageStatus.DELIVERED for m in outbound)
    assert outbound[-1].text == status
    assert {m.conversation_id for m in messages} == {conversation.id}


async def test_history_on_reconnect_and_resent_message_processed_once(
    stack: Stack, db: Database
) -> None:
    async with ChatClient(stack.ws_url) as chat:
        first = await chat.say("hello", client_id="same-id-1")
        assert "virtual assistant" in first[0]["text"]
    async with ChatClient(stack.ws_url, chat.session) as again:
        assert [(m["direction"], m["text"]) for m in again.history] == [
            ("inbound", "hello"),
            ("outbound", first[0]["text"]),
        ]
        # A tab that lost the ack sends the same message again: it gets the same answer.
        repeated = await again.say("hello", client_id="same-id-1")
        assert repeated == first
    assert len(await stored_messages(db, chat.visitor_id)) == 2


async def test_bad_frames_get_clear_errors_and_the_socket_stays_usable(stack: Stack) -> None:
    async with ChatClient(stack.ws_url) as chat:
        await chat.socket.send(b"\x00\x01\x02binary")
        assert (await chat.frame())["code"] == "binary_not_supported"
        await chat.socket.send("{not json")
        assert (await chat.frame())["code"] == "malformed_json"
        await chat.socket.send("[" * 5000)
        assert (await chat.frame())["code"] == "malformed_json"
        await chat.send("   ", client_id="empty-1")
        assert await chat.frame() == {
            "type": "error",
            "code": "empty_message",
            "detail": "The message is empty; please type something.",
            "id": "empty-1",
        }
        await chat.send("x" * 4097)
        assert (await chat.frame())["code"] == "message_too_long"
        await chat.send("PK\x03\x04\x00binary")
        assert (await chat.frame())["code"] == "binary_content"
        replies = await chat.say("what are your opening hours?")
        assert "Monday to Friday" in replies[0]["text"]


async def test_a_known_visitor_id_opens_nothing(stack: Stack) -> None:
    async with ChatClient(stack.ws_url) as victim:
        await victim.say("my order is ORD-482913")
        # The old way in, with the visitor id in the URL: closed before anything is sent.
        async with websockets.connect(f"{stack.ws_url}?user_id={victim.visitor_id}") as socket:
            await socket.send(json.dumps({"type": "message", "text": "status of my case?"}))
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        async with httpx.AsyncClient(timeout=60) as http:
            history = await http.get(
                f"{stack.app_url}/webchat/history", params={"user_id": victim.visitor_id}
            )
            posted = await http.post(
                f"{stack.app_url}/webchat/messages",
                json={"user_id": victim.visitor_id, "text": "status of my case?"},
            )
        assert (history.status_code, posted.status_code) == (401, 401)


async def test_two_tabs_of_one_visitor_both_get_the_replies(stack: Stack, db: Database) -> None:
    async with ChatClient(stack.ws_url) as first, ChatClient(stack.ws_url, first.session) as second:
        replies = await first.say("what are your opening hours?")
        assert "Monday to Friday" in replies[0]["text"]
        assert await second.replies() == replies
        replies = await second.say("are you a bot?")
        assert await first.replies() == replies
    inbound = await _inbound(db, first.visitor_id)
    assert [m.text for m in inbound] == ["what are your opening hours?", "are you a bot?"]


async def test_rest_endpoint_and_its_errors(stack: Stack) -> None:
    url = f"{stack.app_url}/webchat/messages"
    session = await open_session(stack.app_url)
    async with httpx.AsyncClient(timeout=60, headers=session.headers) as http:
        ok = await http.post(url, json={"text": "are you a bot?"})
        assert ok.status_code == 200
        body = ok.json()
        assert body["status"] == "answered" and body["duplicate"] is False
        assert "virtual assistant" in body["messages"][0]["text"]
        history = (await http.get(f"{stack.app_url}/webchat/history")).json()["messages"]
        assert history[0]["text"] == "are you a bot?"

        cases = [
            (b"not json", 400, "malformed_json"),
            (b"[" * 5000, 400, "malformed_json"),
            (b'{"text": "\xff\xfe"}', 400, "invalid_encoding"),
            (b'{"text": ""}', 422, "empty_message"),
            (b'{"text": 5}', 400, "malformed"),
            (json.dumps({"text": "a" * 5000}).encode(), 413, None),
            (b"x" * 100_000, 413, "request_too_large"),
        ]
        json_type = {"Content-Type": "application/json"}
        for content, status, code in cases:
            response = await http.post(url, content=content, headers=json_type)
            assert response.status_code == status, (content[:40], response.text)
            if code:
                assert response.json()["code"] == code
        text = await http.post(
            url, content=b'{"text": "hi"}', headers={"Content-Type": "text/plain"}
        )
        assert (text.status_code, text.json()["code"]) == (415, "unsupported_media_type")


async def test_order_questions_ask_who_you_are_and_a_person_can_take_over(
    stack: Stack, db: Database
) -> None:
    async with ChatClient(stack.ws_url) as chat:
        replies = await chat.say("hey, my order still hasn't turned up, can you check where it is?")
        assert _texts(replies)[0] == "I can help with that. First I need to check it's you."
        replies = await chat.say("can I just talk to a person please")
        # Routed by what the conversation is about (orders), not by the request for a person.
        assert "our Orders and delivery team" in replies[0]["text"]
        assert "I've kept your request" in replies[0]["text"]
    async with db.session() as session:
        conversation = await session.scalar(
            select(Conversation)
            .join(ChannelIdentity, ChannelIdentity.customer_id == Conversation.customer_id)
            .where(ChannelIdentity.address == chat.visitor_id)
        )
    assert conversation is not None
    assert conversation.status is ConversationStatus.AWAITING_AGENT


async def test_not_understood_twice_hands_over_to_a_person(stack: Stack) -> None:
    async with ChatClient(stack.ws_url) as chat:
        first = await chat.say("xqzt vlorp gnnh")
        assert first[0]["text"].startswith("Sorry, I didn't quite get that")
        second = await chat.say("blrrp zzkx qwop")
        assert second[0]["text"].startswith("Everyone in our General help team is busy or away")


async def test_health_reports_each_part(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{stack.app_url}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "rasa", "action_server"}
    assert all(check["ok"] for check in body["checks"].values())


async def test_rasa_down_message_saved_then_answered(stack: Stack, db: Database) -> None:
    async with ChatClient(stack.ws_url) as chat:
        stack.rasa_proxy.stop()
        try:
            replies = await chat.say("hi there")
            assert _texts(replies) == [
                "Sorry, we're having trouble on our side right now. Your message is saved "
                "and we'll answer it here as soon as we're back."
            ]
            async with httpx.AsyncClient() as http:
                health = await http.get(f"{stack.app_url}/health")
            assert health.status_code == 503
            assert health.json()["checks"]["rasa"]["ok"] is False
            # A second message during the outage is saved too, without a second notice.
            await chat.send("are you a bot?")
            assert (await chat.frame())["type"] == "ack"
            assert await chat.replies() == []
            inbound = await _inbound(db, chat.visitor_id)
            assert [m.status for m in inbound] == [MessageStatus.AWAITING_RETRY] * 2
        finally:
            stack.rasa_proxy.start()
        # The retry worker answers both, in order, and pushes the answers to the open tab.
        answered = await chat.replies()
        answered += [] if len(answered) >= 2 else await chat.replies()
        assert "virtual assistant" in answered[0]["text"]
        assert "I'm a virtual assistant" in answered[-1]["text"]

    async def all_answered() -> bool:
        inbound = await _inbound(db, chat.visitor_id)
        return all(m.status is MessageStatus.ANSWERED for m in inbound)

    await wait_for(all_answered, what="every message answered")


async def test_action_server_down_message_saved_then_answered(stack: Stack, db: Database) -> None:
    async with ChatClient(stack.ws_url) as chat:
        stack.stop_action_server()
        try:
            await asyncio.sleep(1.0)  # past the health cache
            replies = await chat.say("what's the status of my complaint")
            assert "Your message is saved" in replies[0]["text"]
        finally:
            stack.start_action_server()
        answered = await chat.replies()
        # A visitor with no complaints from here is asked who they are (their complaints
        # from other channels are theirs to see once verified).
        assert _texts(answered) == [
            "I can help with that. First I need to check it's you.",
            "What's the email address or mobile number on your account? I'll send a one-time "
            "code to the details we hold.",
        ]
    inbound = await _inbound(db, chat.visitor_id)
    assert inbound[0].status is MessageStatus.ANSWERED
    assert inbound[0].attempts == 2


def _turn_lines(stack: Stack) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in stack.app_log.read_text().splitlines()
        if line.startswith("{") and '"event": "turn"' in line
    ]


async def test_each_turn_is_one_structured_log_line(stack: Stack) -> None:
    before = len(_turn_lines(stack))
    async with ChatClient(stack.ws_url) as chat:
        await chat.say("thanks a lot")

    async def logged() -> bool:
        return len(_turn_lines(stack)) > before

    await wait_for(logged, timeout=10, what="the turn logged")
    new = _turn_lines(stack)[before:]
    assert len(new) == 1
    (turn,) = new
    assert turn["channel"] == "webchat"
    assert turn["conversation_id"].startswith("conv-")
    assert turn["status"] == "answered"
    assert turn["replies"] == 1
    assert isinstance(turn["latency_ms"], float) and turn["latency_ms"] > 0
