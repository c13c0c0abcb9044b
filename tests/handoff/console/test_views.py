"""The context an agent gets with a conversation: what the assistant understood, and the
customer's mood over time (when the NLP services have scored it)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.models import Direction, Message
from bot.nlp.models import MessageSentiment
from handoff.console.views import sentiment_trend, understood_in


def _message(
    conversation_id: int, minute: int, intent: str | None, payload: dict[str, object]
) -> Message:
    return Message(
        conversation_id=conversation_id,
        direction=Direction.INBOUND,
        intent=intent,
        payload=payload,
        created_at=datetime(2026, 11, 22, 9, minute, tzinfo=UTC),
    )


def _understood(intent: str, slots: dict[str, str]) -> dict[str, object]:
    return {"understanding": {"intent": intent, "confidence": 0.9, "slots": slots}}


def test_intents_in_order_and_the_latest_slots_of_this_conversation() -> None:
    newest_first = [
        _message(1, 4, "for_agent", {}),  # our own marker, not something Rasa understood
        _message(1, 3, "request_human", _understood("request_human", {})),
        _message(2, 2, "check_balance", _understood("check_balance", {"account": "x"})),
        _message(1, 1, "file_complaint", _understood("file_complaint", {"category": "late"})),
        _message(1, 0, "greet", _understood("greet", {})),
    ]
    # The slots Rasa held after the last turn that reported any; other conversations'
    # messages (the transcript spans all of them) do not count.
    assert understood_in(newest_first, conversation_id=1) == {
        "intents": ["greet", "file_complaint", "request_human"],
        "slots": {"category": "late"},
    }


def test_the_sentiment_trend_is_empty_until_scored_then_oldest_first() -> None:
    later, earlier, unscored = (
        _message(1, 5, None, {}),
        _message(1, 1, None, {}),
        _message(1, 3, None, {}),
    )
    later.id, earlier.id, unscored.id = 3, 1, 2
    assert sentiment_trend([later, earlier, unscored], {}) == []
    scored = {
        3: MessageSentiment(message_id=3, label="negative", score=-0.7),
        1: MessageSentiment(message_id=1, label="neutral", score=-0.04),
    }
    assert [p["score"] for p in sentiment_trend([later, earlier, unscored], scored)] == [
        -0.04,
        -0.7,
    ]
