"""The SMS adapter's pure parts: keywords, encodings, splitting, rendering, parsing."""

from __future__ import annotations

import pytest

from adapters.messages import BotReply, Button, InvalidMessage, pick_offered
from adapters.sms import (
    EMPTY_TWIML,
    MAX_GSM7_CHARS,
    MAX_UCS2_CHARS,
    Keyword,
    is_gsm7,
    keyword_of,
    parse_inbound,
    render_outbound,
    render_twiml,
    segment_count,
    split_message,
    to_gsm7,
)
from adapters.twilio_webhook import parse_form
from bot.models import Channel

OUTCOMES = (
    Button(title="Refund", payload='/inform{"desired_outcome": "refund"}'),
    Button(title="Replacement", payload='/inform{"desired_outcome": "replacement"}'),
)


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", Keyword.STOP),
        (" stop ", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("start", Keyword.START),
        ("HELP", Keyword.HELP),
        ("help!", Keyword.HELP),
        ("please stop sending me the wrong parcel", None),
        ("I need help", None),
    ],
)
def test_keywords_are_whole_messages(text: str, keyword: Keyword | None) -> None:
    assert keyword_of(text) == keyword


def test_typographic_punctuation_keeps_a_message_in_gsm7() -> None:
    text = "I\u2019m sorry \u2013 \u201cthat\u201d shouldn\u2019t happen\u2026"
    assert not is_gsm7(text)
    assert to_gsm7(text) == "I'm sorry - \"that\" shouldn't happen..."
    assert is_gsm7(to_gsm7(text))


def test_segments_count_gsm7_extension_and_ucs2() -> None:
    assert segment_count("a" * 160) == 1
    assert segment_count("a" * 161) == 2
    assert segment_count("€" * 80) == 1  # two septets each: exactly 160
    assert segment_count("€" * 81) == 2
    assert segment_count("é" * 160) == 1  # é is in the GSM-7 basic set
    assert segment_count("ł" * 70) == 1
    assert segment_count("ł" * 71) == 2


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
    assert all(segment_count(body) <= 3 for body in gsm)
    ucs2 = render_outbound([BotReply(text="Ваша посылка в пути. " * 30)])
    assert all(len(body) <= MAX_UCS2_CHARS for body in ucs2)
    assert all(segment_count(body) <= 3 for body in ucs2)


def test_buttons_become_numbered_options() -> None:
    reply = BotReply(text="What would you like us to do?", buttons=OUTCOMES)
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


def _form(**overrides: str) -> dict[str, str]:
    form = {
        "MessageSid": "SM1234567890abcdef1234567890abcdef",
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155550100",
        "To": "+14155550199",
        "Body": "Where is my order?",
        "NumMedia": "0",
        "FromCountry": "US",
    }
    return form | overrides


def test_parse_inbound_sms() -> None:
    inbound = parse_inbound(_form(), max_bytes=4096)
    assert inbound.channel is Channel.SMS
    assert inbound.text == "Where is my order?"
    assert inbound.sender_id == "+14155550100"
    assert inbound.message_id == "SM1234567890abcdef1234567890abcdef"
    assert inbound.metadata == {"to": "+14155550199", "from_country": "US"}


def test_parse_inbound_mms_with_media_and_no_text() -> None:
    inbound = parse_inbound(
        _form(
            Body="",
            NumMedia="1",
            MediaUrl0="https://api.twilio.com/x/Media/ME1",
            MediaContentType0="image/jpeg",
        ),
        max_bytes=4096,
    )
    assert inbound.text == ""
    assert inbound.metadata["media"] == [
        {"url": "https://api.twilio.com/x/Media/ME1", "content_type": "image/jpeg"}
    ]


def test_an_unreadable_body_is_kept_and_marked() -> None:
    inbound = parse_inbound(_form(Body="\x00\x01\x02binary"), max_bytes=4096)
    assert inbound.metadata["unreadable"] == "binary_content"
    empty = parse_inbound(_form(Body="   "), max_bytes=4096)
    assert empty.metadata["unreadable"] == "empty_message"


def test_parse_inbound_refuses_a_form_without_sender() -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_inbound(_form(From=""), max_bytes=4096)
    assert caught.value.status_code == 400
    with pytest.raises(InvalidMessage):
        parse_inbound(_form(NumMedia="lots"), max_bytes=4096)


def test_a_number_picks_the_offered_option() -> None:
    offered = [b.model_dump() for b in OUTCOMES]
    inbound = parse_inbound(_form(Body="2"), max_bytes=4096)
    chosen = pick_offered(inbound, offered)
    assert chosen.text == '/inform{"desired_outcome": "replacement"}'
    assert chosen.metadata["display_text"] == "2"
    assert pick_offered(parse_inbound(_form(Body="7"), max_bytes=4096), offered).text == "7"
    not_a_choice = parse_inbound(_form(Body="2 parcels"), max_bytes=4096)
    assert pick_offered(not_a_choice, offered) == not_a_choice


@pytest.mark.parametrize(
    "body",
    [b"Body=%FF%FE&From=x", b"Body=caf\xc3\xa9", b"no-equals-sign&&", b"From=a&From=b"],
)
def test_malformed_form_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"malformed|twice"):
        parse_form(body)


def test_form_bodies_decode_percent_escaped_utf8() -> None:
    assert parse_form(b"Body=caf%C3%A9+ol%C3%A9&From=%2B4415") == {
        "Body": "café olé",
        "From": "+4415",
    }
    assert parse_form(b"") == {}
