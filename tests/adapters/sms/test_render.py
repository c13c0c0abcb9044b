"""SMS replies as a phone shows them: GSM-7 where possible, split on word boundaries into
at most three segments, buttons as numbered options, and TwiML."""

from __future__ import annotations

from adapters.sms.render import (
    EMPTY_TWIML,
    MAX_GSM7_CHARS,
    MAX_UCS2_CHARS,
    is_gsm7,
    render_outbound,
    render_twiml,
    split_message,
    to_gsm7,
)
from bot.core.messages import BotReply, Button
from bot.testing.twilio_webhooks import count_segments


def test_typographic_punctuation_keeps_a_message_in_gsm7() -> None:
    text = "I\u2019m sorry \u2013 \u201cthat\u201d shouldn\u2019t happen\u2026"
    assert not is_gsm7(text)
    assert to_gsm7(text) == "I'm sorry - \"that\" shouldn't happen..."
    assert is_gsm7(to_gsm7(text))


def test_segments_count_gsm7_extension_and_ucs2() -> None:
    assert count_segments("a" * 160) == 1
    assert count_segments("a" * 161) == 2
    assert count_segments("€" * 80) == 1  # two septets each: exactly 160
    assert count_segments("€" * 81) == 2
    assert count_segments("é" * 160) == 1  # é is in the GSM-7 basic set
    assert count_segments("ł" * 70) == 1
    assert count_segments("ł" * 71) == 2


def test_split_on_word_boundaries_within_the_limit() -> None:
    words = " ".join(f"word{i}" for i in range(200))
    parts = split_message(words, 100)
    assert all(len(p) <= 100 for p in parts)
    assert " ".join(parts) == words
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)


def test_split_prefers_line_breaks_past_half_the_limit() -> None:
    text = "The first line is rather longer.\n" + "x " * 40
    assert split_message(text, 60)[0] == "The first line is rather longer."


def test_a_long_gsm_reply_is_split_at_320_and_a_ucs2_one_at_201() -> None:
    gsm = render_outbound([BotReply(text="Your parcel is on its way. " * 30)])
    assert len(gsm) > 1
    assert all(len(body) <= MAX_GSM7_CHARS for body in gsm)
    assert all(count_segments(body) <= 3 for body in gsm)
    ucs2 = render_outbound([BotReply(text="Ваша посылка в пути. " * 30)])
    assert all(len(body) <= MAX_UCS2_CHARS for body in ucs2)
    assert all(count_segments(body) <= 3 for body in ucs2)


def test_buttons_become_numbered_options(outcomes: tuple[Button, ...]) -> None:
    reply = BotReply(text="What would you like us to do?", buttons=outcomes)
    assert render_outbound([reply]) == [
        "What would you like us to do?\n1. Refund\n2. Replacement\n"
        "Reply with the number of your choice."
    ]


def test_twiml_has_one_message_per_body_escaped() -> None:
    replies = [BotReply(text="Fish & chips <3"), BotReply(text="Anything else?")]
    assert render_twiml(replies) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        "<Message>Fish &amp; chips &lt;3</Message><Message>Anything else?</Message></Response>"
    )
    assert render_twiml([]) == EMPTY_TWIML == '<?xml version="1.0" encoding="UTF-8"?><Response />'


def test_a_picture_comes_after_the_numbered_options(outcomes: tuple[Button, ...]) -> None:
    reply = BotReply(text="Which one?", buttons=outcomes, image="https://shop.test/a.png")
    assert render_outbound([reply]) == [
        "Which one?\n1. Refund\n2. Replacement\n"
        "Reply with the number of your choice.\nhttps://shop.test/a.png"
    ]
