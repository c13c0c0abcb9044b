"""Public handoff endpoints: which queues are open now, and when each opens next."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from bot.core.models import utcnow
from handoff.deps import QueuesDep
from handoff.queues import DAYS, Queue

router = APIRouter(prefix="/handoff", tags=["handoff"])


def describe_hours(queue: Queue) -> dict[str, list[str]]:
    """A queue's hours as `{"mon": ["08:00-20:00"], ...}` (closed days left out)."""
    return {
        DAYS[day]: [f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in ranges]
        for day, ranges in sorted(queue.hours.items())
    }


def queue_state(queue: Queue, now: datetime) -> dict[str, Any]:
    """Whether a queue is open at `now`, when it opens next, and its hours."""
    opening = queue.next_opening(now)
    return {
        "key": queue.key,
        "department": queue.department,
        "name": queue.name,
        "open_now": queue.is_open(now),
        "opens_at": opening.isoformat() if opening is not None else None,
        "timezone": str(queue.timezone),
        "hours": describe_hours(queue),
    }


@router.get("/queues")
async def queues(directory: QueuesDep) -> dict[str, Any]:
    """Every queue: open now or not, the next opening, and the weekly hours."""
    now = utcnow()
    return {"at": now.isoformat(), "queues": [queue_state(q, now) for q in directory.queues]}
