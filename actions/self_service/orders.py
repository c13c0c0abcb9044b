"""Order status with what happens next, and shipment tracking, for a verified customer.
An order that is not theirs reads exactly like one that does not exist."""

from __future__ import annotations

from datetime import datetime

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.self_service.references import order_ref_in
from actions.self_service.registry import SensitiveAction, Verified
from bot.business.protocol import owned_by
from bot.business.records import Order, OrderStatus, Shipment, ShipmentStatus
from bot.core.models import Channel
from bot.core.settings import get_settings

NEXT_STEP = {
    OrderStatus.PLACED: "We'll pick and pack it shortly and email you when it ships.",
    OrderStatus.PROCESSING: "It's being packed now; you'll get tracking details once it ships.",
    OrderStatus.SHIPPED: "It's on its way with the carrier.",
    OrderStatus.OUT_FOR_DELIVERY: "It's out for delivery today.",
    OrderStatus.DELIVERED: "If anything is wrong with it, I can help with a return or refund.",
    OrderStatus.CANCELLED: "Any payment has been or will be refunded to you.",
    OrderStatus.RETURNED: "The return is complete and the refund has been issued.",
}
LINK_CHANNELS = (Channel.WEBCHAT, Channel.EMAIL, Channel.SMS)


async def chosen_order(tracker: Tracker, verified: Verified) -> Order | None:
    """The order named in the conversation if it is the customer's, else their latest."""
    ref = order_ref_in(tracker, latest=verified.fresh)
    if ref is not None:
        order = await verified.backend.order(ref)
        return order if owned_by(verified.customer_ref, order) else None
    orders = await verified.backend.orders(verified.customer_ref, limit=1)
    return orders[0] if orders else None


def when(moment: datetime | None) -> str:
    """ "Tuesday 14 November" (or "soon" when not known)."""
    return f"{moment:%A %d %B}" if moment else "soon"


def status_words(status: OrderStatus | ShipmentStatus) -> str:
    """ "out for delivery" from OUT_FOR_DELIVERY."""
    return status.value.replace("_", " ")


def tracking_text(shipment: Shipment, channel: Channel) -> str:
    """Carrier, last scan and ETA, with a link on channels that show links."""
    last = shipment.last_event
    parts = [f"{shipment.carrier} ({shipment.tracking_number}): {status_words(shipment.status)}."]
    if last is not None:
        where = f" at {last.location}" if last.location else ""
        parts.append(f"Latest: {last.description}{where}, {last.at:%d %b %H:%M}.")
    if shipment.estimated_delivery and shipment.status.value != "delivered":
        parts.append(f"Expected {when(shipment.estimated_delivery)}.")
    if channel in LINK_CHANNELS:
        parts.append(f"Track it: {tracking_link(shipment)}")
    return " ".join(parts)


def tracking_link(shipment: Shipment) -> str:
    """The carrier's own link, else the company's tracking page."""
    return shipment.tracking_url or get_settings().tracking_url_template.format(
        carrier=shipment.carrier.lower().replace(" ", "-"),
        tracking_number=shipment.tracking_number,
    )


class ActionOrderStatus(SensitiveAction):
    """Where an order stands and what happens next."""

    intent = "check_order_status"
    action_name = "action_order_status"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        order = await chosen_order(tracker, verified)
        if order is None:
            _not_found(dispatcher, tracker, verified)
            return []
        dispatcher.utter_message(
            response="utter_order_status",
            order_id=order.ref,
            placed=f"{order.placed_at:%d %B}",
            total=order.total.formatted(),
            status=status_words(order.status),
            next_step=NEXT_STEP[order.status],
        )
        return [SlotSet("order_id", order.ref)]


class ActionTrackShipment(SensitiveAction):
    """The carrier's latest scan and the expected delivery of an order's parcels."""

    intent = "track_shipment"
    action_name = "action_track_shipment"

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified
    ) -> list[EventType]:
        order = await chosen_order(tracker, verified)
        if order is None:
            _not_found(dispatcher, tracker, verified)
            return []
        shipments = [
            s for s in [await verified.backend.shipment(r) for r in order.shipment_refs] if s
        ]
        if not shipments:
            dispatcher.utter_message(
                response="utter_not_shipped", order_id=order.ref, status=status_words(order.status)
            )
            return [SlotSet("order_id", order.ref)]
        for shipment in shipments:
            text = tracking_text(shipment, verified.channel)
            dispatcher.utter_message(response="utter_tracking", order_id=order.ref, tracking=text)
        return [SlotSet("order_id", order.ref)]


def _not_found(dispatcher: CollectingDispatcher, tracker: Tracker, verified: Verified) -> None:
    ref = order_ref_in(tracker, latest=verified.fresh)
    if ref:
        dispatcher.utter_message(response="utter_order_not_found", order_id=ref)
    else:
        dispatcher.utter_message(response="utter_no_orders")
