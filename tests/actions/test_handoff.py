"""What the handoff actions tell customers, and which intent routes a conversation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rasa_sdk import Tracker

from actions.handoff import find_phone_number, spoken_list, topic_intent, wait_minutes, when_open
from handoff.queues import load_queues

QUEUES = load_queues()


def _tracker(*intents: str) -> Tracker:
    events: list[dict[str, Any]] = [
        {"event": "user", "parse_data": {"intent": {"name": name}}} for name in intents
    ]
    return Tracker("conv-x", {}, {}, events, False, None, {}, "action_listen")


def test_routing_uses_what_the_conversation_is_about() -> None:
    assert topic_intent(_tracker("greet", "track_shipment", "affirm")) == "track_shipment"
    assert topic_intent(_tracker("greet", "request_human")) is None


def test_when_a_closed_queue_opens_in_words() -> None:
    complaints = QUEUES.get("support.complaints")
    assert when_open(complaints, datetime(2026, 11, 22, 1, 0, tzinfo=UTC)) == "tomorrow at 08:00"
    assert when_open(complaints, datetime(2026, 11, 23, 6, 0, tzinfo=UTC)) == "today at 08:00"
    assert when_open(complaints, datetime(2026, 11, 21, 18, 0, tzinfo=UTC)) == (
        "on Monday at 08:00"
    )


def test_wait_and_channel_wording() -> None:
    assert wait_minutes(position=3, agents=2, average_minutes=6) == 9
    assert wait_minutes(position=1, agents=0, average_minutes=0.5) == 1
    assert spoken_list(["SMS"]) == "SMS"
    assert spoken_list(["SMS", "email", "phone"]) == "SMS, email and phone"


def test_phone_numbers_as_people_type_them() -> None:
    assert find_phone_number("it's +44 20 7946 0018, thanks") == "+442079460018"
    assert find_phone_number("call 0044 (20) 7946-0018") == "+442079460018"
    assert find_phone_number("ring me on 07700 900461 after 5") == "07700900461"
    assert find_phone_number("(415) 555-0100") == "4155550100"
    # Order numbers, amounts and short codes are not phone numbers.
    assert find_phone_number("my order ORD-482913 cost $400") is None
    assert find_phone_number("my usual one") is None
    assert find_phone_number("+1 234") is None
