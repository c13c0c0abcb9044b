"""The demo seed: the documented personas are always there as documented, every state of
an order and a refund appears, the data is realistic, fresh relative to `now`, and the
same seed gives the same rows."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.business.demo.backend import DemoBusinessSystems
from bot.business.demo.catalogue import CARRIERS
from bot.business.demo.seed import PERSONAS, SeedError, seed
from bot.business.demo.tables import (
    DemoAccount,
    DemoBase,
    DemoCustomer,
    DemoOrder,
    DemoPayment,
    DemoRefund,
    DemoShipment,
    DemoShipmentEvent,
    DemoTransaction,
)
from bot.business.records import (
    Money,
    OrderStatus,
    PaymentMethod,
    RefundStatus,
    ShipmentStatus,
    TransactionKind,
)
from bot.business.refund_policy import RefundPolicy
from bot.cli import business_verb
from bot.core.settings import Settings

AUTO_LIMIT = Settings.model_fields["refund_auto_max_minor"].default


async def _all(backend: DemoBusinessSystems, table: type[Any]) -> list[Any]:
    async with backend.session() as session:
        return list(await session.scalars(select(table)))


async def _dump(backend: DemoBusinessSystems) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every demo table, as plain values in key order."""
    dump = {}
    async with backend.session() as session:
        for table in DemoBase.metadata.sorted_tables:
            rows = await session.execute(select(table).order_by(*table.primary_key.columns))
            dump[table.name] = [tuple(row) for row in rows]
    return dump


async def test_the_personas_are_there_as_documented(backend: DemoBusinessSystems) -> None:
    expected = [
        ("C-10001", "Alice Morgan", "+447700900001", "alice.morgan@example.com", False),
        ("C-10002", "Bilal Khan", "+447700900002", "bilal.khan@example.com", True),
        ("C-10003", "Chloe Davies", "+447700900003", "chloe.davies@example.com", False),
        ("C-10004", "Daniel Evans", "+447700900004", "daniel.evans@example.com", False),
    ]
    assert [(p.ref, p.name, p.phone, p.email, p.vip) for p in PERSONAS] == expected
    for persona in PERSONAS:
        record = await backend.customer_by_phone(persona.phone)
        assert record is not None
        assert (record.ref, record.name, record.email, record.is_vip, record.currency) == (
            persona.ref,
            persona.name,
            persona.email,
            persona.vip,
            "GBP",
        )
        orders = await backend.orders(persona.ref, limit=50)
        assert {o.ref for o in orders} == {o.ref for o in persona.orders}


async def test_alice_has_a_recent_delivery_a_parcel_on_its_way_and_store_credit(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    delivered = await backend.order("ORD-100001")
    assert delivered is not None and delivered.customer_ref == "C-10001"
    assert delivered.status is OrderStatus.DELIVERED
    assert delivered.delivered_at == now - timedelta(days=3)
    assert 0 < delivered.total.minor <= AUTO_LIMIT
    on_its_way = await backend.order("ORD-100002")
    assert on_its_way is not None and on_its_way.status is OrderStatus.SHIPPED
    [shipment_ref] = on_its_way.shipment_refs
    shipment = await backend.shipment(shipment_ref)
    assert shipment is not None and shipment.status is ShipmentStatus.IN_TRANSIT
    assert len(shipment.events) >= 3 and shipment.events[-1].at < now
    assert shipment.estimated_delivery is not None and shipment.estimated_delivery > now
    [account] = await backend.accounts("C-10001")
    assert account.balance.minor > 0
    transactions = await backend.transactions(account.ref, limit=50)
    assert len(transactions) >= 5
    assert sum(t.amount.minor for t in transactions) == account.balance.minor
    methods = {payment.method for payment in await backend.payments("C-10001")}
    assert methods == {PaymentMethod.CARD, PaymentMethod.PAYPAL, PaymentMethod.STORE_CREDIT}


async def test_the_personas_meet_the_refund_policy_as_the_readme_says(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    policy = RefundPolicy.from_settings(Settings())
    cases = {"C-10001": "ORD-100001", "C-10002": "ORD-100003", "C-10003": "ORD-100004"}
    rules = {}
    for customer_ref, order_ref in cases.items():
        order = await backend.order(order_ref)
        assert order is not None and order.customer_ref == customer_ref
        decision = policy.decide(
            order=order,
            amount=order.total,
            reason="It arrived broken",
            recent_refunds=await backend.refunds(customer_ref),
            now=now,
        )
        rules[customer_ref] = decision.rule
    assert rules == {
        "C-10001": "within_policy",
        "C-10002": "amount_over_limit",
        "C-10003": "too_many_recent_refunds",
    }
    bilal = await backend.order("ORD-100003")
    assert bilal is not None and bilal.total == Money(64900, "GBP")
    chloe = await backend.refunds("C-10003")
    assert len([r for r in chloe if r.requested_at >= now - timedelta(days=90)]) == 2


async def test_daniels_parcel_is_held_by_the_carrier(backend: DemoBusinessSystems) -> None:
    shipment = await backend.shipment("SHP-100008")
    assert shipment is not None and shipment.status is ShipmentStatus.EXCEPTION
    assert shipment.last_event is not None
    assert shipment.last_event.description == "Delayed: address query"


async def test_every_state_is_present_even_in_a_small_seed(backend: DemoBusinessSystems) -> None:
    orders = await _all(backend, DemoOrder)
    assert {order.status for order in orders} == {status.value for status in OrderStatus}
    refunds = await _all(backend, DemoRefund)
    assert {refund.status for refund in refunds} == {status.value for status in RefundStatus}
    shipments = await _all(backend, DemoShipment)
    # An exception and a delivery at least; the rest depends on the draw.
    assert {ShipmentStatus.EXCEPTION.value, ShipmentStatus.DELIVERED.value} <= {
        shipment.status for shipment in shipments
    }


async def test_a_full_seed_is_realistic(tmp_path: Path, now: datetime) -> None:
    backend = DemoBusinessSystems(f"sqlite+aiosqlite:///{tmp_path / 'full.db'}")
    try:
        summary = await seed(backend, now=now)
        customers = await _all(backend, DemoCustomer)
        assert summary.customers == len(customers) == 300 + len(PERSONAS)
        assert 0.02 < sum(c.vip for c in customers) / len(customers) < 0.09
        assert len({c.preferred_channel for c in customers}) == 4
        assert Counter(c.currency for c in customers).most_common(1)[0][0] == "GBP"
        phones = [c.phone for c in customers if c.phone]
        assert all(re.fullmatch(r"\+4477009\d{5}", phone) for phone in phones)
        assert len(set(phones)) == len(phones)
        emails = [c.email for c in customers]
        assert len(set(emails)) == len(emails)
        assert all(e and re.fullmatch(r"[a-z0-9.]+@example\.(com|org|net)", e) for e in emails)
        shipments = await _all(backend, DemoShipment)
        assert {s.carrier for s in shipments} == set(CARRIERS)
        assert {s.status for s in shipments} == {status.value for status in ShipmentStatus}
        methods = {p.method for p in await _all(backend, DemoPayment)}
        assert methods == {method.value for method in PaymentMethod}
        assert sum(summary.orders.values()) == len(await _all(backend, DemoOrder))
        assert all(count > 0 for count in summary.orders.values())
    finally:
        await backend.aclose()


async def test_everything_happened_before_now_and_adds_up(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    for event in await _all(backend, DemoShipmentEvent):
        assert event.at < now
    for order in await _all(backend, DemoOrder):
        assert order.placed_at < now
        assert order.total_minor == sum(x.quantity * x.unit_price_minor for x in order.lines)
        if order.status in (OrderStatus.DELIVERED, OrderStatus.RETURNED):
            assert order.delivered_at is not None and order.placed_at < order.delivered_at < now
        else:
            assert order.delivered_at is None
    for refund in await _all(backend, DemoRefund):
        assert refund.requested_at < now
        assert (refund.paid_at is not None) is (refund.status == RefundStatus.PAID)
        assert (refund.decided_at is None) is (refund.status == RefundStatus.REQUESTED)
    transactions = await _all(backend, DemoTransaction)
    for account in await _all(backend, DemoAccount):
        own = sorted((t for t in transactions if t.account_ref == account.ref), key=lambda t: t.at)
        assert account.balance_minor == sum(t.amount_minor for t in own)
        running = 0
        for transaction in own:
            running += transaction.amount_minor
            assert running >= 0, f"{account.ref} went below zero"
    purchases = {t.description for t in transactions if t.kind == TransactionKind.PURCHASE}
    for payment in await _all(backend, DemoPayment):
        if payment.method == PaymentMethod.STORE_CREDIT:
            assert f"Order {payment.order_ref}" in purchases
        assert (payment.card_last4 is not None) is (payment.method == PaymentMethod.CARD)


async def test_the_same_seed_gives_the_same_rows(tmp_path: Path, now: datetime) -> None:
    dumps = []
    for name, random_seed in (("a", 3), ("b", 3), ("c", 4)):
        backend = DemoBusinessSystems(f"sqlite+aiosqlite:///{tmp_path / name}.db")
        try:
            await seed(backend, customers=25, random_seed=random_seed, now=now)
            dumps.append(await _dump(backend))
        finally:
            await backend.aclose()
    assert dumps[0] == dumps[1]
    assert dumps[0] != dumps[2]
    # Another seed draws other customers, but the personas stay the same.
    personas = {p.ref for p in PERSONAS}
    assert [r for r in dumps[0]["demo_customers"] if r[0] in personas] == [
        r for r in dumps[2]["demo_customers"] if r[0] in personas
    ]


async def test_seeding_twice_is_refused_until_reset(
    backend: DemoBusinessSystems, now: datetime
) -> None:
    with pytest.raises(SeedError, match="already holds data"):
        await seed(backend, customers=1, now=now)
    await backend.drop_tables()
    summary = await seed(backend, customers=1, now=now)
    assert summary.customers == 1 + len(PERSONAS)
    assert any("C-10001 Alice Morgan" in line for line in summary.lines())


async def test_the_business_command_seeds_resets_and_pays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    settings = Settings(business_demo_database_url=url)
    seed_args = argparse.Namespace(business_command="seed", customers=5, random_seed=7, reset=False)
    assert await business_verb(settings, seed_args) == 0
    assert "customers: 9" in capsys.readouterr().out
    assert await business_verb(settings, seed_args) == 1
    assert "--reset" in capsys.readouterr().err
    seed_args.reset = True
    assert await business_verb(settings, seed_args) == 0
    pay_args = argparse.Namespace(business_command="pay-refunds")
    assert await business_verb(settings, pay_args) == 0
    assert "refund(s) paid" in capsys.readouterr().out
    assert await business_verb(settings, pay_args) == 0
    assert capsys.readouterr().out == "0 refund(s) paid\n"
