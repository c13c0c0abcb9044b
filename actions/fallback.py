"""When the assistant does not understand: ask to rephrase first, then hand over to a person."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.handoff import escalate, tell_customer

NLU_FALLBACK = "nlu_fallback"
MISSES_BEFORE_A_PERSON = 2


def consecutive_misses(tracker: Tracker) -> int:
    """How many of the latest user messages in a row were not understood."""
    misses = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data", {}).get("intent") or {}).get("name") != NLU_FALLBACK:
            break
        misses += 1
    return misses


class ActionHandleNluFallback(Action):
    """Asks the customer to rephrase; after a second miss in a row, hands over to a person."""

    def name(self) -> str:
        return "action_handle_nlu_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if consecutive_misses(tracker) >= MISSES_BEFORE_A_PERSON:
            escalation = await escalate(tracker, reason="not understood twice")
            tell_customer(dispatcher, escalation)
        else:
            dispatcher.utter_message(response="utter_rephrase")
        return []
