"""Web chat frames: what the page sends, read (who sent it from the session only), and what it
shows, rendered; asserted on exact shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.webchat.frames import parse_inbound, render_history, render_outbound, render_stored
from adapters.webchat.sessions import SessionKind, WebchatSession
from bot.core.messages import BotReply, Button, InboundMessage, InvalidMessage, StoredReply
from bot.core.models import Channel, Direction, Message, MessageStatus

USER = "Vq3xT0bM4kz8LrYp2sWd6nHc"
SESSION = WebchatSession(USER, SessionKind.ANONYMOUS, issued_at=0, expires_at=2_000_000_000)


def test_typed_message() -> None:
    inbound = parse_inbound(
        {"type": "message", "id": "abc-1", "text": " I want to complain "},
        session=SESSION,
        max_bytes=4096,
    )
    assert inbound == InboundMessage(
        text="I want to complain",
        sender_id=USER,
        channel=Channel.WEBCHAT,
        message_id=f"{USER}:abc-1",
        metadata={"session_kind": "anonymous"},
    )


def test_button_click_sends_payload_and_remembers_title() -> None:
    inbound = parse_inbound(
        {"id": "b2", "text": "Refund", "payload": '/inform{"desired_outcome": "refund"}'},
        session=SESSION,
        max_bytes=4096,
    )
    assert inbound.text == '/inform{"desired_outcome": "refund"}'
    assert inbound.metadata == {"display_text": "Refund", "session_kind": "anonymous"}


def test_the_sender_is_the_sessions_visitor_whatever_the_frame_says() -> None:
    app_user = WebchatSession(USER, SessionKind.APP_USER, issued_at=0, expires_at=2_000_000_000)
    frame = {"user_id": "someone-else-0001", "sender": "x", "text": "hi"}
    inbound = parse_inbound(frame, session=app_user, max_bytes=4096)
    assert inbound.sender_id == USER
    assert inbound.metadata == {"session_kind": "app_user"}


def test_the_company_apps_customer_is_verified_on_every_message() -> None:
    app = WebchatSession(USER, SessionKind.APP, 0, 2_000_000_000, customer_ref="CUST-000482")
    inbound = parse_inbound({"text": "Refund", "payload": "/refund"}, session=app, max_bytes=4096)
    assert inbound.metadata == {
        "session_kind": "app",
        "verified_customer_ref": "CUST-000482",
        "verification": "app_token",
        "display_text": "Refund",
    }


def test_a_frame_cannot_set_the_verification_metadata() -> None:
    forged = {"verified_customer_ref": "CUST-000482", "verification": "app_token"}
    frame = {"text": "hi", "session_kind": "app", "metadata": forged, **forged}
    inbound = parse_inbound(frame, session=SESSION, max_bytes=4096)
    assert inbound.metadata == {"session_kind": "anonymous"}


def test_message_without_id_is_not_deduplicated() -> None:
    assert parse_inbound({"text": "hi"}, session=SESSION, max_bytes=4096).message_id is None


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (["not", "an", "object"], "malformed"),
        ({"type": "typing"}, "unknown_type"),
        ({"text": 42}, "malformed"),
        ({"text": "hi", "payload": ["x"]}, "malformed"),
        ({"text": "hi", "id": "has spaces!"}, "malformed"),
        ({"text": ""}, "empty_message"),
        ({"text": "x" * 5000}, "message_too_long"),
    ],
)
def test_bad_frames_are_refused(frame: object, code: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_inbound(frame, session=SESSION, max_bytes=4096)
    assert caught.value.code == code


def test_render_outbound_exact() -> None:
    replies = [
        BotReply(text="Hello"),
        BotReply(
            text="Pick one",
            buttons=(Button(title="Yes", payload="/affirm"), Button(title="No", payload="/deny")),
        ),
        BotReply(text="", image="https://example.com/a.png"),
    ]
    assert render_outbound(replies) == [
        {"text": "Hello"},
        {
            "text": "Pick one",
            "buttons": [
                {"title": "Yes", "payload": "/affirm"},
                {"title": "No", "payload": "/deny"},
            ],
        },
        {"text": "", "image": "https://example.com/a.png"},
    ]
    assert render_stored([StoredReply(7, BotReply(text="Hi"))]) == [{"id": 7, "text": "Hi"}]


def test_render_history_labels_direction_and_channel() -> None:
    at = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    messages = [
        Message(
            id=1,
            channel=Channel.WEBCHAT,
            direction=Direction.INBOUND,
            text="/request_human",
            payload={"metadata": {"display_text": "Yes, please"}},
            status=MessageStatus.ANSWERED,
            created_at=at,
        ),
        Message(
            id=2,
            channel=Channel.WEBCHAT,
            direction=Direction.OUTBOUND,
            text="Which one?",
            payload={"buttons": [{"title": "A", "payload": "/a"}]},
            status=MessageStatus.DELIVERED,
            created_at=at,
        ),
    ]
    assert render_history(messages) == [
        {
            "id": 1,
            "direction": "inbound",
            "channel": "webchat",
            "at": "2026-11-21T10:00:00+00:00",
            "text": "Yes, please",
        },
        {
            "id": 2,
            "direction": "outbound",
            "channel": "webchat",
            "at": "2026-11-21T10:00:00+00:00",
            "text": "Which one?",
            "buttons": [{"title": "A", "payload": "/a"}],
        },
    ]


def test_an_agents_reply_says_who_wrote_it() -> None:
    reply = BotReply(text="Sam here.", custom={"agent": {"id": 3, "name": "Sam"}})
    assert render_outbound([reply]) == [{"text": "Sam here.", "agent": "Sam"}]
    stored = BotReply.from_stored(reply.text, reply.to_payload())
    assert render_outbound([stored]) == [{"text": "Sam here.", "agent": "Sam"}]
