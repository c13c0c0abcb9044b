"""Customers asking where a refund is are told where their refunds stand, not asked for a
new one; each refund in one line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rasa_sdk import Tracker

from actions.self_service.refunds import asks_refund_status, refund_line
from bot.business.records import Money, Refund, RefundStatus


def _tracker(text: str) -> Tracker:
    return Tracker("s", {}, {"text": text}, [], False, None, {}, "action_listen")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("where's my refund?", True),
        ("has my refund been paid yet", True),
        ("refund status please", True),
        ("did my refund go through", True),
        ("my refund still hasn't arrived", True),
        ("I want a refund", False),
        ("I need a refund for ORD-100001, it came broken", False),
        ("can I get my money back", False),
    ],
)
def test_a_question_about_refunds_is_told_from_a_request(text: str, status: bool) -> None:
    assert asks_refund_status(_tracker(text)) is status


def test_each_refund_in_one_line() -> None:
    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    refund = Refund(
        ref="RF-1",
        customer_ref="C-1",
        order_ref="ORD-100001",
        amount=Money(3250, "GBP"),
        reason="cracked",
        status=RefundStatus.PAID,
        requested_at=at,
        decided_at=at,
        paid_at=datetime(2026, 11, 4, tzinfo=UTC),
    )
    assert refund_line(refund) == "RF-1 for ORD-100001, £32.50: paid on 04 Nov"
    waiting = Refund("RF-2", "C-1", "ORD-2", Money(100, "GBP"), "x", RefundStatus.REQUESTED, at)
    assert (
        refund_line(waiting) == "RF-2 for ORD-2, £1.00: waiting for our team to decide since 02 Nov"
    )
