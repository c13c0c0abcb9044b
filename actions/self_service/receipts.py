"""A receipt for a payment: a link to the PDF on web chat and email, a short text on SMS
and calls."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.self_service.references import order_ref_in
from actions.self_service.registry import SensitiveAction, Verified
from bot.business.receipt_links import receipt_url
from bot.business.records import Payment
from bot.core.models import Channel
from bot.core.settings import get_settings


async def chosen_payment(tracker: Tracker, verified: Verified) -> Payment | None:
    """The payment for the order named in the conversation, else the latest payment."""
    payments = await verified.backend.payments(verified.customer_ref, limit=20)
    ref = order_ref_in(tracker, latest=verified.fresh)
    if ref is not None:
        return next((p for p in payments if p.order_ref == ref), None)
    return payments[0] if payments else None


class ActionSendReceipt(SensitiveAction):
    """The receipt of a payment, as the customer's channel can show it."""

    intent = "request_receipt"
    action_name = "action_send_receipt"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        payment = await chosen_payment(tracker, verified)
        if payment is None:
            dispatcher.utter_message(response="utter_no_payment")
            return []
        summary = (
            f"{payment.at:%d %B %Y}, {payment.amount.formatted()}"
            + (f" for {payment.order_ref}" if payment.order_ref else "")
            + (f", card ending {payment.card_last4}" if payment.card_last4 else "")
            + f", reference {payment.ref}"
        )
        if verified.channel in (Channel.WEBCHAT, Channel.EMAIL):
            link = receipt_url(
                get_settings(), payment_ref=payment.ref, customer_ref=verified.customer_ref
            )
            dispatcher.utter_message(response="utter_receipt_link", summary=summary, link=link)
        else:
            dispatcher.utter_message(response="utter_receipt_text", summary=summary)
        return []
