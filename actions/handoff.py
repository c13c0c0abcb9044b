"""Handing a conversation to people: into the right queue, with its priority, and telling the
customer what happens next (their place and wait, or when the team is back and a callback)."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.services import action_session, conversation_of, escalations
from bot.core.models import Channel, Customer, utcnow
from bot.core.settings import get_settings
from handoff.escalation import Escalation
from handoff.models import HandoffKind, HandoffStatus
from handoff.queues import Queue

CHANNEL_NAMES = {
    Channel.WEBCHAT: "web chat",
    Channel.SMS: "SMS",
    Channel.VOICE: "phone",
    Channel.EMAIL: "email",
}


# Intents that say nothing about what the customer needs help with.
GENERIC_INTENTS = frozenset(
    {
        "affirm",
        "deny",
        "greet",
        "thank",
        "goodbye",
        "inform",
        "nlu_fallback",
        "request_human",
        "request_callback",
        "bot_challenge",
        "out_of_scope",
    }
)


def topic_intent(tracker: Tracker) -> str | None:
    """The latest intent that says what the conversation is about (for routing)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            name = (event.get("parse_data", {}).get("intent") or {}).get("name")
            if name and name not in GENERIC_INTENTS:
                return str(name)
    return None


def spoken_list(names: list[str]) -> str:
    """["SMS", "email", "phone"] -> "SMS, email and phone"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def when_open(queue: Queue, now: datetime) -> str:
    """When a closed queue opens next, as said to a customer: "today at 14:00"."""
    opening = queue.next_opening(now)
    if opening is None:
        return "as soon as they can"
    local_now = now.astimezone(queue.timezone)
    days = (opening.date() - local_now.date()).days
    day = "today" if days == 0 else "tomorrow" if days == 1 else f"on {opening:%A}"
    return f"{day} at {opening:%H:%M}"


def wait_minutes(position: int, agents: int, average_minutes: float) -> int:
    """A rough wait: the conversations ahead, shared among the agents on duty."""
    return max(1, math.ceil(position * average_minutes / max(1, agents)))


async def escalate(
    tracker: Tracker,
    *,
    reason: str,
    kind: HandoffKind = HandoffKind.CHAT,
    callback_number: str | None = None,
) -> Escalation:
    """Hand the tracker's conversation to people, routed by its complaint or topic."""
    async with action_session() as session:
        ref = await conversation_of(tracker, session)
    return await escalations().escalate(
        conversation_id=ref.conversation_id,
        customer_id=ref.customer_id,
        reason=reason,
        intent=topic_intent(tracker),
        kind=kind,
        callback_number=callback_number,
    )


def tell_customer(dispatcher: CollectingDispatcher, escalation: Escalation) -> None:
    """What happens next: with an agent now, a place in the queue, or when the team is back."""
    queue, now = escalation.queue, utcnow()
    if escalation.status is HandoffStatus.ASSIGNED:
        dispatcher.utter_message(response="utter_handoff_assigned", team=queue.name)
    elif queue.is_open(now) and escalation.agents_on_duty:
        minutes = wait_minutes(
            escalation.position, escalation.agents_on_duty, get_settings().handoff_average_minutes
        )
        dispatcher.utter_message(
            response="utter_handoff_queued",
            team=queue.name,
            position=escalation.position,
            minutes=minutes,
        )
    elif queue.is_open(now):
        dispatcher.utter_message(response="utter_handoff_unstaffed", team=queue.name)
    else:
        dispatcher.utter_message(
            response="utter_handoff_closed", team=queue.name, opens=when_open(queue, now)
        )
    if escalation.case_id and escalation.status is HandoffStatus.QUEUED:
        dispatcher.utter_message(response="utter_handoff_case_open", case_id=escalation.case_id)
    names = [CHANNEL_NAMES[c] for c in escalation.channels if c in CHANNEL_NAMES]
    if len(names) > 1:
        dispatcher.utter_message(response="utter_handoff_history", channels=spoken_list(names))


class ActionRequestHuman(Action):
    """Hands the conversation to the team and tells the customer what happens next."""

    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or "unknown"
        tell_customer(dispatcher, await escalate(tracker, reason=intent))
        return []


# A phone number as people type it: "+44 20 7946 0018", "0044 20...", "(415) 555-0100".
PHONE_IN_TEXT = re.compile(r"(?<![\w+])(\+|00)?\d[\d\s().-]{4,20}\d(?![\w])")
# Answers to "what number should we call?" that mean "never mind", not a bad number.
NOT_A_NUMBER_INTENTS = frozenset({"deny", "goodbye", "request_human", "thank"})


def find_phone_number(text: str) -> str | None:
    """The first phone number in `text`, digits only ("+" kept for international ones)."""
    for match in PHONE_IN_TEXT.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if match.group(1) == "00":
            digits = digits[2:]
        if 7 <= len(digits) <= 15:
            return f"+{digits}" if match.group(1) else digits
    return None


class ValidateCallbackForm(FormValidationAction):
    """Finds the number to call back: said in the request, known already, or asked for."""

    def name(self) -> str:
        return "validate_callback_form"

    async def extract_callback_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """From the customer's words, else (when the form starts) the number on their record."""
        asked = tracker.get_slot("requested_slot") == "callback_number"
        message = tracker.latest_message
        entity = next(tracker.get_latest_entity_values("phone"), None)
        text = str(message.get("text") or "")
        said = find_phone_number(str(entity)) if entity else None
        said = said or (None if text.startswith("/") else find_phone_number(text))
        if said:
            return {"callback_number": said}
        if not asked:
            known = await _known_number(tracker)
            return {"callback_number": known} if known else {}
        intent = (message.get("intent") or {}).get("name")
        if intent in NOT_A_NUMBER_INTENTS:
            return {}  # the form gives way; the rules answer that instead
        dispatcher.utter_message(response="utter_invalid_callback_number")
        return {"callback_number": None}


class ActionRequestCallback(Action):
    """Books a call back on the number the customer gave, or the one we know."""

    def name(self) -> str:
        return "action_request_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = tracker.get_slot("callback_number") or await _known_number(tracker)
        if number is None:  # the form always finds one; this is Rasa run without it
            dispatcher.utter_message(response="utter_ask_callback_number")
            return []
        escalation = await escalate(
            tracker, reason="callback requested", kind=HandoffKind.CALLBACK, callback_number=number
        )
        queue = escalation.queue
        now = utcnow()
        when = "shortly" if queue.is_open(now) else when_open(queue, now)
        dispatcher.utter_message(
            response="utter_callback_booked", team=queue.name, number=number, when=when
        )
        return [SlotSet("callback_number", None)]


async def _known_number(tracker: Tracker) -> str | None:
    # Customers who texted or called have their number on their record.
    async with action_session() as session:
        ref = await conversation_of(tracker, session)
        customer = await session.get_one(Customer, ref.customer_id)
        return customer.phone
