"""The checks every inbound text passes, and the shared reply shape."""

from __future__ import annotations

import pytest

from bot.core.messages import BotReply, Button, InvalidMessage, clean_text


def test_text_is_trimmed_and_control_characters_dropped() -> None:
    assert clean_text("  hello\x07 there \n") == "hello there"
    assert clean_text("line one\nline two\tend") == "line one\nline two\tend"
    assert clean_text("¿Dónde está mi pedido? 📦") == "¿Dónde está mi pedido? 📦"


@pytest.mark.parametrize("raw", ["", "   ", "\n\t", "\x07\x08"])
def test_empty_text_is_refused(raw: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        clean_text(raw)
    assert caught.value.code in ("empty_message", "binary_content")


def test_oversized_text_is_refused_with_413() -> None:
    assert clean_text("a" * 4096) == "a" * 4096
    with pytest.raises(InvalidMessage) as caught:
        clean_text("a" * 4097)
    assert caught.value.code == "message_too_long"
    assert caught.value.status_code == 413
    # Bytes, not characters: 1,366 three-byte characters are 4,098 bytes.
    with pytest.raises(InvalidMessage):
        clean_text("€" * 1366)


@pytest.mark.parametrize("raw", ["PK\x03\x04\x00\x00binary", "\x01\x02\x03\x04\x05abc", "a\x00b"])
def test_binary_content_is_refused(raw: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        clean_text(raw)
    assert caught.value.code == "binary_content"


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(InvalidMessage) as caught:
        clean_text("bad \ud800 text")
    assert caught.value.code == "invalid_text"


def test_reply_from_rasa_and_back_from_storage() -> None:
    reply = BotReply.from_rasa(
        {
            "recipient_id": "conv-1",
            "text": "What would you like us to do?",
            "buttons": [{"title": "Refund", "payload": '/inform{"desired_outcome": "refund"}'}],
        }
    )
    assert reply == BotReply(
        text="What would you like us to do?",
        buttons=(Button(title="Refund", payload='/inform{"desired_outcome": "refund"}'),),
    )
    assert reply.to_payload() == {
        "buttons": [{"title": "Refund", "payload": '/inform{"desired_outcome": "refund"}'}]
    }
    assert BotReply.from_stored(reply.text, reply.to_payload()) == reply
    assert BotReply.from_rasa({"text": "plain"}).to_payload() == {}
