"""The checks every inbound text passes, and the shared reply shape."""

from __future__ import annotations

import pytest

from bot.core.messages import (
    BotReply,
    Button,
    InboundMessage,
    InvalidMessage,
    clean_text,
    storable,
    storable_data,
)
from bot.core.models import Channel


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


def test_a_nul_in_a_text_is_dropped_not_the_text() -> None:
    # PostgreSQL cannot store NUL: dropped like other control characters, on every database.
    assert clean_text("where is my \x00order?") == "where is my order?"
    assert clean_text("\x00where is my order?\x00") == "where is my order?"


def test_lone_surrogates_become_replacement_characters() -> None:
    # Not UTF-8, so neither database stores them; a pair split in two halves is joined.
    assert clean_text("bad \ud800 text") == "bad \ufffd text"
    assert clean_text("end \udc00") == "end \ufffd"
    assert clean_text("smile \ud83d\ude00") == "smile 😀"


def test_storable_keeps_everything_but_nul_and_lone_surrogates() -> None:
    assert storable("a\x00b\ud800c\n\x07é😀") == "a\ufffdb\ufffdc\n\x07é😀"
    assert storable_data({"k\x00": ["v\udfff", 3, None], "n": 1.5}) == {
        "k\ufffd": ["v\ufffd", 3, None],
        "n": 1.5,
    }


def test_messages_in_and_out_hold_only_storable_text() -> None:
    inbound = InboundMessage(
        text="hi\x00",
        sender_id="+1415\x00555",
        channel=Channel.SMS,
        message_id="SM\ud800",
        metadata={"to": "+1\x00", "media": [{"url": "https://x/\ud800"}]},
    )
    assert "\x00" not in inbound.model_dump_json()
    assert inbound.sender_id == "+1415\ufffd555"
    assert inbound.message_id == "SM\ufffd"
    assert inbound.metadata == {"to": "+1\ufffd", "media": [{"url": "https://x/\ufffd"}]}
    reply = BotReply(
        text="ok\x00",
        buttons=(Button(title="\ud800", payload="/a\x00"),),
        custom={"k": "\x00"},
    )
    assert reply == BotReply(
        text="ok\ufffd",
        buttons=(Button(title="\ufffd", payload="/a\ufffd"),),
        custom={"k": "\ufffd"},
    )


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
