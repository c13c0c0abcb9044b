"""What the company's business systems know, as the assistant sees it: customers, orders and
their lines, shipments and carrier events, store-credit accounts and transactions, payments
and receipts, refunds. Plain frozen records: both backends return these, nothing else.

Money is kept in minor units (cents) with an ISO 4217 currency code, never as floats.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class OrderStatus(enum.StrEnum):
    PLACED = "placed"  # paid, not yet picked
    PROCESSING = "processing"  # being picked and packed
    SHIPPED = "shipped"  # with the carrier
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"  # sent back and refunded


class ShipmentStatus(enum.StrEnum):
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"  # delayed, damaged, address problem, returned to sender


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    PAYPAL = "paypal"
    STORE_CREDIT = "store_credit"
    BANK_TRANSFER = "bank_transfer"


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"  # waiting for a person to decide
    APPROVED = "approved"  # decided, money not yet sent
    PAID = "paid"  # money sent back to the payment method or store credit
    REJECTED = "rejected"


class TransactionKind(enum.StrEnum):
    PURCHASE = "purchase"
    REFUND = "refund"
    TOP_UP = "top_up"
    ADJUSTMENT = "adjustment"


class PreferredChannel(enum.StrEnum):
    SMS = "sms"
    EMAIL = "email"
    VOICE = "voice"
    WEBCHAT = "webchat"


@dataclass(frozen=True)
class Money:
    """An amount in minor units (cents, pence) of a currency."""

    minor: int
    currency: str  # ISO 4217, e.g. "GBP"

    def formatted(self) -> str:
        """`£12.50`, `-€3.00`, `US$1,204.10` style text for customers."""
        symbol = {"GBP": "£", "EUR": "€", "USD": "$"}.get(self.currency, f"{self.currency} ")
        sign = "-" if self.minor < 0 else ""
        return f"{sign}{symbol}{abs(self.minor) / 100:,.2f}"


@dataclass(frozen=True)
class CustomerRecord:
    """A customer as the company's systems know them (`ref` is their id there)."""

    ref: str
    name: str
    email: str | None
    phone: str | None  # E.164
    is_vip: bool = False
    preferred_channel: PreferredChannel = PreferredChannel.EMAIL
    currency: str = "GBP"
    language: str = "en"

    @property
    def first_name(self) -> str:
        """What the assistant calls them."""
        return self.name.split()[0] if self.name.strip() else ""


@dataclass(frozen=True)
class OrderLine:
    sku: str
    description: str
    quantity: int
    unit_price: Money


@dataclass(frozen=True)
class Order:
    """An order; `ref` is the number customers see (ORD-482913)."""

    ref: str
    customer_ref: str
    status: OrderStatus
    placed_at: datetime
    total: Money
    lines: tuple[OrderLine, ...] = ()
    delivered_at: datetime | None = None
    shipment_refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShipmentEvent:
    at: datetime
    status: ShipmentStatus
    description: str  # the carrier's words: "Arrived at Birmingham depot"
    location: str | None = None


@dataclass(frozen=True)
class Shipment:
    ref: str
    order_ref: str
    carrier: str
    tracking_number: str
    status: ShipmentStatus
    events: tuple[ShipmentEvent, ...] = ()  # oldest first
    estimated_delivery: datetime | None = None
    tracking_url: str | None = None

    @property
    def last_event(self) -> ShipmentEvent | None:
        """The carrier's latest scan, if any."""
        return self.events[-1] if self.events else None


@dataclass(frozen=True)
class Account:
    """A store-credit / wallet account; `number` is the full number (mask it to show it)."""

    ref: str
    customer_ref: str
    number: str
    balance: Money
    kind: str = "store_credit"


@dataclass(frozen=True)
class Transaction:
    ref: str
    account_ref: str
    at: datetime
    kind: TransactionKind
    amount: Money  # negative: money out of the account
    description: str


@dataclass(frozen=True)
class Payment:
    """A payment for an order; its receipt is rendered from it."""

    ref: str
    customer_ref: str
    order_ref: str | None
    at: datetime
    amount: Money
    method: PaymentMethod
    card_last4: str | None = None
    receipt_url: str | None = None


@dataclass(frozen=True)
class Refund:
    ref: str
    customer_ref: str
    order_ref: str
    amount: Money
    reason: str
    status: RefundStatus
    requested_at: datetime
    decided_at: datetime | None = None
    paid_at: datetime | None = None
    decided_by: str | None = None  # "policy:<rule>" or "agent:<email>"
    evidence: tuple[str, ...] = field(default=())  # document store references


@dataclass(frozen=True)
class RefundRequest:
    """What the assistant (or an agent) asks the business systems to record."""

    customer_ref: str
    order_ref: str
    amount: Money
    reason: str
    approved: bool  # True: approved by policy or an agent; False: waiting for a person
    decided_by: str
    evidence: tuple[str, ...] = ()
    idempotency_key: str = ""  # the same key twice records one refund
