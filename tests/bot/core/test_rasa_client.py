"""What is read from Rasa's tracker events: for each of our messages, the intent, the
entities, and the slots Rasa held once it had answered."""

from __future__ import annotations

from typing import Any

from bot.core.rasa_client import Understanding, understandings_in


def _user(
    message_id: int | None, intent: str, confidence: float, **entities: str
) -> dict[str, Any]:
    return {
        "event": "user",
        "text": "...",
        "parse_data": {
            "intent": {"name": intent, "confidence": confidence},
            "entities": [
                {"entity": k, "value": v, "start": 0, "end": 1} for k, v in entities.items()
            ],
        },
        "metadata": {} if message_id is None else {"message_id": message_id, "channel": "webchat"},
    }


def _slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def test_each_message_with_the_slots_after_its_turn() -> None:
    events = [
        {"event": "action", "name": "action_session_start"},
        _slot("session_started_metadata", {"channel": "webchat"}),
        _user(7, "file_complaint", 0.973456789),
        {"event": "action", "name": "complaint_form"},
        _slot("complaint_category", "damaged_item"),
        _slot("requested_slot", "complaint_order_ref"),
        _user(8, "inform", 0.88, order_id="ORD-482913"),
        _slot("complaint_order_ref", "ORD-482913"),
        _user(None, "greet", 1.0),  # someone talking to Rasa directly: not ours
        {"event": "restart"},
        _user(9, "greet", 0.99),
    ]
    assert understandings_in(events) == {
        7: Understanding("file_complaint", 0.9735, [], {"complaint_category": "damaged_item"}),
        8: Understanding(
            "inform",
            0.88,
            [{"entity": "order_id", "value": "ORD-482913"}],
            {"complaint_category": "damaged_item", "complaint_order_ref": "ORD-482913"},
        ),
        9: Understanding("greet", 0.99, [], {}),
    }
    assert understandings_in(events)[8].as_payload() == {
        "intent": "inform",
        "confidence": 0.88,
        "entities": [{"entity": "order_id", "value": "ORD-482913"}],
        "slots": {"complaint_category": "damaged_item", "complaint_order_ref": "ORD-482913"},
    }


def test_no_events_no_understanding() -> None:
    assert understandings_in([]) == {}
    assert understandings_in([{"event": "user", "metadata": {"message_id": "x"}}]) == {}
