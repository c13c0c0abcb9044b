"""An SMS or MMS as Twilio posts it, read: carrier keywords, text, media, and a number
picking an offered option."""

from __future__ import annotations

import pytest

from adapters.sms.parse import Keyword, keyword_of, parse_inbound
from bot.core.messages import Button, InvalidMessage, pick_offered
from bot.core.models import Channel


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


def _form(**overrides: str) -> dict[str, str]:
    """The webhook form of an SMS from a US customer, with `overrides`."""
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


def test_a_number_picks_the_offered_option(outcomes: tuple[Button, ...]) -> None:
    offered = [b.model_dump() for b in outcomes]
    inbound = parse_inbound(_form(Body="2"), max_bytes=4096)
    chosen = pick_offered(inbound, offered)
    assert chosen.text == '/inform{"desired_outcome": "replacement"}'
    assert chosen.metadata["display_text"] == "2"
    assert pick_offered(parse_inbound(_form(Body="7"), max_bytes=4096), offered).text == "7"
    not_a_choice = parse_inbound(_form(Body="2 parcels"), max_bytes=4096)
    assert pick_offered(not_a_choice, offered) == not_a_choice
