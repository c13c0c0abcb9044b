"""Phone calls in TwiML, pure: what the caller hears (`<Say>` in a natural voice), and how
the call goes on (`<Gather>` the next answer, `<Enqueue>` on hold, `<Dial>` an agent).

Every turn is a `<Gather input="speech dtmf">` around the replies; buttons become a keypad
menu ("For Refund, press 1.") and a picture is mentioned, not dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, Enqueue, Gather, VoiceResponse

from adapters.contract import Degradation
from bot.core.messages import BotReply, Button
from bot.core.settings import Settings
from bot.core.texts import Text, say

# Amazon Polly voices Twilio offers, one natural voice per language.
VOICES = {
    "en-US": "Polly.Joanna-Neural",
    "en-GB": "Polly.Amy-Neural",
    "en-AU": "Polly.Olivia-Neural",
    "en-IN": "Polly.Kajal-Neural",
    "es-ES": "Polly.Lucia-Neural",
    "es-US": "Polly.Lupe-Neural",
    "fr-FR": "Polly.Lea-Neural",
    "de-DE": "Polly.Vicki-Neural",
    "it-IT": "Polly.Bianca-Neural",
    "pt-BR": "Polly.Camila-Neural",
    "nl-NL": "Polly.Laura-Neural",
}


@dataclass(frozen=True)
class Voice:
    """How the assistant sounds: the `<Say>` voice and the speech-recognition language."""

    name: str
    language: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Voice:
        """The configured voice, or the natural one for the configured language."""
        language = settings.voice_language
        return cls(settings.voice_name or VOICES.get(language, "Polly.Joanna-Neural"), language)

    def speak(self, verb: VoiceResponse | Gather, text: str) -> None:
        """Add `text`, spoken in this voice, to a response or a gather."""
        verb.say(text, voice=self.name, language=self.language)


# Silence or mumbling is re-prompted this often before a person or a callback is offered.
MAX_REPROMPTS = 2
PENDING_PAUSE_SECONDS = 2
# On hold, the waitUrl is asked again after each pause: how soon a taken call is put through.
HOLD_PAUSE_SECONDS = 10


def keypad_option(number: int, button: Button) -> str:
    """A button as a keypad choice: "For Refund, press 1."."""
    return say(Text.CALL_KEYPAD_OPTION, title=button.title, number=number)


# A keypad menu, said in one breath; no prompt (the menu says which key to press).
DEGRADATION = Degradation(
    option=keypad_option, prompt=None, image=lambda _url: say(Text.CALL_PICTURE)
)


def spoken(reply: BotReply) -> list[str]:
    """What is said for one reply: its text, its keypad menu, a note about a picture."""
    parts = DEGRADATION.parts(reply)
    menu = " ".join(parts.options)
    return [p for p in (parts.text, menu, parts.image) if p]


def gather_url(turn: int, misses: int = 0, *, offer: bool = False) -> str:
    """Where Twilio posts the caller's next answer."""
    query = {"turn": turn, "misses": misses} | ({"offer": 1} if offer else {})
    return f"/twilio/voice/gather?{urlencode(query)}"


def _gather(voice: Voice, action: str, *, num_digits: int | None = None) -> Gather:
    return Gather(
        input="speech dtmf",
        action=action,
        method="POST",
        language=voice.language,
        speech_timeout="auto",
        timeout=5,
        action_on_empty_result=True,
        **({"num_digits": num_digits} if num_digits else {}),
    )


def render_turn(
    texts: Sequence[str],
    *,
    voice: Voice,
    turn: int,
    misses: int = 0,
    num_digits: int | None = None,
) -> str:
    """Say `texts` inside a Gather waiting for the caller's answer to turn `turn` (ending
    after `num_digits` keypresses when the assistant asked for a code on the keypad)."""
    response = VoiceResponse()
    gather = _gather(voice, gather_url(turn, misses), num_digits=num_digits)
    for text in texts:
        voice.speak(gather, text)
    response.append(gather)
    return str(response)


def render_outbound(replies: Sequence[BotReply], *, voice: Voice, turn: int) -> str:
    """The assistant's replies spoken, then listening for the next turn."""
    texts = [text for reply in replies for text in spoken(reply)]
    return render_turn(
        texts or [say(Text.CALL_REPROMPT)],
        voice=voice,
        turn=turn,
        num_digits=expected_digits(replies),
    )


def expected_digits(replies: Sequence[BotReply]) -> int | None:
    """How many keypresses the assistant asked for (a one-time code), if it did."""
    for reply in replies:
        digits = (reply.custom or {}).get("expect_digits")
        if isinstance(digits, int) and 0 < digits <= 20:
            return digits
    return None


def _say_all(response: VoiceResponse, replies: Sequence[BotReply], voice: Voice) -> None:
    for text in [text for reply in replies for text in spoken(reply)]:
        voice.speak(response, text)


def render_dial(
    replies: Sequence[BotReply], *, agent_name: str, agent_phone: str, caller_id: str, voice: Voice
) -> str:
    """Say the replies, then put the caller through to the agent's phone."""
    response = VoiceResponse()
    _say_all(response, replies, voice)
    voice.speak(response, say(Text.CALL_PUTTING_THROUGH, agent=agent_name))
    dial = Dial(caller_id=caller_id or None, answer_on_bridge=True)
    dial.number(agent_phone)
    response.append(dial)
    return str(response)


def render_enqueue(
    replies: Sequence[BotReply], *, queue: str, handoff_id: int, voice: Voice
) -> str:
    """Say the replies, then hold the caller in the team's queue until someone takes it."""
    response = VoiceResponse()
    _say_all(response, replies, voice)
    enqueue = Enqueue(
        name=queue[:64],
        wait_url=f"/twilio/voice/hold?handoff={handoff_id}",
        wait_url_method="POST",
        action=f"/twilio/voice/dequeued?handoff={handoff_id}",
        method="POST",
    )
    response.append(enqueue)
    return str(response)


def render_hold(position: int | None, *, voice: Voice) -> str:
    """What a caller on hold hears until Twilio asks again: now and then their place."""
    response = VoiceResponse()
    if position is not None:
        voice.speak(response, say(Text.CALL_HOLD_POSITION, position=position))
    response.pause(length=HOLD_PAUSE_SECONDS)
    return str(response)


def render_leave() -> str:
    """Take the caller out of the hold queue (Twilio then asks the Enqueue action)."""
    response = VoiceResponse()
    response.leave()
    return str(response)


def render_agent_will_text(replies: Sequence[BotReply], *, agent_name: str, voice: Voice) -> str:
    """An agent without a phone has the call's conversation: they answer by text."""
    response = VoiceResponse()
    _say_all(response, replies, voice)
    voice.speak(response, say(Text.CALL_AGENT_WILL_TEXT, agent=agent_name))
    response.hangup()
    return str(response)


def render_consent_prompt(voice: Voice) -> str:
    """Ask for recording consent: press 1 to opt in; no key press means no recording."""
    response = VoiceResponse()
    gather = Gather(input="dtmf", num_digits=1, timeout=5, action="/twilio/voice/consent")
    voice.speak(gather, say(Text.CALL_CONSENT_PROMPT))
    response.append(gather)
    response.redirect("/twilio/voice/consent", method="POST")
    return str(response)


def render_recording_notice(voice: Voice) -> str:
    """Tell the caller the call is recorded, then carry on to the greeting."""
    response = VoiceResponse()
    voice.speak(response, say(Text.CALL_RECORDING_NOTICE))
    response.redirect("/twilio/voice/consent?choice=default", method="POST")
    return str(response)


def render_offer_human(voice: Voice, *, turn: int) -> str:
    """After repeated silence: press 0 for a person, 1 for a callback; else goodbye."""
    response = VoiceResponse()
    gather = _gather(voice, gather_url(turn, MAX_REPROMPTS + 1, offer=True), num_digits=1)
    voice.speak(gather, say(Text.CALL_OFFER_HUMAN))
    response.append(gather)
    return str(response)


def render_goodbye(text: str, *, voice: Voice) -> str:
    """Say `text` and hang up."""
    response = VoiceResponse()
    voice.speak(response, text)
    response.hangup()
    return str(response)


def render_wait(voice: Voice, *, turn: int, waits: int) -> str:
    """Keep the caller company while a slow answer is being prepared."""
    response = VoiceResponse()
    if waits == 0:
        voice.speak(response, say(Text.CALL_ONE_MOMENT))
    response.pause(length=PENDING_PAUSE_SECONDS)
    query = urlencode({"turn": turn, "waits": waits + 1})
    response.redirect(f"/twilio/voice/pending?{query}", method="POST")
    return str(response)


def render_hang_up_quietly() -> str:
    """Nothing more to say: the caller is no longer on our line."""
    return str(VoiceResponse())


def render_busy() -> str:
    """Refuse the call with a busy tone (a caller over CALL_SENDER_RATE): `<Reject>` before
    answering, so the call is never connected and costs nothing."""
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)
