"""What a caller said or pressed, read from Twilio's voice webhooks, and their recording
choice."""

from __future__ import annotations

import pytest

from adapters.voice.parse import consent_for, needs_opt_in, parse_inbound
from bot.core.messages import InvalidMessage
from bot.core.models import Channel, RecordingConsent
from bot.core.settings import Settings

CALL = {
    "CallSid": "CA" + "1" * 32,
    "AccountSid": "AC" + "0" * 32,
    "From": "+442071838750",
    "To": "+14155550199",
    "CallStatus": "in-progress",
    "FromCountry": "GB",
}


def test_speech_and_digits_become_messages_keyed_by_call_and_turn() -> None:
    said = parse_inbound(
        CALL | {"SpeechResult": "Where is my order?", "Confidence": "0.91"}, turn=2, max_bytes=4096
    )
    assert said is not None
    assert (said.text, said.channel, said.sender_id) == (
        "Where is my order?",
        Channel.VOICE,
        "+442071838750",
    )
    assert said.message_id == f"{CALL['CallSid']}:2"
    assert said.metadata["input"] == "speech"
    pressed = parse_inbound(CALL | {"Digits": "2"}, turn=3, max_bytes=4096)
    assert pressed is not None and pressed.text == "2" and pressed.metadata["input"] == "dtmf"


def test_silence_and_mumbling_are_no_input() -> None:
    assert parse_inbound(CALL, turn=1, max_bytes=4096) is None
    mumbled = CALL | {"SpeechResult": "mm", "Confidence": "0.05"}
    assert parse_inbound(mumbled, turn=1, max_bytes=4096) is None


def test_a_voice_webhook_without_call_sid_is_refused() -> None:
    with pytest.raises(InvalidMessage):
        parse_inbound({"From": "+1"}, turn=1, max_bytes=4096)


def test_recording_consent_rules() -> None:
    countries = Settings().voice_recording_opt_in_countries
    assert needs_opt_in(CALL, countries)
    assert not needs_opt_in(CALL | {"FromCountry": "US"}, countries)
    assert consent_for({"Digits": "1"}, None) is RecordingConsent.OPTED_IN
    assert consent_for({}, None) is RecordingConsent.DECLINED
    assert consent_for({"Digits": "5"}, None) is RecordingConsent.DECLINED
    assert consent_for({}, "default") is RecordingConsent.DEFAULT
