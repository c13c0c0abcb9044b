"""The refund policy: each rule refuses what it should, in a fixed order, with a stable
name; everything within all of them is approved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.business.records import Money, Order, OrderStatus, Refund, RefundStatus
from bot.business.refund_policy import RULES, RefundPolicy
from bot.core.settings import Settings

NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
POLICY = RefundPolicy(
    auto_max_minor=10_000,
    max_days_since_delivery=30,
    max_in_90_days=2,
    review_reasons=("fraud", "stolen", "chargeback", "not received"),
)
ORDER = Order(
    ref="ORD-100001",
    customer_ref="C-10001",
    status=OrderStatus.DELIVERED,
    placed_at=NOW - timedelta(days=6),
    total=Money(3250, "GBP"),
    delivered_at=NOW - timedelta(days=3),
)


def _refund(order_ref: str, days_ago: float, status: RefundStatus = RefundStatus.PAID) -> Refund:
    return Refund(
        ref=f"RF-{order_ref[-6:]}{int(days_ago):02d}",
        customer_ref="C-10001",
        order_ref=order_ref,
        amount=Money(1000, "GBP"),
        reason="damaged",
        status=status,
        requested_at=NOW - timedelta(days=days_ago),
    )


def _decide(
    *,
    order: Order = ORDER,
    amount: Money | None = None,
    reason: str = "The box arrived crushed and the mug is cracked",
    refunds: tuple[Refund, ...] = (),
    policy: RefundPolicy = POLICY,
) -> tuple[bool, str]:
    decision = policy.decide(
        order=order,
        amount=amount or order.total,
        reason=reason,
        recent_refunds=refunds,
        now=NOW,
    )
    assert decision.explanation
    return decision.approved, decision.rule


def test_within_every_limit_it_is_approved() -> None:
    decision = POLICY.decide(
        order=ORDER, amount=ORDER.total, reason="cracked", recent_refunds=(), now=NOW
    )
    assert (decision.approved, decision.rule) == (True, "within_policy")
    assert decision.decided_by == "policy:within_policy"
    assert "£32.50" in decision.explanation


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.DELIVERED])
def test_an_order_not_delivered_needs_a_person(status: OrderStatus) -> None:
    order = replace(ORDER, status=status, delivered_at=None)
    assert _decide(order=order) == (False, "order_not_delivered")


def test_a_delivered_order_without_a_delivery_date_needs_a_person() -> None:
    assert _decide(order=replace(ORDER, delivered_at=None)) == (False, "order_not_delivered")


def test_an_order_already_refunded_needs_a_person() -> None:
    assert _decide(refunds=(_refund("ORD-100001", 1),)) == (False, "already_refunded")
    # A refused refund gave nothing back: it does not count.
    rejected = _refund("ORD-100001", 1, RefundStatus.REJECTED)
    assert _decide(refunds=(rejected,)) == (True, "within_policy")


@pytest.mark.parametrize("amount", [Money(0, "GBP"), Money(-100, "GBP"), Money(1000, "EUR")])
def test_an_amount_that_is_not_positive_or_in_another_currency_is_refused(
    amount: Money,
) -> None:
    assert _decide(amount=amount) == (False, "amount_invalid")


def test_the_amount_may_not_exceed_the_order_total() -> None:
    assert _decide(amount=Money(3251, "GBP")) == (False, "amount_over_order_total")
    assert _decide(amount=Money(3250, "GBP")) == (True, "within_policy")
    assert _decide(amount=Money(1, "GBP")) == (True, "within_policy")


def test_an_amount_over_the_limit_needs_a_person() -> None:
    expensive = replace(ORDER, total=Money(64900, "GBP"))
    assert _decide(order=expensive) == (False, "amount_over_limit")
    assert _decide(order=expensive, amount=Money(10_000, "GBP")) == (True, "within_policy")
    assert _decide(order=expensive, amount=Money(10_001, "GBP")) == (False, "amount_over_limit")


def test_too_long_since_delivery_needs_a_person() -> None:
    on_the_day = replace(ORDER, delivered_at=NOW - timedelta(days=30))
    assert _decide(order=on_the_day) == (True, "within_policy")
    late = replace(ORDER, delivered_at=NOW - timedelta(days=30, minutes=1))
    assert _decide(order=late) == (False, "too_long_since_delivery")


@pytest.mark.parametrize(
    "reason",
    [
        "I think this is FRAUD",
        "my parcel was stolen from the porch!",
        "Filed a chargeback with my bank",
        "Parcel NOT   received at all",
    ],
)
def test_reasons_in_the_customers_own_words_can_need_a_person(reason: str) -> None:
    assert _decide(reason=reason) == (False, "reason_needs_review")


@pytest.mark.parametrize(
    "reason", ["fraudulent-looking box? no, just damaged", "unstolenable", "it was received broken"]
)
def test_review_words_match_whole_words_only(reason: str) -> None:
    assert _decide(reason=reason) == (True, "within_policy")


def test_the_explanation_names_the_words_once() -> None:
    decision = POLICY.decide(
        order=ORDER, amount=ORDER.total, reason="Stolen? stolen!", recent_refunds=(), now=NOW
    )
    assert decision.explanation == 'The reason mentions "stolen". A person decides.'


def test_too_many_recent_refunds_need_a_person() -> None:
    two = (_refund("ORD-200001", 10), _refund("ORD-200002", 80))
    assert _decide(refunds=two) == (False, "too_many_recent_refunds")
    # Older than 90 days, or rejected: they do not count.
    old = (_refund("ORD-200001", 10), _refund("ORD-200002", 91))
    assert _decide(refunds=old) == (True, "within_policy")
    refused = (_refund("ORD-200001", 10), _refund("ORD-200002", 5, RefundStatus.REJECTED))
    assert _decide(refunds=refused) == (True, "within_policy")


def test_rules_are_checked_in_their_order() -> None:
    everything_wrong = replace(
        ORDER, status=OrderStatus.SHIPPED, delivered_at=None, total=Money(64900, "GBP")
    )
    assert _decide(order=everything_wrong, reason="fraud") == (False, "order_not_delivered")
    expensive_and_old = replace(
        ORDER, total=Money(64900, "GBP"), delivered_at=NOW - timedelta(days=90)
    )
    assert _decide(order=expensive_and_old, reason="fraud") == (False, "amount_over_limit")
    old = replace(ORDER, delivered_at=NOW - timedelta(days=90))
    assert _decide(order=old, reason="fraud") == (False, "too_long_since_delivery")
    many = (_refund("ORD-200001", 10), _refund("ORD-200002", 20))
    assert _decide(reason="fraud", refunds=many) == (False, "reason_needs_review")
    assert RULES[-1] == "within_policy"
    assert len(set(RULES)) == len(RULES)


def test_the_policy_comes_from_settings() -> None:
    settings = Settings(
        refund_auto_max_minor=500,
        refund_max_days_since_delivery=2,
        refund_max_in_90_days=0,
        refund_review_reasons=["broken"],
    )
    policy = RefundPolicy.from_settings(settings)
    assert policy == RefundPolicy(500, 2, 0, ("broken",))
    assert _decide(policy=policy, amount=Money(400, "GBP"), reason="x") == (
        False,
        "too_long_since_delivery",
    )
    recent = replace(ORDER, delivered_at=NOW - timedelta(days=1))
    assert _decide(policy=policy, order=recent, amount=Money(400, "GBP"), reason="it's Broken") == (
        False,
        "reason_needs_review",
    )
    # None allowed in 90 days: even a first refund goes to a person.
    assert _decide(policy=policy, order=recent, amount=Money(400, "GBP"), reason="x") == (
        False,
        "too_many_recent_refunds",
    )


def test_no_review_words_means_no_reason_rule() -> None:
    policy = replace(POLICY, review_reasons=("", "  "))
    assert _decide(policy=policy, reason="fraud") == (True, "within_policy")
