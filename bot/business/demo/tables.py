"""The demo backend's tables: what the company's own systems would hold (CRM, orders,
shipping, wallet, payments, refunds).

They have their own metadata, apart from the assistant's store (`bot.core.models.Base`):
they stand for another company system, live in their own database (var/business.db by
default) and are created with `metadata.create_all`, not the store's migrations. Every
table name starts with `demo_`. Money is in minor units with the currency beside it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.core.models import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class DemoBase(DeclarativeBase):
    """Base of the demo tables; `DemoBase.metadata` creates them all."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class DemoCustomer(DemoBase):
    __tablename__ = "demo_customers"

    ref: Mapped[str] = mapped_column(String(20), primary_key=True)  # C-10001
    name: Mapped[str] = mapped_column(String(200))
    # Kept lower-case so lookups by address are exact matches.
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    preferred_channel: Mapped[str] = mapped_column(String(20), default="email")
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    language: Mapped[str] = mapped_column(String(10), default="en")
    created_at: Mapped[datetime]


class DemoOrder(DemoBase):
    __tablename__ = "demo_orders"
    __table_args__ = (Index("ix_demo_orders_customer_placed", "customer_ref", "placed_at"),)

    ref: Mapped[str] = mapped_column(String(20), primary_key=True)  # ORD-100001
    customer_ref: Mapped[str] = mapped_column(ForeignKey("demo_customers.ref"))
    status: Mapped[str] = mapped_column(String(20))
    placed_at: Mapped[datetime]
    total_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    delivered_at: Mapped[datetime | None]

    lines: Mapped[list[DemoOrderLine]] = relationship(
        order_by="DemoOrderLine.position", lazy="selectin", cascade="all, delete-orphan"
    )
    shipments: Mapped[list[DemoShipment]] = relationship(
        order_by="DemoShipment.ref", lazy="selectin", cascade="all, delete-orphan"
    )


class DemoOrderLine(DemoBase):
    __tablename__ = "demo_order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_ref: Mapped[str] = mapped_column(ForeignKey("demo_orders.ref"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(Integer)


class DemoShipment(DemoBase):
    __tablename__ = "demo_shipments"

    ref: Mapped[str] = mapped_column(String(20), primary_key=True)  # SHP-100001
    order_ref: Mapped[str] = mapped_column(ForeignKey("demo_orders.ref"), index=True)
    carrier: Mapped[str] = mapped_column(String(40))
    tracking_number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    estimated_delivery: Mapped[datetime | None]
    # None: the assistant builds one from its tracking URL template.
    tracking_url: Mapped[str | None] = mapped_column(String(500))

    events: Mapped[list[DemoShipmentEvent]] = relationship(
        order_by="(DemoShipmentEvent.at, DemoShipmentEvent.id)",
        lazy="selectin",
        cascade="all, delete-orphan",
    )


class DemoShipmentEvent(DemoBase):
    __tablename__ = "demo_shipment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shipment_ref: Mapped[str] = mapped_column(ForeignKey("demo_shipments.ref"), index=True)
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(300))
    location: Mapped[str | None] = mapped_column(String(120))


class DemoAccount(DemoBase):
    __tablename__ = "demo_accounts"

    ref: Mapped[str] = mapped_column(String(20), primary_key=True)  # ACC-100001
    customer_ref: Mapped[str] = mapped_column(ForeignKey("demo_customers.ref"), index=True)
    number: Mapped[str] = mapped_column(String(34))
    kind: Mapped[str] = mapped_column(String(20), default="store_credit")
    currency: Mapped[str] = mapped_column(String(3))
    # Kept equal to the sum of the account's transactions by every write.
    balance_minor: Mapped[int] = mapped_column(Integer, default=0)


class DemoTransaction(DemoBase):
    __tablename__ = "demo_transactions"
    __table_args__ = (Index("ix_demo_transactions_account_at", "account_ref", "at"),)

    ref: Mapped[str] = mapped_column(String(24), primary_key=True)
    account_ref: Mapped[str] = mapped_column(ForeignKey("demo_accounts.ref"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))
    amount_minor: Mapped[int] = mapped_column(Integer)  # negative: money out
    description: Mapped[str] = mapped_column(String(200))


class DemoPayment(DemoBase):
    __tablename__ = "demo_payments"
    __table_args__ = (Index("ix_demo_payments_customer_at", "customer_ref", "at"),)

    ref: Mapped[str] = mapped_column(String(20), primary_key=True)  # PAY-100001
    customer_ref: Mapped[str] = mapped_column(ForeignKey("demo_customers.ref"))
    order_ref: Mapped[str | None] = mapped_column(ForeignKey("demo_orders.ref"), index=True)
    at: Mapped[datetime]
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    receipt_url: Mapped[str | None] = mapped_column(String(500))


class DemoRefund(DemoBase):
    __tablename__ = "demo_refunds"
    __table_args__ = (Index("ix_demo_refunds_customer_requested", "customer_ref", "requested_at"),)

    ref: Mapped[str] = mapped_column(String(20), primary_key=True)  # RF-12345678
    customer_ref: Mapped[str] = mapped_column(ForeignKey("demo_customers.ref"))
    order_ref: Mapped[str] = mapped_column(ForeignKey("demo_orders.ref"), index=True)
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    requested_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    # NULL for refunds recorded without a key (several NULLs never clash).
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
