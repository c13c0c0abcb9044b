"""The demo backend answers every question of the `BusinessSystems` protocol from its own
tables, and records refunds once per idempotency key."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.business.demo.backend import DemoBusinessSystems
from bot.business.demo.tables import DemoCustomer, DemoRefund, DemoTransaction
from bot.business.protocol import BusinessSystems, BusinessSystemsError
from bot.business.records import (
    Money,
    OrderStatus,
    PreferredChannel,
    RefundRequest,
    RefundStatus,
    ShipmentStatus,
    TransactionKind,
)


def _request(**changes: object) -> RefundRequest:
    fields: dict[str, object] = {
        "customer_ref": "C-10001",
        "order_ref": "ORD-100001",
        "amount": Money(3250, "GBP"),
        "reason": "The dripper arrived cracked",
        "approved": True,
        "decided_by": "policy:within_policy",
        "evidence": ("evidence/abc.jpg",),
        "idempotency_key": "conv-1:ORD-100001",
    }
    fields.update(changes)
    return RefundRequest(**fields)  # type: ignore[arg-type]


def test_it_is_a_business_systems_backend(tmp_path: Path) -> None:
    backend: BusinessSystems = DemoBusinessSystems(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert hasattr(backend, "request_refund")


async def test_tables_are_created_on_first_use(tmp_path: Path) -> None:
    backend = DemoBusinessSystems(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert await backend.is_empty()
        assert await backend.customer("C-10001") is None
        await backend.create_tables()  # again: nothing changes
        assert await backend.is_empty()
    finally:
        await backend.aclose()


async def test_customers_are_found_by_ref_phone_and_email(backend: DemoBusinessSystems) -> None:
    alice = await backend.customer("C-10001")
    assert alice is not None
    assert (alice.name, alice.first_name, alice.email, alice.phone) == (
        "Alice Morgan",
        "Alice",
        "alice.morgan@example.com",
        "+447700900001",
    )
    assert alice.preferred_channel is PreferredChannel.SMS
    assert await backend.customer_by_phone("+447700900001") == alice
    assert await backend.customer_by_email(" Alice.Morgan@EXAMPLE.com ") == alice
    assert await backend.customer("C-99999") is None
    assert await backend.customer_by_phone("+447700900999") is None
    assert await backend.customer_by_email("nobody@example.com") is None


async def test_a_phone_on_two_records_belongs_to_neither(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    async with backend.session() as session:
        session.add(
            DemoCustomer(
                ref="C-19999",
                name="Adam Morgan",
                email="adam.morgan@example.com",
                phone="+447700900001",
                created_at=now,
            )
        )
    assert await backend.customer_by_phone("+447700900001") is None
    assert await backend.customer_by_email("alice.morgan@example.com") is not None


async def test_orders_come_newest_first_with_lines_and_shipments(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    orders = await backend.orders("C-10001")
    assert [o.ref for o in orders] == ["ORD-100002", "ORD-100001", "ORD-100005"]
    assert [o.ref for o in await backend.orders("C-10001", limit=1)] == ["ORD-100002"]
    delivered = orders[1]
    assert delivered.status is OrderStatus.DELIVERED
    assert delivered.total == Money(3250, "GBP")
    assert sum(line.unit_price.minor * line.quantity for line in delivered.lines) == 3250
    assert delivered.delivered_at == now - timedelta(days=3)
    assert delivered.shipment_refs == ("SHP-100001",)
    assert await backend.order("ord-100001") == delivered
    assert await backend.order("ORD-999999") is None
    assert await backend.orders("C-99999") == []


async def test_a_shipment_has_its_carrier_events_oldest_first(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    shipment = await backend.shipment("SHP-100002")
    assert shipment is not None
    assert (shipment.carrier, shipment.order_ref, shipment.status) == (
        "DPD",
        "ORD-100002",
        ShipmentStatus.IN_TRANSIT,
    )
    times = [event.at for event in shipment.events]
    assert len(times) >= 3
    assert times == sorted(times)
    assert times[-1] < now
    assert shipment.last_event == shipment.events[-1]
    assert shipment.estimated_delivery is not None and shipment.estimated_delivery > now
    assert await backend.shipment("SHP-000000") is None


async def test_accounts_and_transactions(backend: DemoBusinessSystems) -> None:
    [account] = await backend.accounts("C-10001")
    assert (account.ref, account.number, account.balance) == (
        "ACC-100001",
        "633800100001",
        Money(6000, "GBP"),
    )
    transactions = await backend.transactions("ACC-100001", limit=50)
    assert len(transactions) == 5
    assert sum(t.amount.minor for t in transactions) == account.balance.minor
    assert [t.at for t in transactions] == sorted((t.at for t in transactions), reverse=True)
    assert len(await backend.transactions("ACC-100001", limit=2)) == 2
    assert await backend.accounts("C-10002") == []


async def test_payments_newest_first_and_by_ref(backend: DemoBusinessSystems) -> None:
    payments = await backend.payments("C-10001")
    assert [p.ref for p in payments] == ["PAY-100002", "PAY-100001", "PAY-100005"]
    payment = await backend.payment("PAY-100001")
    assert payment is not None
    assert (payment.card_last4, payment.amount, payment.order_ref) == (
        "4242",
        Money(3250, "GBP"),
        "ORD-100001",
    )
    assert await backend.payment("PAY-000000") is None


async def test_an_approved_refund_is_recorded_once_per_key(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    first = await backend.request_refund(_request())
    again = await backend.request_refund(_request())
    assert again == first
    assert first.status is RefundStatus.APPROVED
    assert first.ref.startswith("RF-")
    assert (first.decided_at, first.decided_by) == (now, "policy:within_policy")
    assert first.evidence == ("evidence/abc.jpg",)
    assert (await backend.refunds("C-10001"))[0] == first
    # Paid by card: nothing moves on the store-credit account until the payment run.
    [account] = await backend.accounts("C-10001")
    assert account.balance == Money(6000, "GBP")


async def test_the_same_key_at_the_same_moment_records_one_refund(
    backend: DemoBusinessSystems,
) -> None:
    refunds = await asyncio.gather(*(backend.request_refund(_request()) for _ in range(5)))
    assert len({refund.ref for refund in refunds}) == 1
    async with backend.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(DemoRefund).where(DemoRefund.order_ref == "ORD-100001")
        )
    assert count == 1


async def test_a_refund_of_a_store_credit_order_goes_back_on_the_account(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    refund = await backend.request_refund(
        _request(order_ref="ORD-100005", amount=Money(2250, "GBP"), idempotency_key="k-5")
    )
    [account] = await backend.accounts("C-10001")
    assert account.balance == Money(6000 + 2250, "GBP")
    latest = (await backend.transactions(account.ref))[0]
    assert (latest.kind, latest.amount, latest.at) == (
        TransactionKind.REFUND,
        Money(2250, "GBP"),
        now,
    )
    assert refund.ref in latest.description


async def test_a_refund_for_a_person_waits_then_is_decided(backend: DemoBusinessSystems) -> None:
    waiting = await backend.request_refund(
        _request(approved=False, decided_by="policy:amount_over_limit")
    )
    assert waiting.status is RefundStatus.REQUESTED
    assert (waiting.decided_at, waiting.decided_by) == (None, None)
    approved = await backend.decide_refund(
        waiting.ref, approved=True, decided_by="agent:sam@example.com"
    )
    assert approved.status is RefundStatus.APPROVED
    assert approved.decided_by == "agent:sam@example.com"
    # A retried click changes nothing; the opposite decision is refused.
    again = await backend.decide_refund(waiting.ref, approved=True, decided_by="agent:x")
    assert again == approved
    with pytest.raises(BusinessSystemsError, match="already decided"):
        await backend.decide_refund(waiting.ref, approved=False, decided_by="agent:x")


async def test_a_refund_can_be_rejected(backend: DemoBusinessSystems) -> None:
    waiting = await backend.request_refund(_request(approved=False))
    rejected = await backend.decide_refund(waiting.ref, approved=False, decided_by="agent:x")
    assert rejected.status is RefundStatus.REJECTED
    with pytest.raises(BusinessSystemsError, match="no refund"):
        await backend.decide_refund("RF-00000000", approved=True, decided_by="agent:x")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"customer_ref": "C-10002"}, "has no order"),  # Alice's order, Bilal asking
        ({"order_ref": "ORD-999999"}, "has no order"),
        ({"amount": Money(3251, "GBP")}, "left to refund"),
        ({"amount": Money(100, "EUR")}, "positive amount in GBP"),
        ({"amount": Money(0, "GBP")}, "positive amount in GBP"),
        (
            {"customer_ref": "C-10003", "order_ref": "ORD-100007", "amount": Money(1, "GBP")},
            "£0.00 left to refund",
        ),
    ],
)
async def test_impossible_refunds_are_refused(
    backend: DemoBusinessSystems, changes: dict[str, object], error: str
) -> None:
    with pytest.raises(BusinessSystemsError, match=error):
        await backend.request_refund(_request(**changes))


async def test_the_payment_run_pays_approved_refunds(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    approved = await backend.request_refund(_request())
    waiting = await backend.request_refund(
        _request(
            order_ref="ORD-100005", amount=Money(100, "GBP"), approved=False, idempotency_key=""
        )
    )
    paid = await backend.pay_due_refunds(now + timedelta(hours=1))
    assert approved.ref in {refund.ref for refund in paid}
    assert waiting.ref not in {refund.ref for refund in paid}
    mine = next(refund for refund in paid if refund.ref == approved.ref)
    assert (mine.status, mine.paid_at) == (RefundStatus.PAID, now + timedelta(hours=1))
    assert await backend.pay_due_refunds() == []


async def test_refunds_without_a_key_are_each_recorded(backend: DemoBusinessSystems) -> None:
    one = await backend.request_refund(_request(amount=Money(100, "GBP"), idempotency_key=""))
    two = await backend.request_refund(_request(amount=Money(100, "GBP"), idempotency_key=""))
    assert one.ref != two.ref
    async with backend.session() as session:
        keys = await session.scalars(
            select(DemoRefund.idempotency_key).where(DemoRefund.ref.in_([one.ref, two.ref]))
        )
        assert list(keys) == [None, None]
        transactions = await session.scalar(select(func.count()).select_from(DemoTransaction))
    assert transactions  # untouched by card refunds, still there
