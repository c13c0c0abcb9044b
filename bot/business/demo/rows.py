"""Demo table rows to the business records both backends return."""

from __future__ import annotations

from bot.business.demo.tables import (
    DemoAccount,
    DemoCustomer,
    DemoOrder,
    DemoPayment,
    DemoRefund,
    DemoShipment,
    DemoTransaction,
)
from bot.business.records import (
    Account,
    CustomerRecord,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentMethod,
    PreferredChannel,
    Refund,
    RefundStatus,
    Shipment,
    ShipmentEvent,
    ShipmentStatus,
    Transaction,
    TransactionKind,
)


def customer_record(row: DemoCustomer) -> CustomerRecord:
    """A customer row as a record."""
    return CustomerRecord(
        ref=row.ref,
        name=row.name,
        email=row.email,
        phone=row.phone,
        is_vip=row.vip,
        preferred_channel=PreferredChannel(row.preferred_channel),
        currency=row.currency,
        language=row.language,
    )


def order_record(row: DemoOrder) -> Order:
    """An order row (with its lines and shipments loaded) as a record."""
    return Order(
        ref=row.ref,
        customer_ref=row.customer_ref,
        status=OrderStatus(row.status),
        placed_at=row.placed_at,
        total=Money(row.total_minor, row.currency),
        lines=tuple(
            OrderLine(
                sku=line.sku,
                description=line.description,
                quantity=line.quantity,
                unit_price=Money(line.unit_price_minor, row.currency),
            )
            for line in row.lines
        ),
        delivered_at=row.delivered_at,
        shipment_refs=tuple(shipment.ref for shipment in row.shipments),
    )


def shipment_record(row: DemoShipment) -> Shipment:
    """A shipment row (with its events loaded) as a record."""
    return Shipment(
        ref=row.ref,
        order_ref=row.order_ref,
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        status=ShipmentStatus(row.status),
        events=tuple(
            ShipmentEvent(
                at=event.at,
                status=ShipmentStatus(event.status),
                description=event.description,
                location=event.location,
            )
            for event in row.events
        ),
        estimated_delivery=row.estimated_delivery,
        tracking_url=row.tracking_url,
    )


def account_record(row: DemoAccount) -> Account:
    """An account row as a record."""
    return Account(
        ref=row.ref,
        customer_ref=row.customer_ref,
        number=row.number,
        balance=Money(row.balance_minor, row.currency),
        kind=row.kind,
    )


def transaction_record(row: DemoTransaction, currency: str) -> Transaction:
    """A transaction row as a record, in its account's currency."""
    return Transaction(
        ref=row.ref,
        account_ref=row.account_ref,
        at=row.at,
        kind=TransactionKind(row.kind),
        amount=Money(row.amount_minor, currency),
        description=row.description,
    )


def payment_record(row: DemoPayment) -> Payment:
    """A payment row as a record."""
    return Payment(
        ref=row.ref,
        customer_ref=row.customer_ref,
        order_ref=row.order_ref,
        at=row.at,
        amount=Money(row.amount_minor, row.currency),
        method=PaymentMethod(row.method),
        card_last4=row.card_last4,
        receipt_url=row.receipt_url,
    )


def refund_record(row: DemoRefund) -> Refund:
    """A refund row as a record."""
    return Refund(
        ref=row.ref,
        customer_ref=row.customer_ref,
        order_ref=row.order_ref,
        amount=Money(row.amount_minor, row.currency),
        reason=row.reason,
        status=RefundStatus(row.status),
        requested_at=row.requested_at,
        decided_at=row.decided_at,
        paid_at=row.paid_at,
        decided_by=row.decided_by,
        evidence=tuple(row.evidence or ()),
    )
