"""The complaint form's extraction: what it takes from each message, and what it asks again."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.complaints import ValidateComplaintForm

DOMAIN: dict[str, Any] = {
    "slots": {
        name: {"type": "text", "mappings": [{"type": "custom"}]}
        for name in (
            "complaint_category",
            "complaint_description",
            "complaint_order_ref",
            "complaint_outcome",
        )
    },
    "forms": {
        "complaint_form": {
            "required_slots": [
                "complaint_category",
                "complaint_description",
                "complaint_order_ref",
                "complaint_outcome",
            ]
        }
    },
}


def _tracker(
    text: str,
    *,
    requested: str | None,
    intent: str = "inform",
    confidence: float = 0.9,
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
) -> Tracker:
    return Tracker(
        sender_id="conv-test",
        slots={"requested_slot": requested, **(slots or {})},
        latest_message={
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "entities": entities or [],
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={"name": "complaint_form"} if requested else {},
        latest_action_name="action_listen",
    )


async def _extract(tracker: Tracker) -> dict[str, Any]:
    dispatcher = CollectingDispatcher()
    events = await ValidateComplaintForm().get_extraction_events(dispatcher, tracker, DOMAIN)
    return {event["name"]: event["value"] for event in events}


async def test_opening_message_prefills_category_and_story() -> None:
    tracker = _tracker(
        "I want to file a complaint, my parcel arrived damaged",
        requested=None,
        intent="file_complaint",
    )
    assert await _extract(tracker) == {
        "complaint_category": "damaged_item",
        "complaint_description": "I want to file a complaint, my parcel arrived damaged",
    }


async def test_bare_request_prefills_nothing() -> None:
    tracker = _tracker("I want to make a complaint", requested=None, intent="file_complaint")
    assert await _extract(tracker) == {}


async def test_category_button_and_unclear_answer() -> None:
    button = _tracker(
        '/inform{"complaint_category": "billing"}',
        requested="complaint_category",
        entities=[{"entity": "complaint_category", "value": "billing"}],
    )
    assert await _extract(button) == {"complaint_category": "billing"}
    unclear = _tracker("hard to say really", requested="complaint_category")
    assert await _extract(unclear) == {"complaint_category": "other"}


async def test_order_reference_answers() -> None:
    assert await _extract(_tracker("it's 482913", requested="complaint_order_ref")) == {
        "complaint_order_ref": "ORD-482913"
    }
    assert await _extract(_tracker("no", requested="complaint_order_ref", intent="deny")) == {
        "complaint_order_ref": "none"
    }
    assert await _extract(_tracker("the blue one", requested="complaint_order_ref")) == {
        "complaint_order_ref": "the blue one"
    }


async def test_digression_is_not_taken_as_the_answer() -> None:
    tracker = _tracker(
        "what are your opening hours?",
        requested="complaint_description",
        intent="hours_of_operation",
        confidence=0.97,
    )
    assert await _extract(tracker) == {}


async def test_outcome_from_words_or_button() -> None:
    words = _tracker("a replacement please", requested="complaint_outcome")
    assert await _extract(words) == {"complaint_outcome": "replacement"}
    button = _tracker(
        '/inform{"desired_outcome": "refund"}',
        requested="complaint_outcome",
        entities=[{"entity": "desired_outcome", "value": "refund"}],
    )
    assert await _extract(button) == {"complaint_outcome": "refund"}


def test_invalid_order_reference_is_asked_again() -> None:
    dispatcher = CollectingDispatcher()
    form = ValidateComplaintForm()
    tracker = _tracker("the blue one", requested="complaint_order_ref")
    assert form.validate_complaint_order_ref("the blue one", dispatcher, tracker, DOMAIN) == {
        "complaint_order_ref": None
    }
    assert dispatcher.messages[0]["response"] == "utter_invalid_order_ref"
    assert form.validate_complaint_order_ref("none", dispatcher, tracker, DOMAIN) == {
        "complaint_order_ref": "none"
    }
