"""Phone calls in TwiML, asserted exactly: replies spoken inside a Gather, buttons as a
keypad menu, hold, transfer and the call's other moments."""

from __future__ import annotations

from adapters.voice.render import (
    Voice,
    render_agent_will_text,
    render_consent_prompt,
    render_dial,
    render_enqueue,
    render_goodbye,
    render_hold,
    render_leave,
    render_offer_human,
    render_outbound,
    render_recording_notice,
    render_turn,
    render_wait,
)
from bot.core.messages import BotReply, Button
from bot.core.settings import Settings

XML = '<?xml version="1.0" encoding="UTF-8"?>'
VOICE = Voice("Polly.Joanna-Neural", "en-US")
SAY = '<Say language="en-US" voice="Polly.Joanna-Neural">'


def _gather(action: str, extra: str = "") -> str:
    """The opening Gather tag of a turn whose answer goes to `action`."""
    return (
        f'<Gather action="{action}" actionOnEmptyResult="true" input="speech dtmf" '
        f'language="en-US" method="POST"{extra} speechTimeout="auto" timeout="5">'
    )


def test_the_voice_suits_the_language() -> None:
    assert Voice.from_settings(Settings(voice_language="en-GB")) == Voice(
        "Polly.Amy-Neural", "en-GB"
    )
    assert Voice.from_settings(Settings(voice_language="en-GB", voice_name="alice")).name == "alice"


def test_replies_are_spoken_inside_a_gather_for_the_next_turn() -> None:
    replies = [BotReply(text="Sure & thanks."), BotReply(text="Anything else?")]
    assert render_outbound(replies, voice=VOICE, turn=3) == (
        f"{XML}<Response>{_gather('/twilio/voice/gather?turn=3&amp;misses=0')}"
        f"{SAY}Sure &amp; thanks.</Say>{SAY}Anything else?</Say></Gather></Response>"
    )


def test_buttons_become_a_keypad_menu() -> None:
    reply = BotReply(
        text="What would you like us to do?",
        buttons=(Button(title="Refund", payload="/a"), Button(title="Repair", payload="/b")),
    )
    assert render_outbound([reply], voice=VOICE, turn=2) == (
        f"{XML}<Response>{_gather('/twilio/voice/gather?turn=2&amp;misses=0')}"
        f"{SAY}What would you like us to do?</Say>"
        f"{SAY}For Refund, press 1. For Repair, press 2.</Say></Gather></Response>"
    )


def test_a_picture_is_mentioned_after_the_keypad_menu() -> None:
    reply = BotReply(
        text="Which one?",
        buttons=(Button(title="Refund", payload="/a"), Button(title="Repair", payload="/b")),
        image="https://shop.test/a.png",
    )
    assert render_outbound([reply], voice=VOICE, turn=2) == (
        f"{XML}<Response>{_gather('/twilio/voice/gather?turn=2&amp;misses=0')}"
        f"{SAY}Which one?</Say>{SAY}For Refund, press 1. For Repair, press 2.</Say>"
        f"{SAY}I've got a picture for you that I can't show on a call.</Say></Gather></Response>"
    )


def test_reprompt_counts_misses_in_the_action() -> None:
    assert render_turn(["Sorry, I didn't catch that."], voice=VOICE, turn=1, misses=2) == (
        f"{XML}<Response>{_gather('/twilio/voice/gather?turn=1&amp;misses=2')}"
        f"{SAY}Sorry, I didn't catch that.</Say></Gather></Response>"
    )


def test_after_the_reprompts_a_person_or_a_callback_is_offered() -> None:
    assert render_offer_human(VOICE, turn=4) == (
        f"{XML}<Response>"
        + _gather("/twilio/voice/gather?turn=4&amp;misses=3&amp;offer=1", ' numDigits="1"')
        + f"{SAY}I'm sorry, I still can't hear you. To speak to a person, press 0. "
        "To get a call back on this number, press 1.</Say></Gather></Response>"
    )


def test_consent_prompt_and_recording_notice() -> None:
    assert render_consent_prompt(VOICE) == (
        f'{XML}<Response><Gather action="/twilio/voice/consent" input="dtmf" numDigits="1" '
        f'timeout="5">{SAY}We\'d like to record this call for quality and training. '
        "To allow this, press 1. To continue without recording, stay on the line.</Say>"
        '</Gather><Redirect method="POST">/twilio/voice/consent</Redirect></Response>'
    )
    assert render_recording_notice(VOICE) == (
        f"{XML}<Response>{SAY}This call may be recorded for quality and training.</Say>"
        '<Redirect method="POST">/twilio/voice/consent?choice=default</Redirect></Response>'
    )


def test_goodbye_hangs_up_and_waiting_redirects() -> None:
    assert render_goodbye("Bye.", voice=VOICE) == (
        f"{XML}<Response>{SAY}Bye.</Say><Hangup /></Response>"
    )
    assert render_wait(VOICE, turn=2, waits=0) == (
        f'{XML}<Response>{SAY}One moment, please.</Say><Pause length="2" />'
        '<Redirect method="POST">/twilio/voice/pending?turn=2&amp;waits=1</Redirect></Response>'
    )


def test_a_caller_is_put_through_to_the_agents_phone() -> None:
    assert render_dial(
        [BotReply(text="I've passed you to our team.")],
        agent_name="Sam",
        agent_phone="+14155550123",
        caller_id="+14155550199",
        voice=VOICE,
    ) == (
        f"{XML}<Response>{SAY}I've passed you to our team.</Say>"
        f"{SAY}Putting you through to Sam now.</Say>"
        '<Dial answerOnBridge="true" callerId="+14155550199">'
        "<Number>+14155550123</Number></Dial></Response>"
    )


def test_a_caller_waiting_for_a_person_is_held_in_the_teams_queue() -> None:
    assert render_enqueue(
        [BotReply(text="You're number 2 in line.")],
        queue="support.general",
        handoff_id=17,
        voice=VOICE,
    ) == (
        f"{XML}<Response>{SAY}You're number 2 in line.</Say>"
        '<Enqueue action="/twilio/voice/dequeued?handoff=17" method="POST" '
        'waitUrl="/twilio/voice/hold?handoff=17" waitUrlMethod="POST">support.general</Enqueue>'
        "</Response>"
    )


def test_on_hold_the_caller_hears_their_place_now_and_then() -> None:
    assert render_hold(3, voice=VOICE) == (
        f"{XML}<Response>{SAY}You are number 3 in line. Thank you for holding.</Say>"
        '<Pause length="10" /></Response>'
    )
    assert render_hold(None, voice=VOICE) == f'{XML}<Response><Pause length="10" /></Response>'
    assert render_leave() == f"{XML}<Response><Leave /></Response>"


def test_an_agent_without_a_phone_answers_a_caller_by_text() -> None:
    assert render_agent_will_text([], agent_name="Sam", voice=VOICE) == (
        f"{XML}<Response>{SAY}Sam from our team has your request, and will reply by text "
        "message to this number or call you back. Goodbye.</Say><Hangup /></Response>"
    )
