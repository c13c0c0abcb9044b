"""A complaint's priority from what is known about the customer and the conversation, with
the one-line reason the agent reads ("negative and worsening, third contact this week, VIP").

Points, not a model: an agent (and a supervisor auditing the queue) can check every one."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.models import Priority
from bot.nlp.trend import NEGATIVE_BELOW, STRONGLY_NEGATIVE, Trend

ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)
# Words in a category name that put a complaint ahead (money or identity at risk).
SENSITIVE_CATEGORY_WORDS = ("fraud", "security", "stolen", "identity", "unauthori", "scam")
ORDINALS = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}


@dataclass(frozen=True)
class PriorityInputs:
    """What the priority is decided from."""

    trend: Trend
    category: str | None = None
    is_vip: bool = False
    # Conversations this customer started in the last 7 days, this one included.
    contacts_this_week: int = 1
    # Complaints this customer filed before this conversation (last 90 days).
    earlier_complaints: int = 0
    # What the dialogue set when the complaint was filed (from its category and words).
    dialogue_priority: Priority | None = None


@dataclass(frozen=True)
class PriorityDecision:
    """The priority and why."""

    priority: Priority
    reason: str


def decide_priority(inputs: PriorityInputs) -> PriorityDecision:
    """Add up the signs of urgency; never lower what the dialogue decided."""
    points, reasons = 0, []
    for add, reason in _signs(inputs):
        points += add
        reasons.append(reason)
    computed = _priority_for(points)
    chosen = max(computed, inputs.dialogue_priority or Priority.NORMAL, key=ORDER.index)
    if chosen != computed and inputs.dialogue_priority is not None:
        reasons.append(f"{chosen.value} from the complaint itself")
    return PriorityDecision(chosen, ", ".join(reasons) or "no signs of urgency")


def _signs(inputs: PriorityInputs) -> list[tuple[int, str]]:
    signs: list[tuple[int, str]] = []
    trend = inputs.trend
    current = trend.current
    if current is not None and current <= NEGATIVE_BELOW:
        # Strongly negative is enough on its own to be served ahead of calm customers.
        add = 3 if current <= STRONGLY_NEGATIVE else 1
        if trend.direction == "worsening":
            signs.append((add + 1, f"{trend.feeling} and worsening"))
        else:
            signs.append((add, trend.feeling))
    if inputs.contacts_this_week >= 2:
        nth = ORDINALS.get(inputs.contacts_this_week, f"{inputs.contacts_this_week}th")
        signs.append((2 if inputs.contacts_this_week >= 3 else 1, f"{nth} contact this week"))
    if inputs.earlier_complaints:
        plural = "s" if inputs.earlier_complaints > 1 else ""
        signs.append((1, f"{inputs.earlier_complaints} earlier complaint{plural}"))
    category = (inputs.category or "").lower()
    if any(word in category for word in SENSITIVE_CATEGORY_WORDS):
        signs.append((2, f"{inputs.category} category"))
    if inputs.is_vip:
        signs.append((2, "VIP"))
    return signs


def _priority_for(points: int) -> Priority:
    if points >= 5:
        return Priority.URGENT
    if points >= 3:
        return Priority.HIGH
    return Priority.NORMAL
