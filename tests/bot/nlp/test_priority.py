"""A complaint's priority and the reason the agent reads."""

from __future__ import annotations

from bot.core.models import Priority
from bot.nlp.priority import PriorityInputs, decide_priority
from bot.nlp.trend import trend_of

WORSENING = trend_of([-0.2, -0.55, -0.83])
CALM = trend_of([0.1, 0.2])


def test_negative_and_worsening_third_contact_vip_is_urgent_and_says_why() -> None:
    decision = decide_priority(
        PriorityInputs(WORSENING, category="delivery", is_vip=True, contacts_this_week=3)
    )
    assert decision.priority is Priority.URGENT
    assert decision.reason == "strongly negative and worsening, third contact this week, VIP"


def test_a_calm_first_contact_stays_normal() -> None:
    decision = decide_priority(PriorityInputs(CALM, category="delivery"))
    assert decision == decide_priority(PriorityInputs(CALM))
    assert decision.priority is Priority.NORMAL
    assert decision.reason == "no signs of urgency"


def test_fraud_and_repeat_contacts_raise_it() -> None:
    decision = decide_priority(
        PriorityInputs(CALM, category="fraud", earlier_complaints=2, contacts_this_week=2)
    )
    assert decision.priority is Priority.HIGH
    assert decision.reason == "second contact this week, 2 earlier complaints, fraud category"


def test_never_lower_than_what_the_dialogue_decided() -> None:
    decision = decide_priority(PriorityInputs(CALM, dialogue_priority=Priority.HIGH))
    assert decision.priority is Priority.HIGH
    assert decision.reason == "high from the complaint itself"


def test_negative_alone_is_not_enough_for_high() -> None:
    decision = decide_priority(PriorityInputs(trend_of([-0.3, -0.35])))
    assert decision.priority is Priority.NORMAL
    assert decision.reason == "negative"


def test_strongly_negative_alone_is_high() -> None:
    decision = decide_priority(PriorityInputs(trend_of([-0.9, -0.7, -0.95])))
    assert decision.priority is Priority.HIGH
    assert decision.reason == "strongly negative"
