"""Seed the demo backend: the fixed personas that tests and the README rely on
(`PERSONAS`, documented in `bot.business.demo.personas`: C-10001 Alice Morgan, C-10002
Bilal Khan, C-10003 Chloe Davies, C-10004 Daniel Evans) plus a few hundred generated
customers. Every date is relative to `now`, so the data stays fresh (a parcel "delivered
3 days ago" is so whenever it is seeded).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.business.demo.backend import DemoBusinessSystems
from bot.business.demo.generate import Generator, Rows, order_row
from bot.business.demo.personas import (
    PERSONAS,
    Persona,
    PersonaOrder,
    PersonaRefund,
)
from bot.business.demo.shipping import Leg, evening, shipment
from bot.business.demo.tables import (
    DemoAccount,
    DemoCustomer,
    DemoPayment,
    DemoRefund,
    DemoTransaction,
)
from bot.business.records import OrderStatus, RefundStatus, ShipmentStatus

__all__ = ["PERSONAS", "SeedError", "SeedSummary", "persona_rows", "seed"]


class SeedError(Exception):
    """The demo backend cannot be seeded as asked (it already holds data)."""


@dataclass(frozen=True)
class SeedSummary:
    """What a seed created, for the command line to print."""

    customers: int
    vip: int
    orders: dict[str, int]  # by status
    shipments: int
    shipment_events: int
    accounts: int
    transactions: int
    payments: int
    refunds: dict[str, int]  # by status

    def lines(self) -> list[str]:
        """Human-readable lines, one per kind of record."""
        orders = ", ".join(f"{status} {count}" for status, count in self.orders.items())
        refunds = ", ".join(f"{status} {count}" for status, count in self.refunds.items())
        return [
            f"customers: {self.customers} ({self.vip} VIP)",
            f"orders: {sum(self.orders.values())} ({orders})",
            f"shipments: {self.shipments} with {self.shipment_events} carrier events",
            f"store-credit accounts: {self.accounts} with {self.transactions} transactions",
            f"payments: {self.payments}",
            f"refunds: {sum(self.refunds.values())} ({refunds})",
            "personas: " + ", ".join(f"{p.ref} {p.name} {p.phone} {p.email}" for p in PERSONAS),
        ]


async def seed(
    backend: DemoBusinessSystems,
    *,
    customers: int = 300,
    random_seed: int = 7,
    now: datetime | None = None,
) -> SeedSummary:
    """Fill an empty demo backend with the personas and `customers` generated customers.

    The same `random_seed` and `now` always give the same rows. Raises SeedError if the
    backend already holds customers (reset it first).
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    if now.tzinfo is None:
        raise ValueError("seed(now=...) needs a timezone-aware time")
    await backend.create_tables()
    if not await backend.is_empty():
        raise SeedError("the demo backend already holds data; reset it to seed it again")
    rows = persona_rows(now)
    generated = Generator(random.Random(random_seed), now).generate(customers)
    summary = _summary(rows, generated)  # before writing: written rows load lazily
    async with backend.session() as session:
        # Group by group, so every row's references are already there when it is written.
        for group in (
            rows.customers + generated.customers,
            rows.orders + generated.orders,
            rows.accounts + generated.accounts,
            rows.transactions + generated.transactions,
            rows.payments + generated.payments,
            rows.refunds + generated.refunds,
        ):
            session.add_all(group)
            await session.flush()
    return summary


def _summary(*parts: Rows) -> SeedSummary:
    customers = [row for part in parts for row in part.customers]
    orders = [row for part in parts for row in part.orders]
    shipments = [shipment for order in orders for shipment in order.shipments]
    refunds = [row for part in parts for row in part.refunds]
    order_counts = Counter(order.status for order in orders)
    refund_counts = Counter(refund.status for refund in refunds)
    return SeedSummary(
        customers=len(customers),
        vip=sum(customer.vip for customer in customers),
        orders={status.value: order_counts[status.value] for status in OrderStatus},
        shipments=len(shipments),
        shipment_events=sum(len(shipment.events) for shipment in shipments),
        accounts=sum(len(part.accounts) for part in parts),
        transactions=sum(len(part.transactions) for part in parts),
        payments=sum(len(part.payments) for part in parts),
        refunds={status.value: refund_counts[status.value] for status in RefundStatus},
    )


def persona_rows(now: datetime) -> Rows:
    """The personas' rows, at dates relative to `now`."""
    rows = Rows()
    for persona in PERSONAS:
        rows.customers.append(
            DemoCustomer(
                ref=persona.ref,
                name=persona.name,
                email=persona.email,
                phone=persona.phone,
                vip=persona.vip,
                preferred_channel=persona.preferred_channel.value,
                currency="GBP",
                language="en",
                created_at=now - timedelta(days=900),
            )
        )
        for order in persona.orders:
            _persona_order(rows, persona, order, now)
        _persona_account(rows, persona, now)
        for refund in persona.refunds:
            _persona_refund(rows, persona, refund, now)
    return rows


def _persona_order(rows: Rows, persona: Persona, order: PersonaOrder, now: datetime) -> None:
    placed_at = now - timedelta(days=order.placed_days_ago)
    delivered_at = (
        None if order.delivered_days_ago is None else now - timedelta(days=order.delivered_days_ago)
    )
    row = order_row(
        ref=order.ref,
        customer_ref=persona.ref,
        status=order.status,
        placed_at=placed_at,
        lines=order.lines,
        currency="GBP",
        delivered_at=delivered_at,
    )
    rows.orders.append(row)
    rows.payments.append(
        DemoPayment(
            ref=order.payment_ref,
            customer_ref=persona.ref,
            order_ref=order.ref,
            at=row.placed_at + timedelta(seconds=30),
            amount_minor=order.total_minor,
            currency="GBP",
            method=order.method.value,
            card_last4=order.card_last4,
            receipt_url=None,
        )
    )
    if order.carrier is None or order.shipment_ref is None:
        return
    # Its own generator per order: a persona's parcel history does not depend on the seed.
    rng = random.Random(order.ref)
    shipped_at = placed_at + timedelta(hours=14)
    if delivered_at is not None:
        leg = Leg(order.carrier, ShipmentStatus.DELIVERED, shipped_at, delivered_at, persona.town)
        eta = evening(shipped_at + timedelta(days=2), not_before=shipped_at)
    else:
        status = ShipmentStatus.EXCEPTION if order.exception else ShipmentStatus.IN_TRANSIT
        last_scan = now - timedelta(hours=2)
        leg = Leg(order.carrier, status, shipped_at, last_scan, persona.town, order.exception)
        eta = evening(now + timedelta(days=order.eta_days), not_before=now)
    row.shipments.append(
        shipment(rng, ref=order.shipment_ref, order_ref=order.ref, leg=leg, eta=eta)
    )


def _persona_account(rows: Rows, persona: Persona, now: datetime) -> None:
    if persona.account_ref is None or persona.account_number is None:
        return
    account = DemoAccount(
        ref=persona.account_ref,
        customer_ref=persona.ref,
        number=persona.account_number,
        kind="store_credit",
        currency="GBP",
        balance_minor=0,
    )
    rows.accounts.append(account)
    for credit in persona.credits:
        transaction = DemoTransaction(
            ref=credit.ref,
            account_ref=account.ref,
            at=now - timedelta(days=credit.days_ago),
            kind=credit.kind.value,
            amount_minor=credit.amount_minor,
            description=credit.description,
        )
        rows.credit(account, transaction)


def _persona_refund(rows: Rows, persona: Persona, refund: PersonaRefund, now: datetime) -> None:
    requested_at = now - timedelta(days=refund.requested_days_ago)
    rows.refunds.append(
        DemoRefund(
            ref=refund.ref,
            customer_ref=persona.ref,
            order_ref=refund.order_ref,
            amount_minor=refund.amount_minor,
            currency="GBP",
            reason=refund.reason,
            status=RefundStatus.PAID.value,
            requested_at=requested_at,
            decided_at=requested_at + timedelta(seconds=20),
            paid_at=requested_at + timedelta(days=3),
            decided_by="policy:within_policy",
            evidence=[],
            idempotency_key=None,
        )
    )
