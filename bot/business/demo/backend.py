"""`BusinessSystems` over the demo tables: the company's systems as a bundled SQLite file,
so self-service works out of the box (`python -m bot business seed` fills it)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.business.demo.rows import (
    account_record,
    customer_record,
    order_record,
    payment_record,
    refund_record,
    shipment_record,
    transaction_record,
)
from bot.business.demo.tables import (
    DemoAccount,
    DemoBase,
    DemoCustomer,
    DemoOrder,
    DemoPayment,
    DemoRefund,
    DemoShipment,
    DemoTransaction,
)
from bot.business.protocol import BusinessSystemsError
from bot.business.records import (
    Account,
    CustomerRecord,
    Money,
    Order,
    Payment,
    PaymentMethod,
    Refund,
    RefundRequest,
    RefundStatus,
    Shipment,
    Transaction,
    TransactionKind,
)
from bot.core.db import Database

Clock = Callable[[], datetime]
# Refunds that still count against the order's total (a rejected one gave nothing back).
LIVE_REFUNDS = (RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.PAID)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def new_ref(prefix: str) -> str:
    """A fresh reference customers can read out and type on a keypad: prefix + 8 digits."""
    return f"{prefix}-{secrets.randbelow(90_000_000) + 10_000_000}"


class DemoBusinessSystems:
    """The bundled demo backend. Its tables are created on first use (or by
    `create_tables()`); `aclose()` at the end."""

    def __init__(self, database_url: str, *, clock: Clock = _utcnow) -> None:
        self.database_url = database_url
        self._database = Database(database_url)
        self._clock = clock
        # Nothing connects until first use: the app builds this before its event loop runs.
        self._tables_ready = False
        self._tables_lock = asyncio.Lock()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session on the demo tables that commits on success (the seed writes with it)."""
        if not self._tables_ready:
            await self.create_tables()
        async with self._database.session() as session:
            yield session

    async def create_tables(self) -> None:
        """Create the demo tables that do not exist yet."""
        async with self._tables_lock:
            async with self._database.engine.begin() as connection:
                await connection.run_sync(DemoBase.metadata.create_all)
            self._tables_ready = True

    async def drop_tables(self) -> None:
        """Drop every demo table (for `seed --reset`)."""
        async with self._tables_lock:
            async with self._database.engine.begin() as connection:
                await connection.run_sync(DemoBase.metadata.drop_all)
            self._tables_ready = False

    async def is_empty(self) -> bool:
        """Whether no customer is recorded yet (then `run` seeds it)."""
        async with self.session() as session:
            return (await session.scalar(select(func.count()).select_from(DemoCustomer))) == 0

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._database.dispose()

    # Customers

    async def customer(self, ref: str) -> CustomerRecord | None:
        """The customer with this id, if any."""
        async with self.session() as session:
            row = await session.get(DemoCustomer, ref)
            return customer_record(row) if row else None

    async def customer_by_phone(self, phone: str) -> CustomerRecord | None:
        """The one customer whose record holds this E.164 number (None if none or several)."""
        return await self._only_customer(DemoCustomer.phone == phone.strip())

    async def customer_by_email(self, email: str) -> CustomerRecord | None:
        """The one customer whose record holds this email address (case-insensitive)."""
        return await self._only_customer(DemoCustomer.email == email.strip().lower())

    async def _only_customer(self, condition: ColumnElement[bool]) -> CustomerRecord | None:
        async with self.session() as session:
            rows = (await session.scalars(select(DemoCustomer).where(condition).limit(2))).all()
        # Two records with one address: not knowing which, answer for neither.
        return customer_record(rows[0]) if len(rows) == 1 else None

    # Orders and shipments

    async def order(self, ref: str) -> Order | None:
        """An order by its number, whoever it belongs to."""
        async with self.session() as session:
            row = await session.get(DemoOrder, ref.strip().upper())
            return order_record(row) if row else None

    async def orders(self, customer_ref: str, *, limit: int = 10) -> Sequence[Order]:
        """A customer's orders, newest first."""
        query = (
            select(DemoOrder)
            .where(DemoOrder.customer_ref == customer_ref)
            .order_by(DemoOrder.placed_at.desc(), DemoOrder.ref.desc())
            .limit(limit)
        )
        async with self.session() as session:
            return [order_record(row) for row in await session.scalars(query)]

    async def shipment(self, ref: str) -> Shipment | None:
        """A shipment with its carrier events."""
        async with self.session() as session:
            row = await session.get(DemoShipment, ref)
            return shipment_record(row) if row else None

    # Accounts, payments

    async def accounts(self, customer_ref: str) -> Sequence[Account]:
        """A customer's store-credit / wallet accounts."""
        query = (
            select(DemoAccount)
            .where(DemoAccount.customer_ref == customer_ref)
            .order_by(DemoAccount.ref)
        )
        async with self.session() as session:
            return [account_record(row) for row in await session.scalars(query)]

    async def transactions(self, account_ref: str, *, limit: int = 10) -> Sequence[Transaction]:
        """An account's transactions, newest first."""
        query = (
            select(DemoTransaction, DemoAccount.currency)
            .join(DemoAccount, DemoAccount.ref == DemoTransaction.account_ref)
            .where(DemoTransaction.account_ref == account_ref)
            .order_by(DemoTransaction.at.desc(), DemoTransaction.ref.desc())
            .limit(limit)
        )
        async with self.session() as session:
            rows = (await session.execute(query)).all()
        return [transaction_record(row, currency) for row, currency in rows]

    async def payments(self, customer_ref: str, *, limit: int = 10) -> Sequence[Payment]:
        """A customer's payments, newest first."""
        query = (
            select(DemoPayment)
            .where(DemoPayment.customer_ref == customer_ref)
            .order_by(DemoPayment.at.desc(), DemoPayment.ref.desc())
            .limit(limit)
        )
        async with self.session() as session:
            return [payment_record(row) for row in await session.scalars(query)]

    async def payment(self, ref: str) -> Payment | None:
        """A payment by its reference."""
        async with self.session() as session:
            row = await session.get(DemoPayment, ref.strip().upper())
            return payment_record(row) if row else None

    # Refunds

    async def refunds(self, customer_ref: str, *, limit: int = 20) -> Sequence[Refund]:
        """A customer's refunds, newest first."""
        query = (
            select(DemoRefund)
            .where(DemoRefund.customer_ref == customer_ref)
            .order_by(DemoRefund.requested_at.desc(), DemoRefund.ref.desc())
            .limit(limit)
        )
        async with self.session() as session:
            return [refund_record(row) for row in await session.scalars(query)]

    async def request_refund(self, request: RefundRequest) -> Refund:
        """Record a refund (approved, or waiting for a person); idempotent on its key.

        An approved refund of an order paid with store credit goes back onto the customer's
        store-credit account at once (a REFUND transaction); other methods wait for the
        payment run (`pay_due_refunds`).
        """
        for attempt in range(3):
            try:
                async with self.session() as session:
                    return await _record_refund(session, request, self._clock())
            except IntegrityError as error:
                # Another request with the same key won the race, or (rarely) a new
                # reference collided: the first is the answer, the second is retried.
                if request.idempotency_key:
                    async with self.session() as session:
                        existing = await _refund_by_key(session, request.idempotency_key)
                    if existing is not None:
                        return refund_record(existing)
                if attempt == 2:
                    raise BusinessSystemsError("could not record the refund") from error
        raise AssertionError("unreachable")

    async def decide_refund(self, ref: str, *, approved: bool, decided_by: str) -> Refund:
        """Approve or reject a refund waiting for a person.

        Deciding it again the same way returns it unchanged (a retried click); deciding it
        the other way is refused.
        """
        async with self.session() as session:
            row = await session.get(DemoRefund, ref, with_for_update=True)
            if row is None:
                raise BusinessSystemsError(f"there is no refund {ref}")
            status = RefundStatus(row.status)
            if status is not RefundStatus.REQUESTED:
                same = (status is RefundStatus.REJECTED) is (not approved)
                if same:
                    return refund_record(row)
                raise BusinessSystemsError(f"refund {ref} was already decided ({status.value})")
            now = self._clock()
            row.status = (RefundStatus.APPROVED if approved else RefundStatus.REJECTED).value
            row.decided_at = now
            row.decided_by = decided_by
            if approved:
                await _credit_store_credit(session, row, now)
            await session.flush()
            return refund_record(row)

    async def pay_due_refunds(self, now: datetime | None = None) -> list[Refund]:
        """Mark every approved refund paid (the demo's stand-in for the payment run); the
        refunds paid now, so the customers can be told."""
        paid_at = now or self._clock()
        query = (
            select(DemoRefund)
            .where(DemoRefund.status == RefundStatus.APPROVED.value)
            .order_by(DemoRefund.requested_at, DemoRefund.ref)
            # Two app instances running the payment run never pay one refund twice.
            .with_for_update(skip_locked=True)
        )
        async with self.session() as session:
            rows = list(await session.scalars(query))
            for row in rows:
                row.status = RefundStatus.PAID.value
                row.paid_at = paid_at
            await session.flush()
            return [refund_record(row) for row in rows]


async def _refund_by_key(session: AsyncSession, key: str) -> DemoRefund | None:
    return await session.scalar(select(DemoRefund).where(DemoRefund.idempotency_key == key))


async def _record_refund(session: AsyncSession, request: RefundRequest, now: datetime) -> Refund:
    # The order's row is locked first (PostgreSQL; SQLite's writers already queue): two
    # requests for one order, with one key or not, are then answered one after the other.
    order = await session.get(DemoOrder, request.order_ref.strip().upper(), with_for_update=True)
    if request.idempotency_key:
        existing = await _refund_by_key(session, request.idempotency_key)
        if existing is not None:
            return refund_record(existing)
    if order is None or order.customer_ref != request.customer_ref:
        raise BusinessSystemsError(
            f"customer {request.customer_ref} has no order {request.order_ref}"
        )
    await _check_amount(session, order, request.amount)
    row = DemoRefund(
        ref=new_ref("RF"),
        customer_ref=request.customer_ref,
        order_ref=order.ref,
        amount_minor=request.amount.minor,
        currency=request.amount.currency,
        reason=request.reason,
        status=(RefundStatus.APPROVED if request.approved else RefundStatus.REQUESTED).value,
        requested_at=now,
        decided_at=now if request.approved else None,
        # Only a decision has an author; a request for review waits for one.
        decided_by=request.decided_by if request.approved else None,
        evidence=list(request.evidence),
        idempotency_key=request.idempotency_key or None,
    )
    session.add(row)
    if request.approved:
        await _credit_store_credit(session, row, now)
    await session.flush()
    return refund_record(row)


async def _check_amount(session: AsyncSession, order: DemoOrder, amount: Money) -> None:
    if amount.currency != order.currency or amount.minor <= 0:
        raise BusinessSystemsError(
            f"a refund of order {order.ref} must be a positive amount in {order.currency}"
        )
    already = await session.scalar(
        select(func.coalesce(func.sum(DemoRefund.amount_minor), 0)).where(
            DemoRefund.order_ref == order.ref,
            DemoRefund.status.in_([s.value for s in LIVE_REFUNDS]),
        )
    )
    left = order.total_minor - int(already or 0)
    if amount.minor > left:
        raise BusinessSystemsError(
            f"order {order.ref} has {Money(left, order.currency).formatted()} left to refund"
        )


async def _credit_store_credit(session: AsyncSession, refund: DemoRefund, now: datetime) -> None:
    paid_by_credit = await session.scalar(
        select(func.count())
        .select_from(DemoPayment)
        .where(
            DemoPayment.order_ref == refund.order_ref,
            DemoPayment.method == PaymentMethod.STORE_CREDIT.value,
        )
    )
    if not paid_by_credit:
        return
    account = await session.scalar(
        select(DemoAccount)
        .where(
            DemoAccount.customer_ref == refund.customer_ref,
            DemoAccount.kind == "store_credit",
            DemoAccount.currency == refund.currency,
        )
        .order_by(DemoAccount.ref)
        .limit(1)
        .with_for_update()
    )
    if account is None:
        # Paid with store credit from an account since closed: open a new one for it.
        account = DemoAccount(
            ref=new_ref("ACC"),
            customer_ref=refund.customer_ref,
            number=f"{secrets.randbelow(10**12):012d}",
            currency=refund.currency,
            balance_minor=0,
        )
        session.add(account)
    account.balance_minor += refund.amount_minor
    session.add(
        DemoTransaction(
            ref=new_ref("TX"),
            account_ref=account.ref,
            at=now,
            kind=TransactionKind.REFUND.value,
            amount_minor=refund.amount_minor,
            description=f"Refund {refund.ref} for order {refund.order_ref}",
        )
    )
