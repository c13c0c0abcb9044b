"""A receipt for a payment: the PDF attached by email, a link to it on web chat, a short
text on SMS and calls."""

from __future__ import annotations

import hashlib

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.self_service.references import order_ref_in
from actions.self_service.registry import SensitiveAction, Verified
from bot.business.protocol import BusinessSystemsError
from bot.business.receipt_links import receipt_url
from bot.business.receipts import receipt_pdf
from bot.business.records import Payment
from bot.core.documents import build_document_store
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
        if verified.channel is Channel.EMAIL:
            file = await _kept_pdf(verified, payment)
            dispatcher.utter_message(
                response="utter_receipt_attached", summary=summary, json_message={"file": file}
            )
        elif verified.channel is Channel.WEBCHAT:
            link = receipt_url(
                get_settings(), payment_ref=payment.ref, customer_ref=verified.customer_ref
            )
            dispatcher.utter_message(response="utter_receipt_link", summary=summary, link=link)
        else:
            dispatcher.utter_message(response="utter_receipt_text", summary=summary)
        return []


async def _kept_pdf(verified: Verified, payment: Payment) -> dict[str, object]:
    """The receipt's PDF, kept in the document store for the email that carries it."""
    customer = await verified.backend.customer(verified.customer_ref)
    order = await verified.backend.order(payment.order_ref) if payment.order_ref else None
    if customer is None:
        raise BusinessSystemsError("the verified customer's record is gone")
    pdf = receipt_pdf(payment, customer, order)
    digest = hashlib.sha256(pdf).hexdigest()
    documents = build_document_store(get_settings())
    try:
        ref = await documents.put(
            pdf, key=f"receipts/{digest[:2]}/{digest}.pdf", content_type="application/pdf"
        )
    finally:
        await documents.aclose()
    return {
        "storage_ref": ref,
        "content_type": "application/pdf",
        "size_bytes": len(pdf),
        "filename": f"receipt-{payment.ref}.pdf",
    }
