"""What is read from Rasa's tracker JSON: the intent, entities and slots of the latest turn."""

from __future__ import annotations

from bot.rasa_client import Understanding


def test_the_latest_message_and_the_slots_the_customer_filled() -> None:
    tracker = {
        "sender_id": "c-1",
        "slots": {
            "complaint_category": "damaged_item",
            "complaint_order_ref": None,
            "requested_slot": "complaint_order_ref",
            "session_started_metadata": {"channel": "webchat"},
        },
        "latest_message": {
            "text": "my parcel arrived damaged, order ORD-482913",
            "intent": {"name": "file_complaint", "confidence": 0.973456789},
            "entities": [{"entity": "order_id", "value": "ORD-482913", "start": 32, "end": 42}],
            "metadata": {"message_id": 41, "channel": "webchat"},
        },
    }
    understood = Understanding.from_tracker(tracker)
    assert understood == Understanding(
        message_id=41,
        intent="file_complaint",
        confidence=0.9735,
        entities=[{"entity": "order_id", "value": "ORD-482913"}],
        slots={"complaint_category": "damaged_item"},
    )
    assert understood.as_payload() == {
        "intent": "file_complaint",
        "confidence": 0.9735,
        "entities": [{"entity": "order_id", "value": "ORD-482913"}],
        "slots": {"complaint_category": "damaged_item"},
    }


def test_a_tracker_without_a_message_understands_nothing() -> None:
    understood = Understanding.from_tracker({"slots": {}, "latest_message": {}})
    assert (understood.message_id, understood.intent, understood.confidence) == (None, None, None)
    # A message id that is not ours (someone talked to Rasa directly) is not taken as ours.
    foreign = Understanding.from_tracker({"latest_message": {"metadata": {"message_id": "x"}}})
    assert foreign.message_id is None
