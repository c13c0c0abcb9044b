"""What the public queues endpoint says about a queue."""

from __future__ import annotations

from datetime import UTC, datetime

from handoff.queue_routes import queue_state
from handoff.queues import load_queues

SUNDAY_1AM = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


def test_a_closed_queue_says_when_it_opens() -> None:
    state = queue_state(load_queues().get("sales.orders"), SUNDAY_1AM)
    assert state == {
        "key": "sales.orders",
        "department": "Sales",
        "name": "Orders and delivery",
        "open_now": False,
        "opens_at": "2026-11-23T08:00:00+00:00",
        "timezone": "Europe/London",
        "hours": {
            "mon": ["08:00-20:00"],
            "tue": ["08:00-20:00"],
            "wed": ["08:00-20:00"],
            "thu": ["08:00-20:00"],
            "fri": ["08:00-20:00"],
            "sat": ["09:00-17:00"],
        },
    }


def test_an_open_queue() -> None:
    state = queue_state(load_queues().get("accounts.fraud"), SUNDAY_1AM)
    assert state["open_now"] is True
    assert state["opens_at"] == SUNDAY_1AM.isoformat()
