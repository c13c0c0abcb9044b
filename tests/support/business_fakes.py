"""Business systems for tests: a small in-memory `BusinessSystems` with a few known records
(exact to the field, where the demo backend's seed is realistic), the demo backend seeded on
a SQLite file, and the HTTP backend set up for the local contract server."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.business.http import Backoff, HttpBusinessSystems
from bot.business.protocol import BusinessSystems, BusinessSystemsError
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
    RefundRequest,
    RefundStatus,
    Shipment,
    ShipmentEvent,
    ShipmentStatus,
    Transaction,
    TransactionKind,
)
from bot.core.settings import Settings

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _gbp(minor: int) -> Money:
    return Money(minor, "GBP")


class InMemoryBusinessSystems:
    """Every Protocol operation over plain dicts; `sample()` fills it with known records."""

    def __init__(self) -> None:
        self.customers: dict[str, CustomerRecord] = {}
        self.orders_by_ref: dict[str, Order] = {}
        self.shipments: dict[str, Shipment] = {}
        self.accounts_by_ref: dict[str, Account] = {}
        self.transactions_by_ref: dict[str, Transaction] = {}
        self.payments_by_ref: dict[str, Payment] = {}
        self.refunds_by_ref: dict[str, Refund] = {}
        self._keys: dict[str, str] = {}
        self._numbers = itertools.count(1)
        self.closed = False

    async def customer(self, ref: str) -> CustomerRecord | None:
        """The customer with this id, if any."""
        return self.customers.get(ref)

    async def customer_by_phone(self, phone: str) -> CustomerRecord | None:
        """The one customer with this number."""
        found = [c for c in self.customers.values() if c.phone == phone]
        return found[0] if len(found) == 1 else None

    async def customer_by_email(self, email: str) -> CustomerRecord | None:
        """The one customer with this address, case-insensitively."""
        wanted = email.casefold()
        found = [c for c in self.customers.values() if (c.email or "").casefold() == wanted]
        return found[0] if len(found) == 1 else None

    async def order(self, ref: str) -> Order | None:
        """An order by its number."""
        return self.orders_by_ref.get(ref)

    async def orders(self, customer_ref: str, *, limit: int = 10) -> Sequence[Order]:
        """A customer's orders, newest first."""
        mine = [o for o in self.orders_by_ref.values() if o.customer_ref == customer_ref]
        return sorted(mine, key=lambda o: o.placed_at, reverse=True)[:limit]

    async def shipment(self, ref: str) -> Shipment | None:
        """A shipment by its reference."""
        return self.shipments.get(ref)

    async def accounts(self, customer_ref: str) -> Sequence[Account]:
        """A customer's accounts."""
        return [a for a in self.accounts_by_ref.values() if a.customer_ref == customer_ref]

    async def transactions(self, account_ref: str, *, limit: int = 10) -> Sequence[Transaction]:
        """An account's transactions, newest first."""
        mine = [t for t in self.transactions_by_ref.values() if t.account_ref == account_ref]
        return sorted(mine, key=lambda t: t.at, reverse=True)[:limit]

    async def payments(self, customer_ref: str, *, limit: int = 10) -> Sequence[Payment]:
        """A customer's payments, newest first."""
        mine = [p for p in self.payments_by_ref.values() if p.customer_ref == customer_ref]
        return sorted(mine, key=lambda p: p.at, reverse=True)[:limit]

    async def payment(self, ref: str) -> Payment | None:
        """A payment by its reference."""
        return self.payments_by_ref.get(ref)

    async def refunds(self, customer_ref: str, *, limit: int = 20) -> Sequence[Refund]:
        """A customer's refunds, newest first."""
        mine = [r for r in self.refunds_by_ref.values() if r.customer_ref == customer_ref]
        return sorted(mine, key=lambda r: r.requested_at, reverse=True)[:limit]

    async def request_refund(self, request: RefundRequest) -> Refund:
        """Record a refund; the same idempotency key answers the first one."""
        if request.idempotency_key in self._keys:
            return self.refunds_by_ref[self._keys[request.idempotency_key]]
        order = self.orders_by_ref.get(request.order_ref)
        if order is None or order.customer_ref != request.customer_ref:
            raise BusinessSystemsError(f"customer has no order {request.order_ref}")
        refund = Refund(
            ref=f"RF-{90000000 + next(self._numbers)}",
            customer_ref=request.customer_ref,
            order_ref=request.order_ref,
            amount=request.amount,
            reason=request.reason,
            status=RefundStatus.APPROVED if request.approved else RefundStatus.REQUESTED,
            requested_at=NOW,
            decided_at=NOW if request.approved else None,
            decided_by=request.decided_by if request.approved else None,
            evidence=request.evidence,
        )
        self.refunds_by_ref[refund.ref] = refund
        if request.idempotency_key:
            self._keys[request.idempotency_key] = refund.ref
        return refund

    async def decide_refund(self, ref: str, *, approved: bool, decided_by: str) -> Refund:
        """Decide a refund waiting for a person."""
        refund = self.refunds_by_ref.get(ref)
        if refund is None:
            raise BusinessSystemsError(f"there is no refund {ref}")
        if refund.status is not RefundStatus.REQUESTED:
            raise BusinessSystemsError(f"refund {ref} was already decided")
        status = RefundStatus.APPROVED if approved else RefundStatus.REJECTED
        decided = dataclasses.replace(refund, status=status, decided_at=NOW, decided_by=decided_by)
        self.refunds_by_ref[ref] = decided
        return decided

    async def aclose(self) -> None:
        """Nothing to release."""
        self.closed = True


def sample() -> InMemoryBusinessSystems:
    """Two customers; Ada (C-1) has an order in every interesting field, Bob (C-2) little."""
    systems = InMemoryBusinessSystems()
    ada = CustomerRecord(
        "C-1", "Ada Lovelace", "ada@example.com", "+447700900001", is_vip=True,
        preferred_channel=PreferredChannel.SMS,
    )  # fmt: skip
    bob = CustomerRecord("C-2", "Bob Stone", None, "+447700900002", language="de", currency="EUR")
    systems.customers = {c.ref: c for c in (ada, bob)}
    placed = NOW - timedelta(days=6)
    shipped = Order(
        "ORD-100001", "C-1", OrderStatus.SHIPPED, placed, _gbp(4598),
        lines=(
            OrderLine("SKU-1", "Kettle", 1, _gbp(2999)),
            OrderLine("SKU-2", "Mug", 2, _gbp(799)),
        ),
        shipment_refs=("SHP-100001",),
    )  # fmt: skip
    delivered = Order(
        "ORD-100002", "C-1", OrderStatus.DELIVERED, placed - timedelta(days=20), _gbp(1250),
        delivered_at=placed - timedelta(days=17),
    )  # fmt: skip
    systems.orders_by_ref = {o.ref: o for o in (shipped, delivered)}
    systems.shipments["SHP-100001"] = Shipment(
        "SHP-100001", "ORD-100001", "Royal Mail", "RM123456789GB", ShipmentStatus.IN_TRANSIT,
        events=(
            ShipmentEvent(placed + timedelta(days=1), ShipmentStatus.LABEL_CREATED, "Label"),
            ShipmentEvent(
                placed + timedelta(days=2), ShipmentStatus.IN_TRANSIT,
                "Arrived at Birmingham depot", location="Birmingham",
            ),
        ),
        estimated_delivery=NOW + timedelta(days=1),
    )  # fmt: skip
    account = Account("ACC-100001", "C-1", "GB00STORE12345678", _gbp(1500))
    systems.accounts_by_ref[account.ref] = account
    for number, (days, kind, minor) in enumerate(
        [(30, TransactionKind.TOP_UP, 2500), (10, TransactionKind.PURCHASE, -1000)], start=1
    ):
        ref = f"TX-{number}"
        systems.transactions_by_ref[ref] = Transaction(
            ref, account.ref, NOW - timedelta(days=days), kind, _gbp(minor), kind.value
        )
    payment = Payment(
        "PAY-100001", "C-1", "ORD-100001", placed, _gbp(4598), PaymentMethod.CARD,
        card_last4="4242", receipt_url="https://shop.example.com/receipts/PAY-100001",
    )  # fmt: skip
    systems.payments_by_ref[payment.ref] = payment
    refund = Refund(
        "RF-10000001", "C-1", "ORD-100002", _gbp(1250), "arrived broken", RefundStatus.PAID,
        requested_at=NOW - timedelta(days=15), decided_at=NOW - timedelta(days=15),
        paid_at=NOW - timedelta(days=14), decided_by="policy:auto", evidence=("doc-1",),
    )  # fmt: skip
    systems.refunds_by_ref[refund.ref] = refund
    return systems


# -- the HTTP backend against the local contract server -----------------------------------

AUTH = "Bearer business-test-token"
# Short waits between attempts: the tests count attempts, not seconds.
FAST = Backoff(multiplier_seconds=0.01, max_seconds=0.05, max_retry_after_seconds=2.0)


def http_settings(tmp: Path, url: str, **updates: Any) -> Settings:
    """Settings of the HTTP backend on `url` with the test credentials (and `updates`)."""
    values: dict[str, Any] = {
        "var_dir": tmp / "var",
        "business_backend": "http",
        "business_api_url": url,
        "business_api_auth_value": SecretStr(AUTH),
        "business_api_timeout_seconds": 2.0,
        "business_api_retries": 2,
        "business_api_breaker_failures": 3,
        "business_api_breaker_reset_seconds": 0.5,
    }
    return Settings(**(values | updates))


@asynccontextmanager
async def http_backend(tmp: Path, url: str, **updates: Any) -> AsyncIterator[HttpBusinessSystems]:
    """The HTTP backend on `url`, closed after the block."""
    backend = HttpBusinessSystems(http_settings(tmp, url, **updates), backoff=FAST)
    try:
        yield backend
    finally:
        await backend.aclose()


@asynccontextmanager
async def seeded_demo(tmp: Path) -> AsyncIterator[BusinessSystems]:
    """The bundled demo backend on a SQLite file in `tmp`, seeded (personas + a few more)."""
    from bot.business.demo.backend import DemoBusinessSystems
    from bot.business.demo.seed import seed

    backend = DemoBusinessSystems(f"sqlite+aiosqlite:///{tmp / 'business.db'}")
    try:
        await seed(backend, customers=10)
        yield backend
    finally:
        await backend.aclose()
