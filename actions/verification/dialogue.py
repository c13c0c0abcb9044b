"""The verification form: which record a customer claims (their channel's address, or the
email / mobile number they give), a code sent to that record's own phone or mailbox, the
code checked; nothing said ever reveals whether a number, address or account exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.ext.asyncio import AsyncSession

from actions.services import (
    ConversationState,
    action_session,
    business_systems,
    code_sender,
    conversation_state,
    rate_limits,
)
from actions.verification.codes import (
    CODE_DIGITS,
    LOCKED_WHAT,
    CheckResult,
    OneTimeCodes,
    code_in,
    contact_in,
    verify,
)
from bot.business.records import CustomerRecord
from bot.core.models import Channel
from bot.core.rate_limits import RateLimited
from bot.core.settings import get_settings
from bot.core.store.customers import normalise_address

log = structlog.get_logger("actions.verification")

FORM_SLOTS = ("verification_contact", "verification_code")
# A code sent in this form round (the ask action runs again after each wrong code).
SENT = "verification_sent"
# Wrong codes typed where no code was sent (unknown details): limited like real ones.
MISSES = "verification_misses"
FAILED = "failed"  # the code slot's value when verification ends without success
CANCELLED = "cancelled"  # ... and when the customer gives up on it
GIVING_UP_INTENTS = frozenset({"deny", "goodbye"})
# A customer waiting for a code that did not come, or giving up on it.
NEW_CODE_WORDS = (
    "new code",
    "another code",
    "resend",
    "send again",
    "send it again",
    "didn't get",
    "didnt get",
    "not received",
    "haven't received",
    "havent received",
    "never got",
    "never came",
    "didn't arrive",
    "didnt arrive",
    "no code",
)
CANCEL_WORDS = ("cancel", "never mind", "nevermind", "forget it", "don't bother")


@dataclass(frozen=True)
class Destination:
    """Where a record's code goes: its own phone (SMS) or mailbox."""

    record: CustomerRecord
    via: str  # "sms" | "email"
    address: str

    def described(self) -> str:
        """ "the mobile number ending 01" / "the email address a•••@example.com"."""
        if self.via == "sms":
            return f"the mobile number ending {self.address[-2:]}"
        name, _, domain = self.address.partition("@")
        return f"the email address {name[:1]}•••@{domain}"


def codes() -> OneTimeCodes:
    """The code service of this process."""
    return OneTimeCodes(get_settings(), rate_limits())


async def record_of_channel(state: ConversationState) -> CustomerRecord | None:
    """The record the customer's own channel address belongs to (phone or email), if one."""
    backend = await business_systems()
    channel, address = state.ref.channel, state.address
    if channel in (Channel.SMS, Channel.VOICE) and address:
        return await backend.customer_by_phone(normalise_address(Channel.SMS, address))
    if channel is Channel.EMAIL and address:
        return await backend.customer_by_email(normalise_address(Channel.EMAIL, address))
    return None


async def record_of_contact(contact: str) -> tuple[CustomerRecord | None, str]:
    """The record holding a typed email or mobile number, and which kind it was."""
    backend = await business_systems()
    contact = contact.strip()
    if "@" in contact:
        return await backend.customer_by_email(normalise_address(Channel.EMAIL, contact)), "email"
    digits = normalise_address(Channel.SMS, contact)
    if digits.startswith("0"):
        digits = "+44" + digits[1:]  # a national UK number as customers type it
    return await backend.customer_by_phone(digits), "sms"


def destination_for(record: CustomerRecord, preferred: str) -> Destination | None:
    """The record's own phone or mailbox, the preferred kind first (SMS needs Twilio)."""
    sms_ok = bool(record.phone) and get_settings().twilio_enabled
    order = ("sms", "email") if preferred == "sms" else ("email", "sms")
    for via in order:
        if via == "sms" and sms_ok and record.phone:
            return Destination(record, "sms", record.phone)
        if via == "email" and record.email:
            return Destination(record, "email", record.email)
    return None


async def send_code(state: ConversationState, destination: Destination) -> str | None:
    """Issue and send a code to the record's destination; None when sent, else the
    response that says why not (over a sending limit, or the channel failed)."""
    try:
        async with action_session() as session:
            code = await codes().issue(
                session=session,
                conversation_id=state.ref.conversation_id,
                customer_ref=destination.record.ref,
                destination=destination.address,
                sent_via=destination.via,
            )
    except RateLimited as limited:
        # The record locked after wrong codes reads differently from a sending limit.
        if limited.what == LOCKED_WHAT:
            return "utter_verification_locked_now"
        return "utter_verification_too_many_codes"
    text = f"Your verification code is {code}. It expires in 5 minutes. Never share it."
    try:
        if destination.via == "sms":
            await code_sender().send_sms(destination.address, text)
        else:
            await code_sender().send_email(destination.address, "Your verification code", text)
    except Exception as error:  # a channel's failure is told, never the code
        log.warning("verification_code_not_sent", via=destination.via, error=type(error).__name__)
        return "utter_verification_not_sent"
    return None


class ValidateVerificationForm(FormValidationAction):
    """Asks for the contact details only when the channel's own address names no record."""

    def name(self) -> str:
        return "validate_verification_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot(SENT) or tracker.get_slot("verification_contact"):
            return ["verification_code"]
        async with action_session() as session:
            state = await conversation_state(tracker, session)
        if await record_of_channel(state) is not None:
            return ["verification_code"]
        return list(FORM_SLOTS)

    async def validate_verification_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if _gives_up(tracker, str(value or "")):
            return {"verification_contact": "-", "verification_code": CANCELLED}
        contact = contact_in(str(value or ""))
        if contact is not None:
            return {"verification_contact": contact}
        dispatcher.utter_message(response="utter_verification_contact_invalid")
        return {"verification_contact": None}

    async def validate_verification_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        if any(words in text.lower() for words in NEW_CODE_WORDS):
            return {"verification_code": None, SENT: None}
        if _gives_up(tracker, text):
            return {"verification_code": CANCELLED}
        code = code_in(text)
        if code is None:
            dispatcher.utter_message(response="utter_verification_code_invalid")
            return {"verification_code": None}
        async with action_session() as session:
            state = await conversation_state(tracker, session)
            checked = await codes().check(
                session=session, conversation_id=state.ref.conversation_id, code=code
            )
            if checked.result is CheckResult.ACCEPTED and checked.customer_ref:
                return await _accepted(session, state, checked.customer_ref, dispatcher)
        return self._refused(checked.result, tracker, dispatcher)

    def _refused(
        self, result: CheckResult, tracker: Tracker, dispatcher: CollectingDispatcher
    ) -> dict[str, Any]:
        misses = int(tracker.get_slot(MISSES) or 0) + 1
        if result is CheckResult.LOCKED or misses >= get_settings().otp_max_attempts:
            dispatcher.utter_message(
                response="utter_verification_locked", minutes=get_settings().otp_lockout_minutes
            )
            return {"verification_code": FAILED, MISSES: None}
        # Expired and wrong read the same: an unknown record must not look different.
        dispatcher.utter_message(response="utter_verification_code_wrong")
        return {"verification_code": None, MISSES: float(misses)}


async def _accepted(
    session: AsyncSession,
    state: ConversationState,
    customer_ref: str,
    dispatcher: CollectingDispatcher,
) -> dict[str, Any]:
    verified = await verify(
        session=session,
        conversation_id=state.ref.conversation_id,
        customer_ref=customer_ref,
        via=state.ref.channel.value,
    )
    if not verified:
        dispatcher.utter_message(response="utter_verification_other_record")
        return {"verification_code": FAILED}
    return {"verification_code": "ok", "verification_level": "code", MISSES: None}


def _gives_up(tracker: Tracker, text: str) -> bool:
    # "no", "cancel", "forget it": the customer does not want to verify after all.
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    if code_in(text) is not None or contact_in(text) is not None:
        return False
    return intent in GIVING_UP_INTENTS or any(w in text.lower() for w in CANCEL_WORDS)


class ActionAskVerificationCode(Action):
    """Sends a code when none is out in this round, then asks for it."""

    def name(self) -> str:
        return "action_ask_verification_code"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot(SENT):
            dispatcher.utter_message(**_ask_code(tracker))
            return []
        async with action_session() as session:
            state = await conversation_state(tracker, session)
        # The slot may still hold the customer's words ("my email is ..."): read them again.
        contact = contact_in(str(tracker.get_slot("verification_contact") or ""))
        if contact:
            record, preferred = await record_of_contact(contact)
        else:
            record, preferred = await record_of_channel(state), _channel_kind(state.ref.channel)
        destination = destination_for(record, preferred) if record else None
        if destination is None:
            # Unknown details read exactly like known ones: no code can match, that's all.
            dispatcher.utter_message(response="utter_verification_code_sent_if_known")
        elif (problem := await send_code(state, destination)) is not None:
            dispatcher.utter_message(response=problem)
            # Nothing to wait for: the form ends now and the customer is offered a person.
            return [
                SlotSet("verification_code", FAILED),
                SlotSet("requested_slot", None),
                ActiveLoop(None),
            ]
        elif contact:
            dispatcher.utter_message(response="utter_verification_code_sent_if_known")
        else:
            dispatcher.utter_message(
                response="utter_verification_code_sent", destination=destination.described()
            )
        dispatcher.utter_message(**_ask_code(tracker))
        return [SlotSet(SENT, True)]


def _channel_kind(channel: Channel) -> str:
    return "email" if channel is Channel.EMAIL else "sms"


def _ask_code(tracker: Tracker) -> dict[str, Any]:
    # On a call the code is typed on the keypad: the voice channel gathers six digits.
    channel = (tracker.latest_message.get("metadata") or {}).get("channel")
    if channel == Channel.VOICE.value:
        return {
            "response": "utter_ask_verification_code_keypad",
            "json_message": {"expect_digits": CODE_DIGITS},
        }
    return {"response": "utter_ask_verification_code"}


def clear_form() -> list[EventType]:
    """Slot events that reset the form for the next verification."""
    return [SlotSet(slot, None) for slot in (*FORM_SLOTS, SENT, MISSES)]


class ActionVerificationDone(Action):
    """After the form: carry on with what the customer asked, or offer a person."""

    def name(self) -> str:
        return "action_verification_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        from actions.self_service.registry import resume

        events = clear_form()
        async with action_session() as session:
            state = await conversation_state(tracker, session)
        if state.verified_customer_ref is None:
            outcome = tracker.get_slot("verification_code")
            if outcome == CANCELLED:
                dispatcher.utter_message(response="utter_anything_else")
            else:
                if outcome != FAILED:
                    dispatcher.utter_message(response="utter_verification_failed")
                dispatcher.utter_message(response="utter_offer_human")
            return [*events, SlotSet("pending_request", None)]
        dispatcher.utter_message(response="utter_verification_ok")
        return events + await resume(dispatcher, tracker, state)
