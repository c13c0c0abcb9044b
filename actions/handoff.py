"""Asking for a person: the conversation is flagged for the support team."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.store_access import action_session, conversation_of
from bot import store
from bot.models import Channel, Conversation

CHANNEL_NAMES = {
    Channel.WEBCHAT: "web chat",
    Channel.SMS: "SMS",
    Channel.VOICE: "phone",
    Channel.EMAIL: "email",
}


def spoken_list(names: list[str]) -> str:
    """["SMS", "email", "phone"] -> "SMS, email and phone"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


class ActionRequestHuman(Action):
    """Flags the conversation as waiting for an agent and tells the customer what that means.

    Live agent handoff is not built yet, so the reply says so plainly.
    """

    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        async with action_session() as session:
            ref = await conversation_of(tracker, session)
            conversation = await session.get_one(Conversation, ref.conversation_id)
            # The customer's history on every channel goes with the request.
            used = await store.channels_used(session=session, customer_id=ref.customer_id)
            await store.flag_for_agent(
                session=session,
                conversation=conversation,
                reason=(tracker.latest_message.get("intent") or {}).get("name") or "unknown",
                actor=f"assistant:{tracker.sender_id}",
                context={"messages_by_channel": {c.value: n for c, n in used.items()}},
            )
        dispatcher.utter_message(response="utter_handoff_not_available")
        names = [CHANNEL_NAMES[c] for c in used if c in CHANNEL_NAMES]
        if len(names) > 1:
            dispatcher.utter_message(response="utter_handoff_history", channels=spoken_list(names))
        return []
