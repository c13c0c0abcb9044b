"""Sensitive requests: each asks for verification first, then carries on where the customer
was. A request is an `Action` whose `answer` runs once the conversation is verified."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import structlog
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.self_service.references import order_ref_in
from actions.services import ConversationState, action_session, business_systems, conversation_state
from bot.business.protocol import BusinessSystems, BusinessSystemsError
from bot.core.models import Channel

log = structlog.get_logger("actions.self_service")


@dataclass(frozen=True)
class Verified:
    """What an answer needs: who the customer is, their channel, the business systems."""

    customer_ref: str
    state: ConversationState
    backend: BusinessSystems
    # False when carrying on after verification: the latest message is then the code.
    fresh: bool = True

    @property
    def channel(self) -> Channel:
        """The channel the customer is on (how links and attachments can be shown)."""
        return self.state.ref.channel


class SensitiveAction(Action, metaclass=abc.ABCMeta):
    """Verification first; then `answer`. Subclasses name their intent and action."""

    intent: ClassVar[str]
    action_name: ClassVar[str]
    handlers: ClassVar[dict[str, type[SensitiveAction]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        SensitiveAction.handlers[cls.intent] = cls

    def name(self) -> str:
        return self.action_name

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        async with action_session() as session:
            state = await conversation_state(tracker, session)
        if state.verified_customer_ref is None:
            if not await self.open_without_verification(dispatcher, tracker, state):
                return []
            dispatcher.utter_message(response="utter_verification_needed")
            return [
                SlotSet("pending_request", self.pending_request(tracker)),
                SlotSet("order_id", order_ref_in(tracker)),
                FollowupAction("verification_form"),
            ]
        return await answer_safely(self, dispatcher, tracker, state)

    def pending_request(self, tracker: Tracker) -> str:
        """What to carry on with once verified (the request's own intent by default)."""
        return self.intent

    async def open_without_verification(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, state: ConversationState
    ) -> bool:
        """True when verification is needed; an action may answer something without it."""
        return True

    @abc.abstractmethod
    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        """Answer the request for a verified customer."""


async def answer_safely(
    action: SensitiveAction,
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    state: ConversationState,
    *,
    fresh: bool = True,
) -> list[EventType]:
    """Run the answer; the business systems being down is said plainly, with a person."""
    assert state.verified_customer_ref is not None
    try:
        backend = await business_systems()
        verified = Verified(state.verified_customer_ref, state, backend, fresh)
        events = await action.answer(dispatcher, tracker, verified)
    except BusinessSystemsError as error:
        log.warning("business_systems_failed", intent=action.intent, error=str(error))
        dispatcher.utter_message(response="utter_business_systems_down")
        dispatcher.utter_message(response="utter_offer_human")
        events = []
    # Rasa sees how the customer is verified (a code, or the company app's token).
    return [SlotSet("verification_level", state.verification_level), *events]


async def resume(
    dispatcher: CollectingDispatcher, tracker: Tracker, state: ConversationState
) -> list[EventType]:
    """Carry on with the request that asked for verification."""
    intent = tracker.get_slot("pending_request")
    handler = SensitiveAction.handlers.get(str(intent)) if intent else None
    if handler is None:
        dispatcher.utter_message(response="utter_how_can_i_help")
        return []
    events = await answer_safely(handler(), dispatcher, tracker, state, fresh=False)
    return [SlotSet("pending_request", None), *events]
