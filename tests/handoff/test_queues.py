"""Queues, skills and opening hours from the queues file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from handoff.queues import QueueConfigError, load_queues

SUNDAY_1AM = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
MONDAY_9AM_LONDON = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_the_shipped_file_loads_and_routes() -> None:
    queues = load_queues()
    assert queues.route(complaint_category="fraud").key == "accounts.fraud"
    assert queues.route(intent="track_shipment").key == "sales.orders"
    # A complaint category wins over the intent that escalated it.
    assert queues.route(intent="track_shipment", complaint_category="billing").key == (
        "accounts.billing"
    )
    assert queues.route(intent="request_human").key == "support.general"


def test_agents_serve_the_queues_whose_skills_they_have() -> None:
    queues = load_queues()
    assert queues.served_by([]) == ["support.general"]
    assert queues.served_by(["orders"]) == ["sales.orders", "support.general"]
    assert queues.served_by(["orders", "returns", "billing", "fraud"]) == [
        "sales.orders",
        "sales.returns",
        "accounts.billing",
        "accounts.fraud",
        "support.general",
    ]


def test_hours_in_the_queue_time_zone() -> None:
    complaints = load_queues().get("support.complaints")
    assert not complaints.is_open(SUNDAY_1AM)
    assert complaints.next_opening(SUNDAY_1AM) == datetime(
        2026, 11, 23, 8, 0, tzinfo=complaints.timezone
    )
    assert complaints.is_open(MONDAY_9AM_LONDON)
    assert complaints.next_opening(MONDAY_9AM_LONDON) == MONDAY_9AM_LONDON
    assert load_queues().get("accounts.fraud").is_open(SUNDAY_1AM)  # around the clock


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queues.yml"
    path.write_text(text)
    return path


def test_a_queue_in_another_time_zone(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "default_queue: us.help\ndepartments:\n  us:\n    name: US\n    queues:\n"
        "      help:\n        timezone: America/New_York\n"
        "        hours: {mon-fri: '09:00-17:00'}\n",
    )
    help_queue = load_queues(path).get("us.help")
    # 9:00 in London is 4:00 in New York: closed until 9:00 there.
    assert not help_queue.is_open(MONDAY_9AM_LONDON)
    assert help_queue.next_opening(MONDAY_9AM_LONDON) == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("departments: []", "expected a mapping with 'departments'"),
        (
            "default_queue: x.y\ndepartments:\n  a:\n    queues:\n      b: {hours: {mon: '9-5'}}\n",
            "departments.a.queues.b.hours.mon: '9-5' is not HH:MM-HH:MM",
        ),
        (
            "default_queue: a.b\ndepartments:\n  a:\n    queues:\n"
            "      b: {hours: {fun: '09:00-17:00'}}\n",
            "'fun' is not a day",
        ),
        (
            "default_queue: a.b\ntimezone: Mars/Olympus\n"
            "departments:\n  a:\n    queues:\n      b: {}\n",
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            "default_queue: a.c\ndepartments:\n  a:\n    queues:\n      b: {}\n",
            "default_queue 'a.c' is not one of a.b",
        ),
    ],
)
def test_mistakes_are_reported_with_where_and_what(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(QueueConfigError, match=problem.replace("(", r"\(").replace(".", r"\.")):
        load_queues(_write(tmp_path, text))
