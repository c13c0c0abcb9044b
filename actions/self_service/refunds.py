"""Refunds: which order, why (the customer's own words) and a photo if they have one; the
company's policy decides at once. Approved: recorded with the business systems and
confirmed with its reference. Otherwise: a complaint with everything collected, for a person."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import structlog
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from actions.handoff import escalate, tell_customer
from actions.self_service.references import ORDER_REF, order_ref_in
from actions.self_service.registry import SensitiveAction, Verified
from actions.services import action_session, business_systems, conversation_state
from bot.business.protocol import BusinessSystemsError, BusinessSystemsUnavailable, owned_by
from bot.business.records import Order, OrderStatus, Refund, RefundRequest, RefundStatus
from bot.business.refund_policy import RefundDecision, RefundPolicy
from bot.core.models import Attachment, Message, Priority, utcnow
from bot.core.settings import get_settings
from bot.core.store import audit, complaints

log = structlog.get_logger("actions.refunds")

FORM_SLOTS = ("refund_order", "refund_reason", "refund_evidence")
REFUNDABLE = (OrderStatus.DELIVERED, OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY)
NO_EVIDENCE = "none"
CANCELLED = "cancelled"
MIN_REASON_WORDS = 2
EVIDENCE_WINDOW = timedelta(minutes=30)
OFFERED_ORDERS = 3
STATUS_REFUNDS = 5
# "where's my refund", "refund status", "has my refund been paid", "when will I get my refund"
REFUND_STATUS = re.compile(
    r"\b(where('?s| is)|status|has|have|did|when will|when do|track|update on|heard)\b"
    r"[^.?!]{0,30}\brefund|\brefund\b[^.?!]{0,20}\b(status|been (paid|processed|approved)"
    r"|gone through|come through|arrived)",
    re.IGNORECASE,
)


def asks_refund_status(tracker: Tracker) -> bool:
    """Whether the customer asks about refunds they have ("where's my refund?")."""
    return bool(REFUND_STATUS.search(str(tracker.latest_message.get("text") or "")))


class ActionRefundStatus(SensitiveAction):
    """Where the customer's refunds stand (asked as a refund request: "where's my refund")."""

    intent = "refund_status"
    action_name = "action_refund_status"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        refunds = await verified.backend.refunds(verified.customer_ref, limit=STATUS_REFUNDS)
        if not refunds:
            dispatcher.utter_message(response="utter_no_refunds")
            return []
        lines = "\n".join(refund_line(r) for r in refunds)
        dispatcher.utter_message(response="utter_refund_status", refunds=lines)
        return []


def refund_line(refund: Refund) -> str:
    """ "RF-10000001 for ORD-100006, £14.99: paid on 03 Oct"."""
    when = {
        RefundStatus.PAID: refund.paid_at,
        RefundStatus.APPROVED: refund.decided_at,
        RefundStatus.REJECTED: refund.decided_at,
    }.get(refund.status) or refund.requested_at
    state = {
        RefundStatus.REQUESTED: "waiting for our team to decide since",
        RefundStatus.APPROVED: "approved on",
        RefundStatus.PAID: "paid on",
        RefundStatus.REJECTED: "not approved, on",
    }[refund.status]
    return f"{refund.ref} for {refund.order_ref}, {refund.amount.formatted()}: {state} {when:%d %b}"


class ActionRequestRefund(SensitiveAction):
    """Starts the refund form once the customer is verified (or, asked where a refund is,
    says where their refunds stand)."""

    intent = "request_refund"
    action_name = "action_request_refund"

    def pending_request(self, tracker: Tracker) -> str:
        return ActionRefundStatus.intent if asks_refund_status(tracker) else self.intent

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        if verified.fresh and asks_refund_status(tracker):
            return await ActionRefundStatus().answer(dispatcher, tracker, verified)
        ref = order_ref_in(tracker, latest=verified.fresh)
        events: list[EventType] = [SlotSet(slot, None) for slot in FORM_SLOTS]
        if ref is not None:
            order = await verified.backend.order(ref)
            if owned_by(verified.customer_ref, order):
                events.append(SlotSet("refund_order", ref))
        return [*events, FollowupAction("refund_form")]


async def _customer_order(tracker: Tracker, text: str) -> tuple[str | None, Order | None]:
    match = ORDER_REF.search(text)
    if match is None:
        return None, None
    ref = f"ORD-{match.group(1)}"
    async with action_session() as session:
        state = await conversation_state(tracker, session)
    order = await (await business_systems()).order(ref)
    return ref, order if owned_by(state.verified_customer_ref or "", order) else None


class ActionAskRefundOrder(Action):
    """Asks which order, offering the customer's recent orders that can be refunded."""

    def name(self) -> str:
        return "action_ask_refund_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        async with action_session() as session:
            state = await conversation_state(tracker, session)
        orders: list[Order] = []
        if state.verified_customer_ref is not None:
            recent = await (await business_systems()).orders(state.verified_customer_ref, limit=10)
            orders = [o for o in recent if o.status in REFUNDABLE][:OFFERED_ORDERS]
        buttons = [
            {"title": f"{o.ref}, {o.total.formatted()}, {o.placed_at:%d %b}", "payload": o.ref}
            for o in orders
        ]
        dispatcher.utter_message(response="utter_ask_refund_order", buttons=buttons)
        return []


class ValidateRefundForm(FormValidationAction):
    """Checks the order is the customer's, the reason says something, and keeps photos."""

    def name(self) -> str:
        return "validate_refund_form"

    async def validate_refund_order(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        ref, order = await _customer_order(tracker, str(value or ""))
        if ref is None:
            dispatcher.utter_message(response="utter_refund_order_invalid")
            return {"refund_order": None}
        if order is None:
            # Someone else's order reads like one that does not exist.
            dispatcher.utter_message(response="utter_order_not_found", order_id=ref)
            return {"refund_order": None}
        if order.status not in REFUNDABLE:
            dispatcher.utter_message(
                response="utter_refund_not_refundable",
                order_id=ref,
                status=order.status.value.replace("_", " "),
            )
            # The form ends here: nothing to refund on an order in that state.
            return {"refund_order": CANCELLED, "refund_reason": "-", "refund_evidence": "-"}
        return {"refund_order": order.ref}

    def validate_refund_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if len(text.split()) < MIN_REASON_WORDS:
            dispatcher.utter_message(response="utter_refund_reason_too_short")
            return {"refund_reason": None}
        return {"refund_reason": text[:1000]}

    async def validate_refund_evidence(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        refs = await _attachments_of_latest(tracker)
        return {"refund_evidence": ",".join(refs) if refs else NO_EVIDENCE}


async def _attachments_of_latest(tracker: Tracker) -> list[str]:
    # Photos sent with this answer or just before it (a picture-only MMS is acknowledged by
    # the SMS channel itself, so it reaches us as an earlier message of the conversation).
    since = utcnow() - EVIDENCE_WINDOW
    async with action_session() as session:
        state = await conversation_state(tracker, session)
        rows = await session.scalars(
            select(Attachment.storage_ref)
            .join(Message, Message.id == Attachment.message_id)
            .where(
                Message.conversation_id == state.ref.conversation_id,
                Message.created_at >= since,
            )
            .order_by(Attachment.id)
        )
        return list(dict.fromkeys(rows))


class ActionSubmitRefund(SensitiveAction):
    """After the refund form: the policy decides, approved now or a complaint for a person."""

    intent = "refund_form_done"
    action_name = "action_submit_refund"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        reset = [SlotSet(slot, None) for slot in FORM_SLOTS]
        if tracker.get_slot("refund_order") == CANCELLED:
            return reset
        order = await verified.backend.order(str(tracker.get_slot("refund_order") or ""))
        if order is None or not owned_by(verified.customer_ref, order):
            return reset
        reason = str(tracker.get_slot("refund_reason") or "")
        evidence = _evidence(tracker)
        decision = await _decide(verified, order, reason)
        refund_ref = await _record(verified, tracker, order, reason, decision, evidence)
        await _audit(verified, order, decision, refund_ref, evidence)
        if decision.approved and refund_ref is not None:
            dispatcher.utter_message(
                response="utter_refund_approved",
                amount=order.total.formatted(),
                order_id=order.ref,
                refund_ref=refund_ref,
            )
        else:
            await _refer(dispatcher, tracker, verified, order, reason, decision, refund_ref)
        return reset


async def _decide(verified: Verified, order: Order, reason: str) -> RefundDecision:
    now = utcnow()
    recent = [
        r
        for r in await verified.backend.refunds(verified.customer_ref)
        if r.requested_at >= now - timedelta(days=90)
    ]
    policy = RefundPolicy.from_settings(get_settings())
    return policy.decide(
        order=order, amount=order.total, reason=reason, recent_refunds=recent, now=now
    )


async def _record(
    verified: Verified,
    tracker: Tracker,
    order: Order,
    reason: str,
    decision: RefundDecision,
    evidence: list[str],
) -> str | None:
    """The refund recorded with the business systems (approved, or waiting for a person);
    None when they will not record one (already refunded, say): a person sees why."""
    request = RefundRequest(
        customer_ref=verified.customer_ref,
        order_ref=order.ref,
        amount=order.total,
        reason=reason,
        approved=decision.approved,
        decided_by=f"policy:{decision.rule}",
        evidence=tuple(evidence),
        idempotency_key=f"{tracker.sender_id}:{order.ref}",
    )
    try:
        return (await verified.backend.request_refund(request)).ref
    except BusinessSystemsUnavailable:
        raise
    except BusinessSystemsError as error:
        if decision.approved:
            raise
        log.info("refund_not_recorded", order_ref=order.ref, rule=decision.rule, error=str(error))
        return None


def _evidence(tracker: Tracker) -> list[str]:
    value = str(tracker.get_slot("refund_evidence") or NO_EVIDENCE)
    return [] if value in (NO_EVIDENCE, "-") else value.split(",")


async def _audit(
    verified: Verified,
    order: Order,
    decision: RefundDecision,
    refund_ref: str | None,
    evidence: list[str],
) -> None:
    async with action_session() as session:
        audit.record(
            session=session,
            actor="assistant:refund_policy",
            action="refund.approved" if decision.approved else "refund.referred",
            entity_type="refund" if refund_ref else "order",
            entity_id=refund_ref or order.ref,
            details={
                "customer_ref": verified.customer_ref,
                "order_ref": order.ref,
                "amount_minor": order.total.minor,
                "currency": order.total.currency,
                "rule": decision.rule,
                "explanation": decision.explanation,
                "evidence": len(evidence),
                "conversation_id": verified.state.ref.conversation_id,
            },
        )


async def _refer(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    verified: Verified,
    order: Order,
    reason: str,
    decision: RefundDecision,
    refund_ref: str | None,
) -> None:
    request = f"Refund request {refund_ref}" if refund_ref else "Refund request"
    description = (
        f"{request} for {order.ref} ({order.total.formatted()}): {reason}\n"
        f"Policy: {decision.explanation} (rule {decision.rule})."
    )
    async with action_session() as session:
        complaint = await complaints.open_complaint(
            session=session,
            customer_id=verified.state.ref.customer_id,
            conversation_id=verified.state.ref.conversation_id,
            channel=verified.channel,
            category="refund",
            description=description,
            order_ref=order.ref,
            desired_outcome="refund",
            priority=Priority.NORMAL,
            actor=f"assistant:{tracker.sender_id}",
        )
    dispatcher.utter_message(response="utter_refund_referred", case_id=complaint.case_id)
    tell_customer(dispatcher, await escalate(tracker, reason=f"refund review: {decision.rule}"))
