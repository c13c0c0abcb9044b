"""The console's customer panel: what the business systems know of a handed-over
conversation's customer (orders and their shipments, payments, refunds, store-credit
balances, how they proved who they are), so an agent never switches to another system.

Only a verified customer's data is shown: the conversation's verified reference, else the
one their customer record was linked to when they verified before. Nothing is asked of the
business systems for anyone else, and every record shown is checked to be that customer's
(whatever the backend answers). Account numbers show their last 4 digits only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from bot.business.protocol import BusinessSystems, BusinessSystemsError, owned_by
from bot.business.records import (
    Account,
    Money,
    Order,
    Payment,
    Refund,
    RefundStatus,
    Shipment,
)
from bot.core.models import Conversation, Customer, VerificationLevel
from handoff.console import schemas
from handoff.desk import NoSuchHandoff
from handoff.models import Agent, Handoff, HandoffStatus
from handoff.store.agent_actions import HandoffNotYours

log = structlog.get_logger("handoff.console.customer")

ORDERS_SHOWN = 5
PAYMENTS_SHOWN = 5
REFUNDS_SHOWN = 10
# The panel gives up on slow business systems (the rest of the console does not wait).
PANEL_TIMEOUT_SECONDS = 8.0
SHOWN_DIGITS = 4

NOT_VERIFIED = (
    "Not verified: the customer has not proved who they are, so nothing from the business "
    "systems is shown. Ask them to verify (a one-time code) before discussing their account."
)
UNAVAILABLE = "The business systems are not answering just now; try again in a moment."
UNKNOWN = "The business systems have no record for this customer's reference."
VERIFIED = "Verified customer."
LINKED = "Verified in an earlier conversation (not in this one)."


@dataclass(frozen=True)
class VerifiedCustomer:
    """Who a conversation's customer proved to be in the business systems, and how."""

    ref: str
    level: VerificationLevel | None = None
    at: datetime | None = None
    via: str | None = None


def verified_customer(conversation: Conversation, customer: Customer) -> VerifiedCustomer | None:
    """The business reference this conversation's customer proved, if any: verified in
    this conversation, else linked to their record by an earlier verification."""
    if conversation.verified_customer_ref:
        return VerifiedCustomer(
            conversation.verified_customer_ref,
            conversation.verification_level,
            conversation.verified_at,
            conversation.verified_via,
        )
    if customer.external_ref:
        return VerifiedCustomer(customer.external_ref)
    return None


@dataclass(frozen=True)
class OwnedConversation:
    """The conversation an agent has, and who its customer proved to be (if anyone)."""

    handoff: Handoff
    conversation: Conversation
    customer: Customer
    verified: VerifiedCustomer | None


async def owned_conversation(
    *, session: AsyncSession, handoff_id: int, agent_id: int
) -> OwnedConversation:
    """The conversation of a handoff the agent has now (NoSuchHandoff, HandoffNotYours)."""
    handoff = await session.get(Handoff, handoff_id)
    if handoff is None:
        raise NoSuchHandoff(f"no conversation {handoff_id}")
    if handoff.status is not HandoffStatus.ASSIGNED or handoff.agent_id != agent_id:
        raise HandoffNotYours(f"conversation {handoff_id} is not assigned to agent {agent_id}")
    conversation = await session.get_one(Conversation, handoff.conversation_id)
    customer = await session.get_one(Customer, conversation.customer_id)
    return OwnedConversation(
        handoff, conversation, customer, verified_customer(conversation, customer)
    )


def refund_limit(agent: Agent, limits: Mapping[str, int]) -> int:
    """What the agent may approve, in minor units (nothing for a role without a limit)."""
    return max(0, int(limits.get(agent.role.value, 0)))


def mask_number(number: str) -> str:
    """An account number with only its last 4 digits shown: `•••• 4821`."""
    digits = "".join(ch for ch in number if ch.isalnum())
    # A number too short to hide anything is hidden whole.
    shown = digits[-SHOWN_DIGITS:] if len(digits) > SHOWN_DIGITS else ""
    return f"•••• {shown}".strip()


def _when(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def money_view(money: Money) -> schemas.MoneyView:
    """An amount in minor units, with the text customers see."""
    return schemas.MoneyView(minor=money.minor, currency=money.currency, text=money.formatted())


def shipment_view(shipment: Shipment) -> schemas.ShipmentView:
    """A shipment: carrier, state, the carrier's last event and the expected delivery."""
    last = shipment.last_event
    return schemas.ShipmentView(
        ref=shipment.ref,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        status=shipment.status.value,
        last_event=(f"{last.description}, {last.location}" if last.location else last.description)
        if last
        else None,
        last_event_at=_when(last.at) if last else None,
        eta=_when(shipment.estimated_delivery),
        tracking_url=shipment.tracking_url,
    )


def order_view(order: Order, shipments: Mapping[str, Shipment]) -> schemas.OrderView:
    """An order with those of its shipments the business systems returned."""
    return schemas.OrderView(
        ref=order.ref,
        status=order.status.value,
        placed_at=order.placed_at.isoformat(),
        delivered_at=_when(order.delivered_at),
        total=money_view(order.total),
        shipments=[shipment_view(shipments[r]) for r in order.shipment_refs if r in shipments],
    )


def payment_view(payment: Payment) -> schemas.PaymentView:
    """A payment (card payments show the card's last 4 digits only, as recorded)."""
    return schemas.PaymentView(
        ref=payment.ref,
        order_ref=payment.order_ref,
        at=payment.at.isoformat(),
        amount=money_view(payment.amount),
        method=payment.method.value,
        card_last4=payment.card_last4,
    )


def refund_view(refund: Refund, *, limit_minor: int) -> schemas.RefundView:
    """A refund, its state and who decided it; whether this agent may approve it."""
    return schemas.RefundView(
        ref=refund.ref,
        order_ref=refund.order_ref,
        amount=money_view(refund.amount),
        reason=refund.reason,
        status=refund.status.value,
        requested_at=refund.requested_at.isoformat(),
        decided_by=refund.decided_by,
        paid_at=_when(refund.paid_at),
        can_approve=refund.status is RefundStatus.REQUESTED and refund.amount.minor <= limit_minor,
    )


def balance_view(account: Account) -> schemas.BalanceView:
    """A store-credit account's balance, its number masked."""
    return schemas.BalanceView(
        ref=account.ref,
        kind=account.kind,
        number=mask_number(account.number),
        balance=money_view(account.balance),
    )


async def customer_panel(
    business: BusinessSystems | None,
    verified: VerifiedCustomer | None,
    *,
    role: str,
    limit_minor: int,
) -> schemas.BusinessCustomer:
    """The panel for a conversation's customer: their business data when verified, else
    an explicit "not verified" with nothing in it; "unavailable" when the business systems
    do not answer in time."""
    empty = {"role": role, "refund_limit": limit_minor}
    if verified is None:
        return schemas.BusinessCustomer(state="not_verified", detail=NOT_VERIFIED, **empty)
    if business is None:
        return schemas.BusinessCustomer(state="unavailable", detail=UNAVAILABLE, **empty)
    try:
        async with asyncio.timeout(PANEL_TIMEOUT_SECONDS):
            return await _verified_panel(business, verified, role=role, limit_minor=limit_minor)
    except (BusinessSystemsError, TimeoutError) as error:
        log.warning("business_systems_unavailable", error=str(error) or type(error).__name__)
        return schemas.BusinessCustomer(state="unavailable", detail=UNAVAILABLE, **empty)


async def _verified_panel(
    business: BusinessSystems, verified: VerifiedCustomer, *, role: str, limit_minor: int
) -> schemas.BusinessCustomer:
    ref = verified.ref
    record, orders, payments, refunds, accounts = await asyncio.gather(
        business.customer(ref),
        business.orders(ref, limit=ORDERS_SHOWN),
        business.payments(ref, limit=PAYMENTS_SHOWN),
        business.refunds(ref, limit=REFUNDS_SHOWN),
        business.accounts(ref),
    )
    if record is None or record.ref != ref:
        return schemas.BusinessCustomer(
            state="unknown", detail=UNKNOWN, role=role, refund_limit=limit_minor
        )
    # Whatever the backend answered, only this customer's records are shown.
    orders = [o for o in orders if owned_by(ref, o)]
    shipments = await _shipments(business, orders)
    return schemas.BusinessCustomer(
        state="verified",
        detail=VERIFIED if verified.level is not None else LINKED,
        customer_ref=ref,
        name=record.name,
        vip=record.is_vip,
        preferred_channel=record.preferred_channel.value,
        verification=_verification(verified),
        orders=[order_view(o, shipments) for o in orders],
        payments=[payment_view(p) for p in payments if owned_by(ref, p)],
        refunds=[refund_view(r, limit_minor=limit_minor) for r in refunds if owned_by(ref, r)],
        balances=[balance_view(a) for a in accounts if a.customer_ref == ref],
        role=role,
        refund_limit=limit_minor,
        refund_limit_text=Money(limit_minor, record.currency).formatted(),
    )


def _verification(verified: VerifiedCustomer) -> schemas.VerificationView:
    return schemas.VerificationView(
        level=verified.level.value if verified.level else None,
        at=_when(verified.at),
        via=verified.via,
    )


async def _shipments(business: BusinessSystems, orders: Sequence[Order]) -> dict[str, Shipment]:
    # Each shipment is asked for at once: the panel waits for the slowest, not their sum.
    wanted = {(ref, order.ref) for order in orders for ref in order.shipment_refs}
    found = await asyncio.gather(*(business.shipment(ref) for ref, _ in sorted(wanted)))
    owners = dict(wanted)
    return {s.ref: s for s in found if s is not None and owners.get(s.ref) == s.order_ref}
