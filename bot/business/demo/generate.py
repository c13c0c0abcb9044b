"""Generated demo data: a few hundred customers with orders in every state, shipments and
their carrier histories, store-credit accounts, payments and refunds, all drawn from one
seeded random generator so the same seed and `now` give the same rows."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.business.demo import catalogue
from bot.business.demo.shipping import Leg, evening, shipment
from bot.business.demo.tables import (
    DemoAccount,
    DemoCustomer,
    DemoOrder,
    DemoOrderLine,
    DemoPayment,
    DemoRefund,
    DemoTransaction,
)
from bot.business.records import (
    OrderStatus,
    PaymentMethod,
    PreferredChannel,
    RefundStatus,
    ShipmentStatus,
    TransactionKind,
)

Line = tuple[str, str, int, int]  # sku, description, quantity, unit price (minor units)

STATUS_WEIGHTS = {
    OrderStatus.PLACED: 6,
    OrderStatus.PROCESSING: 7,
    OrderStatus.SHIPPED: 10,
    OrderStatus.OUT_FOR_DELIVERY: 5,
    OrderStatus.DELIVERED: 57,
    OrderStatus.CANCELLED: 8,
    OrderStatus.RETURNED: 7,
}
# How long ago an order in each state was placed (days): states follow from age.
STATUS_AGE_DAYS = {
    OrderStatus.PLACED: (0.02, 0.8),
    OrderStatus.PROCESSING: (0.3, 1.5),
    OrderStatus.SHIPPED: (1.5, 5.0),
    OrderStatus.OUT_FOR_DELIVERY: (2.0, 5.0),
    OrderStatus.DELIVERED: (5.0, 180.0),
    OrderStatus.CANCELLED: (1.0, 150.0),
    OrderStatus.RETURNED: (20.0, 180.0),
}
REFUND_WEIGHTS = {
    RefundStatus.PAID: 50,
    RefundStatus.APPROVED: 15,
    RefundStatus.REQUESTED: 20,
    RefundStatus.REJECTED: 15,
}
CHANNEL_WEIGHTS = {
    PreferredChannel.EMAIL: 40,
    PreferredChannel.SMS: 30,
    PreferredChannel.WEBCHAT: 20,
    PreferredChannel.VOICE: 10,
}


@dataclass
class Rows:
    """Rows to insert, grouped so that each group only refers to earlier ones."""

    customers: list[DemoCustomer] = field(default_factory=list)
    orders: list[DemoOrder] = field(default_factory=list)
    accounts: list[DemoAccount] = field(default_factory=list)
    transactions: list[DemoTransaction] = field(default_factory=list)
    payments: list[DemoPayment] = field(default_factory=list)
    refunds: list[DemoRefund] = field(default_factory=list)

    def credit(self, account: DemoAccount, transaction: DemoTransaction) -> None:
        """Record a transaction and keep the account's balance equal to their sum."""
        account.balance_minor += transaction.amount_minor
        self.transactions.append(transaction)


def order_row(
    *,
    ref: str,
    customer_ref: str,
    status: OrderStatus,
    placed_at: datetime,
    lines: Sequence[Line],
    currency: str,
    delivered_at: datetime | None = None,
) -> DemoOrder:
    """An order row with its lines; the total is the sum of the lines."""
    return DemoOrder(
        ref=ref,
        customer_ref=customer_ref,
        status=status.value,
        placed_at=placed_at.replace(microsecond=0),
        total_minor=sum(quantity * price for _, _, quantity, price in lines),
        currency=currency,
        delivered_at=delivered_at.replace(microsecond=0) if delivered_at else None,
        lines=[
            DemoOrderLine(
                position=position, sku=sku, description=text, quantity=qty, unit_price_minor=price
            )
            for position, (sku, text, qty, price) in enumerate(lines, start=1)
        ],
    )


@dataclass
class _Buyer:
    """A generated customer while their orders are made."""

    row: DemoCustomer
    card_last4: str
    account: DemoAccount | None
    credits: list[tuple[datetime, int]] = field(default_factory=list)  # store credit in/out

    def balance_at(self, at: datetime) -> int:
        """Store credit available at a moment."""
        return sum(amount for when, amount in self.credits if when <= at)


class Generator:
    """Makes the generated part of the demo data (the personas are made in `seed`)."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.rows = Rows()
        self._used: set[str] = set()
        self._counters = {"PAY": 200_000, "TX": 20_000_000, "ACC": 200_000, "RF": 20_000_000}
        # Drawn first, so every state is present even in a small seed.
        self._order_statuses = list(OrderStatus)
        self._refund_statuses = list(RefundStatus)

    def generate(self, count: int) -> Rows:
        """`count` customers with their orders, accounts, payments and refunds."""
        buyers = [self._buyer(index, phone) for index, phone in enumerate(self._phones(count))]
        for buyer in buyers:
            orders = self.rng.choices(range(6), weights=(10, 30, 25, 17, 10, 8))[0]
            self._orders(buyer, [self._status() for _ in range(orders)])
        while buyers and self._order_statuses:
            self._orders(self.rng.choice(buyers), [self._order_statuses.pop(0)])
        return self.rows

    def _sequence(self, prefix: str) -> str:
        self._counters[prefix] += 1
        return f"{prefix}-{self._counters[prefix]}"

    def _random_ref(self, prefix: str) -> str:
        # Order and shipment numbers look random to customers (ORD-482913).
        while (ref := f"{prefix}-{self.rng.randrange(200_000, 1_000_000)}") in self._used:
            pass
        self._used.add(ref)
        return ref

    def _status(self) -> OrderStatus:
        if self._order_statuses:
            return self._order_statuses.pop(0)
        statuses = list(STATUS_WEIGHTS)
        return self.rng.choices(statuses, weights=list(STATUS_WEIGHTS.values()))[0]

    def _phones(self, count: int) -> list[str | None]:
        # Ofcom's drama range (07700 900000-900999) while it lasts, 07700 9xxxxx beyond.
        pool = range(900_100, 901_000) if count <= 900 else range(900_100, 1_000_000)
        numbers = self.rng.sample(pool, count)
        # A few customers never gave a phone number.
        return [None if self.rng.random() < 0.04 else f"+447700{n}" for n in numbers]

    def _email(self, first: str, last: str) -> str:
        local = f"{first}.{last}".lower().replace("'", "")
        domain = self.rng.choice(catalogue.EMAIL_DOMAINS)
        email, suffix = f"{local}@{domain}", 1
        while email in self._used:
            suffix += 1
            email = f"{local}{suffix}@{domain}"
        self._used.add(email)
        return email

    def _buyer(self, index: int, phone: str | None) -> _Buyer:
        rng = self.rng
        first, last = rng.choice(catalogue.FIRST_NAMES), rng.choice(catalogue.LAST_NAMES)
        channels = list(CHANNEL_WEIGHTS)
        preferred = rng.choices(channels, weights=list(CHANNEL_WEIGHTS.values()))[0]
        if phone is None and preferred in (PreferredChannel.SMS, PreferredChannel.VOICE):
            preferred = PreferredChannel.EMAIL
        row = DemoCustomer(
            ref=f"C-{10_101 + index}",
            name=f"{first} {last}",
            email=self._email(first, last),
            phone=phone,
            vip=rng.random() < 0.05,
            preferred_channel=preferred.value,
            # Mostly UK customers; some in Ireland pay in euros.
            currency="EUR" if rng.random() < 0.06 else "GBP",
            language="en",
            created_at=(self.now - timedelta(days=rng.uniform(200, 1500))).replace(microsecond=0),
        )
        self.rows.customers.append(row)
        buyer = _Buyer(row=row, card_last4=f"{rng.randrange(10_000):04d}", account=None)
        if rng.random() < 0.3:
            self._open_account(buyer)
        return buyer

    def _open_account(self, buyer: _Buyer) -> None:
        rng = self.rng
        account = DemoAccount(
            ref=self._sequence("ACC"),
            customer_ref=buyer.row.ref,
            number=f"6338{rng.randrange(10**8):08d}",
            kind="store_credit",
            currency=buyer.row.currency,
            balance_minor=0,
        )
        buyer.account = account
        self.rows.accounts.append(account)
        opened = self.now - timedelta(days=rng.uniform(185, 400))
        credits = [(opened, TransactionKind.TOP_UP, rng.choice(catalogue.TOP_UP_DESCRIPTIONS))]
        for _ in range(rng.randint(0, 3)):
            kind = rng.choice((TransactionKind.TOP_UP, TransactionKind.ADJUSTMENT))
            words = (
                catalogue.TOP_UP_DESCRIPTIONS
                if kind is TransactionKind.TOP_UP
                else catalogue.ADJUSTMENT_DESCRIPTIONS
            )
            credits.append((opened + (self.now - opened) * rng.random(), kind, rng.choice(words)))
        for at, kind, description in sorted(credits, key=lambda credit: credit[0]):
            amount = rng.choice((500, 1000, 2000, 2500, 5000, 10_000))
            self._transact(buyer, at, kind, amount, description)

    def _transact(
        self, buyer: _Buyer, at: datetime, kind: TransactionKind, amount: int, description: str
    ) -> None:
        assert buyer.account is not None
        transaction = DemoTransaction(
            ref=self._sequence("TX"),
            account_ref=buyer.account.ref,
            at=at.replace(microsecond=0),
            kind=kind.value,
            amount_minor=amount,
            description=description,
        )
        buyer.credits.append((at, amount))
        self.rows.credit(buyer.account, transaction)

    def _orders(self, buyer: _Buyer, statuses: Sequence[OrderStatus]) -> None:
        placed = []
        for status in statuses:
            low, high = STATUS_AGE_DAYS[status]
            placed.append((self.now - timedelta(days=self.rng.uniform(low, high)), status))
        # Oldest first, so store credit is spent in the order it was.
        for placed_at, status in sorted(placed, key=lambda item: item[0]):
            self._order(buyer, status, placed_at)

    def _lines(self, currency: str) -> list[Line]:
        rng = self.rng
        products = rng.sample(catalogue.PRODUCTS, rng.choices((1, 2, 3, 4), (50, 30, 15, 5))[0])
        lines = []
        for sku, description, price in products:
            if currency == "EUR":
                # Euro prices end in .99 like the pound ones would.
                price = (price * 117 // 10_000) * 100 + 99
            quantity = rng.choices((1, 2, 3), weights=(85, 12, 3))[0]
            lines.append((sku, description, quantity, price))
        return lines

    def _order(self, buyer: _Buyer, status: OrderStatus, placed_at: datetime) -> None:
        rng = self.rng
        ref = self._random_ref("ORD")
        shipped_at = placed_at + timedelta(hours=rng.uniform(6, 26))
        delivered_at = None
        if status in (OrderStatus.DELIVERED, OrderStatus.RETURNED):
            delivered_at = shipped_at + timedelta(days=rng.uniform(1, 3.5))
        order = order_row(
            ref=ref,
            customer_ref=buyer.row.ref,
            status=status,
            placed_at=placed_at,
            lines=self._lines(buyer.row.currency),
            currency=buyer.row.currency,
            delivered_at=delivered_at,
        )
        self.rows.orders.append(order)
        self._ship(order, status, shipped_at)
        method = self._pay(buyer, order)
        self._refund_if_due(buyer, order, status, method)

    def _ship(self, order: DemoOrder, status: OrderStatus, shipped_at: datetime) -> None:
        rng, now = self.rng, self.now
        leg = Leg(
            carrier=rng.choices(list(catalogue.CARRIERS), weights=catalogue.CARRIER_WEIGHTS)[0],
            status=ShipmentStatus.IN_TRANSIT,
            shipped_at=min(shipped_at, now - timedelta(hours=3)),
            last_scan_at=now - timedelta(hours=rng.uniform(0.5, 2.5)),
            town=rng.choice(catalogue.TOWNS),
        )
        eta: datetime | None = evening(now + timedelta(days=rng.randint(1, 2)), not_before=now)
        if status is OrderStatus.PROCESSING:
            if rng.random() < 0.5:
                return  # not packed yet: no label
            halfway = order.placed_at + (now - order.placed_at) / 2
            leg = Leg(leg.carrier, ShipmentStatus.LABEL_CREATED, halfway, halfway, leg.town)
            eta = evening(now + timedelta(days=rng.randint(2, 4)), not_before=now)
        elif status is OrderStatus.SHIPPED and rng.random() < 0.15:
            exception = rng.choice(catalogue.EXCEPTIONS)
            leg = replace(leg, status=ShipmentStatus.EXCEPTION, exception=exception)
            eta = evening(now + timedelta(days=rng.randint(2, 4)), not_before=now)
        elif status is OrderStatus.OUT_FOR_DELIVERY:
            leg = replace(leg, status=ShipmentStatus.OUT_FOR_DELIVERY)
            eta = evening(now, not_before=now)
        elif order.delivered_at is not None:
            leg = Leg(
                leg.carrier, ShipmentStatus.DELIVERED, shipped_at, order.delivered_at, leg.town
            )
            eta = evening(shipped_at + timedelta(days=2), not_before=shipped_at)
        elif status is not OrderStatus.SHIPPED:
            return  # placed or cancelled before dispatch
        ref = self._random_ref("SHP")
        order.shipments.append(shipment(rng, ref=ref, order_ref=order.ref, leg=leg, eta=eta))

    def _pay(self, buyer: _Buyer, order: DemoOrder) -> PaymentMethod:
        rng = self.rng
        methods = (PaymentMethod.CARD, PaymentMethod.PAYPAL, PaymentMethod.BANK_TRANSFER)
        method = rng.choices(methods, weights=(70, 24, 6))[0]
        at = order.placed_at + timedelta(seconds=rng.randint(5, 90))
        if buyer.account and rng.random() < 0.4 and buyer.balance_at(at) >= order.total_minor:
            method = PaymentMethod.STORE_CREDIT
            self._transact(
                buyer, at, TransactionKind.PURCHASE, -order.total_minor, f"Order {order.ref}"
            )
        self.rows.payments.append(
            DemoPayment(
                ref=self._sequence("PAY"),
                customer_ref=buyer.row.ref,
                order_ref=order.ref,
                at=at,
                amount_minor=order.total_minor,
                currency=order.currency,
                method=method.value,
                card_last4=buyer.card_last4 if method is PaymentMethod.CARD else None,
                receipt_url=None,
            )
        )
        return method

    def _refund_if_due(
        self, buyer: _Buyer, order: DemoOrder, status: OrderStatus, method: PaymentMethod
    ) -> None:
        rng = self.rng
        if status is OrderStatus.CANCELLED:
            asked = order.placed_at + timedelta(hours=rng.uniform(0.5, 12))
            reason, amount, refund_status = "Order cancelled before dispatch", None, None
        elif status is OrderStatus.RETURNED:
            assert order.delivered_at is not None
            asked = order.delivered_at + timedelta(days=rng.uniform(2, 14))
            reason, amount = rng.choice(catalogue.REFUND_REASONS[3:]), None
            refund_status = None
        elif status is OrderStatus.DELIVERED and (self._refund_statuses or rng.random() < 0.1):
            assert order.delivered_at is not None
            asked = order.delivered_at + timedelta(days=rng.uniform(0.2, 10))
            reason = rng.choice(catalogue.REFUND_REASONS)
            amount = order.lines[0].unit_price_minor  # the item that went wrong
            refund_status = self._refund_status()
        else:
            return
        self._refund(
            buyer,
            order,
            method,
            reason=reason,
            amount=amount,
            status=refund_status,
            asked=min(asked, self.now - timedelta(hours=rng.uniform(1, 30))),
        )

    def _refund_status(self) -> RefundStatus:
        if self._refund_statuses:
            return self._refund_statuses.pop(0)
        statuses = list(REFUND_WEIGHTS)
        return self.rng.choices(statuses, weights=list(REFUND_WEIGHTS.values()))[0]

    def _refund(
        self,
        buyer: _Buyer,
        order: DemoOrder,
        method: PaymentMethod,
        *,
        reason: str,
        amount: int | None,
        status: RefundStatus | None,
        asked: datetime,
    ) -> None:
        rng, now = self.rng, self.now
        decided = asked + timedelta(seconds=rng.randint(2, 40))
        paid = decided + timedelta(days=rng.uniform(1, 4))
        if status is None:  # cancellations and returns: paid, once the payment run came
            status = RefundStatus.PAID if paid < now else RefundStatus.APPROVED
        by_agent = status is RefundStatus.REJECTED or rng.random() < 0.3
        ref = self._sequence("RF")
        self.rows.refunds.append(
            DemoRefund(
                ref=ref,
                customer_ref=buyer.row.ref,
                order_ref=order.ref,
                amount_minor=amount or order.total_minor,
                currency=order.currency,
                reason=reason,
                status=status.value,
                requested_at=asked.replace(microsecond=0),
                decided_at=None if status is RefundStatus.REQUESTED else decided,
                paid_at=min(paid, now) if status is RefundStatus.PAID else None,
                decided_by=None
                if status is RefundStatus.REQUESTED
                else f"agent:{rng.choice(catalogue.AGENTS)}"
                if by_agent
                else "policy:within_policy",
                evidence=[],
                idempotency_key=None,
            )
        )
        if method is PaymentMethod.STORE_CREDIT and status in (
            RefundStatus.APPROVED,
            RefundStatus.PAID,
        ):
            description = f"Refund {ref} for order {order.ref}"
            self._transact(
                buyer, decided, TransactionKind.REFUND, amount or order.total_minor, description
            )
