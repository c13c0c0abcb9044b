"""What a caller said or pressed, read from Twilio's voice webhooks, and their recording
choice."""

from __future__ import annotations

from collections.abc import Mapping

from bot.core.messages import InboundMessage, InvalidMessage, clean_text
from bot.core.models import Channel, RecordingConsent

# Speech recognised with less confidence than this is treated like silence.
MIN_SPEECH_CONFIDENCE = 0.2


def call_of(form: Mapping[str, str]) -> tuple[str, str]:
    """The CallSid and the caller's number, which every voice webhook carries."""
    call_sid, caller = form.get("CallSid", "").strip(), form.get("From", "").strip()
    if not call_sid or not caller:
        raise InvalidMessage("malformed", "CallSid and From are required.", status_code=400)
    return call_sid, caller


def parse_inbound(form: Mapping[str, str], *, turn: int, max_bytes: int) -> InboundMessage | None:
    """What the caller said or pressed on turn `turn`; None for silence or mumbling."""
    call_sid, caller = call_of(form)
    digits = form.get("Digits", "").strip()
    speech = form.get("SpeechResult", "").strip()
    metadata: dict[str, str | float] = {"call_sid": call_sid, "to": form.get("To", "")}
    if digits:
        text, metadata["input"] = digits, "dtmf"
    elif speech and _confidence(form) >= MIN_SPEECH_CONFIDENCE:
        text, metadata["input"] = speech, "speech"
        metadata["confidence"] = _confidence(form)
    else:
        return None
    return InboundMessage(
        text=clean_text(text, max_bytes=max_bytes),
        sender_id=caller,
        channel=Channel.VOICE,
        message_id=f"{call_sid}:{turn}",
        metadata=metadata,
    )


def _confidence(form: Mapping[str, str]) -> float:
    try:
        value = float(form.get("Confidence", "1"))
    except ValueError:
        return 0.0
    # "nan" and "inf" parse as floats, and a stored infinity is not JSON PostgreSQL takes.
    return value if 0.0 <= value <= 1.0 else 0.0


def consent_for(form: Mapping[str, str], choice: str | None) -> RecordingConsent:
    """The caller's recording choice: told (default), pressed 1 (opted in), or neither."""
    if choice == "default":
        return RecordingConsent.DEFAULT
    return RecordingConsent.OPTED_IN if form.get("Digits") == "1" else RecordingConsent.DECLINED


def needs_opt_in(form: Mapping[str, str], opt_in_countries: set[str]) -> bool:
    """Whether this caller must opt in to recording (their country's rules)."""
    country = (form.get("FromCountry") or form.get("CallerCountry") or "").upper()
    return country in opt_in_countries
