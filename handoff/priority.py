"""Where a handoff stands in its queue: brought forward from its arrival by its priority.

Bounded bonuses, so waiting longer always wins in the end: VIPs first, then urgent
complaints and unhappy customers, then waiting time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.core.models import Priority

VIP_BONUS = timedelta(minutes=30)
COMPLAINT_BONUS = {
    Priority.URGENT: timedelta(minutes=20),
    Priority.HIGH: timedelta(minutes=10),
    Priority.NORMAL: timedelta(0),
    Priority.LOW: timedelta(minutes=-5),
}
# A sentiment score of -1 (very unhappy) brings a handoff this much forward.
SENTIMENT_BONUS = timedelta(minutes=15)


def priority_bonus(
    *, is_vip: bool, complaint_priority: Priority | None, sentiment_score: float | None
) -> timedelta:
    """How much earlier than its arrival a handoff is served."""
    bonus = VIP_BONUS if is_vip else timedelta(0)
    if complaint_priority is not None:
        bonus += COMPLAINT_BONUS[complaint_priority]
    if sentiment_score is not None and sentiment_score < 0:
        bonus += SENTIMENT_BONUS * min(1.0, -sentiment_score)
    return bonus


def priority_at(
    enqueued_at: datetime,
    *,
    is_vip: bool,
    complaint_priority: Priority | None,
    sentiment_score: float | None,
) -> datetime:
    """When a handoff that arrived at `enqueued_at` is due in its queue's order."""
    return enqueued_at - priority_bonus(
        is_vip=is_vip, complaint_priority=complaint_priority, sentiment_score=sentiment_score
    )
