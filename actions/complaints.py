"""Complaint actions: the form's extraction and validation, submission, status lookup."""

from __future__ import annotations

import re
from typing import Any

import structlog
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.complaint_text import (
    CATEGORY_LABELS,
    find_order_ref,
    infer_category,
    normalise_outcome,
    priority_for,
    says_no,
    tells_a_story,
)
from actions.handoff import escalate, tell_customer
from actions.self_service.registry import SensitiveAction, Verified
from actions.services import ConversationState, action_session, conversation_of, nlp_jobs
from bot.core.models import Complaint, ComplaintStatus, Priority
from bot.core.store import complaints
from bot.core.texts import Text, say

log = structlog.get_logger("actions.complaints")

FORM_SLOTS = (
    "complaint_category",
    "complaint_description",
    "complaint_order_ref",
    "complaint_outcome",
)
NO_ORDER = "none"
# Questions a customer may ask in the middle of the form; they are answered, not
# taken as the answer to the form's question.
DIGRESSIONS = frozenset(
    {
        "hours_of_operation",
        "return_policy",
        "bot_challenge",
        "request_human",
        "change_language",
        "goodbye",
        "greet",
        "thank",
        "check_complaint_status",
    }
)
DIGRESSION_CONFIDENCE = 0.8
CASE_ID_IN_TEXT = re.compile(r"\bcmp[\s-]?[2-9a-hjkmnp-tv-z]{5}\b", re.IGNORECASE)
STATUS_WORDS = {
    ComplaintStatus.PENDING: Text.COMPLAINT_PENDING,
    ComplaintStatus.OPEN: Text.COMPLAINT_OPEN,
    ComplaintStatus.RESOLVED: Text.COMPLAINT_RESOLVED,
}


def _free_text(tracker: Tracker) -> str | None:
    """What the customer typed, unless it was a button payload or a digression."""
    message = tracker.latest_message
    text = (message.get("text") or "").strip()
    if not text or text.startswith("/"):
        return None
    intent = message.get("intent") or {}
    if intent.get("name") in DIGRESSIONS and intent.get("confidence", 0) >= DIGRESSION_CONFIDENCE:
        return None
    return text


def _asked_for(tracker: Tracker, slot: str) -> bool:
    return bool(tracker.get_slot("requested_slot") == slot)


def _activating(tracker: Tracker) -> bool:
    # At activation nothing has been asked yet: the triggering message may prefill slots.
    return tracker.get_slot("requested_slot") is None


class ValidateComplaintForm(FormValidationAction):
    """Fills the complaint form from what the customer says, asking only what is missing."""

    def name(self) -> str:
        return "validate_complaint_form"

    async def extract_complaint_category(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """From a category button, or inferred from the words used."""
        if not (_activating(tracker) or _asked_for(tracker, "complaint_category")):
            return {}
        picked = next(tracker.get_latest_entity_values("complaint_category"), None)
        if picked:
            return {"complaint_category": picked}
        text = _free_text(tracker)
        if text is None:
            return {}
        inferred = infer_category(text)
        if inferred:
            return {"complaint_category": inferred}
        return {"complaint_category": "other"} if _asked_for(tracker, "complaint_category") else {}

    async def extract_complaint_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The customer's own account; the opening message counts if it tells the story."""
        text = _free_text(tracker)
        if text is None:
            return {}
        if _asked_for(tracker, "complaint_description"):
            return {"complaint_description": text}
        if _activating(tracker) and tells_a_story(text):
            return {"complaint_description": text}
        return {}

    async def extract_complaint_order_ref(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """An order number (entity or pattern), or 'none' when the customer has none."""
        asked = _asked_for(tracker, "complaint_order_ref")
        if not (asked or _activating(tracker)):
            return {}
        text = tracker.latest_message.get("text") or ""
        entity = next(tracker.get_latest_entity_values("order_id"), None)
        found = find_order_ref(str(entity)) if entity else None
        found = found or find_order_ref(text)
        if found:
            return {"complaint_order_ref": found}
        if not asked:
            return {}
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "deny" or says_no(text):
            return {"complaint_order_ref": NO_ORDER}
        free = _free_text(tracker)
        return {"complaint_order_ref": free} if free else {}

    async def extract_complaint_outcome(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """From an outcome button, or the customer's words."""
        if not _asked_for(tracker, "complaint_outcome"):
            return {}
        picked = next(tracker.get_latest_entity_values("desired_outcome"), None)
        if picked:
            return {"complaint_outcome": picked}
        text = _free_text(tracker)
        return {"complaint_outcome": normalise_outcome(text)} if text else {}

    def validate_complaint_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Only known categories are kept; anything else is 'other'."""
        return {"complaint_category": value if value in CATEGORY_LABELS else "other"}

    def validate_complaint_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A description needs at least two words."""
        if len(str(value).split()) < 2:
            dispatcher.utter_message(response="utter_description_too_short")
            return {"complaint_description": None}
        return {"complaint_description": str(value)}

    def validate_complaint_order_ref(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """An order number like ORD-482913, or 'none'; anything else is asked again."""
        if value == NO_ORDER or find_order_ref(str(value)):
            return {"complaint_order_ref": value}
        dispatcher.utter_message(response="utter_invalid_order_ref")
        return {"complaint_order_ref": None}


URGENT_ENOUGH_FOR_A_PERSON = frozenset({Priority.HIGH, Priority.URGENT})


class ActionSubmitComplaint(Action):
    """Stores the completed complaint and gives the customer its case ID."""

    def name(self) -> str:
        return "action_submit_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        category = tracker.get_slot("complaint_category") or "other"
        description = tracker.get_slot("complaint_description") or ""
        order_ref = tracker.get_slot("complaint_order_ref")
        outcome = tracker.get_slot("complaint_outcome")
        try:
            async with action_session() as session:
                ref = await conversation_of(tracker, session)
                complaint = await complaints.open_complaint(
                    session=session,
                    customer_id=ref.customer_id,
                    conversation_id=ref.conversation_id,
                    channel=ref.channel,
                    category=category,
                    description=description,
                    order_ref=None if order_ref in (None, NO_ORDER) else order_ref,
                    desired_outcome=outcome,
                    priority=priority_for(category, description),
                    actor=f"assistant:{tracker.sender_id}",
                )
        except SQLAlchemyError:
            log.exception("complaint_not_saved", sender_id=tracker.sender_id)
            # The details stay in the slots: asking again submits them without re-asking.
            dispatcher.utter_message(text=say(Text.COMPLAINT_NOT_SAVED))
            return []
        # Summary, sentiment, category and priority are worked out in the background.
        await nlp_jobs().kick_conversation(ref.conversation_id)
        label = CATEGORY_LABELS.get(category, category)
        dispatcher.utter_message(
            text=say(Text.COMPLAINT_LOGGED, category=label, case_id=complaint.case_id)
        )
        if complaint.priority in URGENT_ENOUGH_FOR_A_PERSON:
            # Safety and fraud cannot wait two working days: a person takes it now.
            tell_customer(dispatcher, await escalate(tracker, reason="high-priority complaint"))
        return [SlotSet("last_case_id", complaint.case_id)] + [
            SlotSet(slot, None) for slot in FORM_SLOTS
        ]


class ActionComplaintStatus(SensitiveAction):
    """Tells the customer where their complaints stand: those filed from this address at
    once; anything else (another channel's, a case ID not found here) once verified, when
    the customer's complaints from every channel are theirs to see."""

    intent = "check_complaint_status"
    action_name = "action_complaint_status"

    async def open_without_verification(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, state: ConversationState
    ) -> bool:
        found = await _complaints_of(tracker, state.ref.customer_id, _case_id_in(tracker))
        if not found:
            return True
        dispatcher.utter_message(text=_status_text(found, _case_id_in(tracker)))
        return False

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        case_id = _case_id_in(tracker) if verified.fresh else None
        async with action_session() as session:
            # Verification joined the customer across channels: read who they are now.
            ref = await conversation_of(tracker, session)
        found = await _complaints_of(tracker, ref.customer_id, case_id)
        dispatcher.utter_message(text=_status_text(found, case_id))
        return []


async def _complaints_of(
    tracker: Tracker, customer_id: int, case_id: str | None
) -> list[Complaint]:
    async with action_session() as session:
        if case_id:
            complaint = await complaints.find_complaint(session=session, case_id=case_id)
            # Another customer's case is reported as not found: nothing leaks.
            return [complaint] if complaint and complaint.customer_id == customer_id else []
        return list(
            await complaints.complaints_for_customer(
                session=session, customer_id=customer_id, limit=3
            )
        )


def _case_id_in(tracker: Tracker) -> str | None:
    entity = next(tracker.get_latest_entity_values("case_id"), None)
    if entity:
        return complaints.normalise_case_id(str(entity))
    match = CASE_ID_IN_TEXT.search(tracker.latest_message.get("text") or "")
    return complaints.normalise_case_id(match.group(0)) if match else None


def _describe(complaint: Complaint) -> str:
    return say(
        Text.COMPLAINT_DESCRIBED,
        case_id=complaint.case_id,
        category=CATEGORY_LABELS.get(complaint.category, complaint.category),
        filed=f"{complaint.created_at:%d %B %Y}",
        status=say(STATUS_WORDS[complaint.status]),
    )


def _status_text(found: list[Complaint], case_id: str | None) -> str:
    if not found:
        if case_id:
            return say(Text.COMPLAINT_NOT_FOUND, case_id=case_id)
        return say(Text.COMPLAINTS_NONE)
    if len(found) == 1:
        return say(Text.COMPLAINT_STATUS_ONE, complaint=_describe(found[0]))
    lines = "\n".join(f"- {_describe(c)}" for c in found)
    return say(Text.COMPLAINT_STATUS_MANY, complaints=lines)
