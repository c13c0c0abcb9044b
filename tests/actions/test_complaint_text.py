"""Reading complaint details out of customers' words."""

from __future__ import annotations

import pytest

from actions.complaint_text import (
    find_order_ref,
    infer_category,
    normalise_outcome,
    priority_for,
    says_no,
    tells_a_story,
)
from bot.core.models import Priority


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want to file a complaint, my parcel arrived damaged", "damaged_item"),
        ("the glasses inside were smashed", "damaged_item"),
        ("you sent me the wrong size again", "wrong_item"),
        ("my order never arrived and it's been 3 weeks", "delivery"),
        ("someone made unauthorised payments from my wallet", "fraud"),
        ("I was overcharged £30 for shipping", "billing"),
        ("still waiting for my refund", "refund"),
        ("the blender stopped working after two days", "product_quality"),
        ("your agent was really rude to me", "service"),
        ("I've been locked out of my account", "account"),
        ("I want to make a complaint", None),
    ],
)
def test_infer_category(text: str, category: str | None) -> None:
    assert infer_category(text) == category


@pytest.mark.parametrize(
    ("text", "story"),
    [
        ("I want to file a complaint, my parcel arrived damaged", True),
        ("The courier threw my parcel over the fence and it broke", True),
        ("I want to file a complaint", False),
        ("how do I complain?", False),
        ("I'd like to make a formal complaint please", False),
    ],
)
def test_tells_a_story(text: str, story: bool) -> None:
    assert tells_a_story(text) is story


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("it's ORD-482913", "ORD-482913"),
        ("order ord482913 please", "ORD-482913"),
        ("#482913", "ORD-482913"),
        ("482913", "ORD-482913"),
        ("ORD 482913", "ORD-482913"),
        ("call me on 07700 900123 4", None),
        ("no idea", None),
        ("12345", None),
    ],
)
def test_find_order_ref(text: str, ref: str | None) -> None:
    assert find_order_ref(text) == ref


@pytest.mark.parametrize(
    ("text", "no"),
    [("no", True), ("Nope", True), ("I don't have one", True), ("n/a", True),
     ("none", True), ("not sure", True), ("ORD-482913", False), ("now please", False)],
)  # fmt: skip
def test_says_no(text: str, no: bool) -> None:
    assert says_no(text) is no


def test_outcomes_are_normalised_or_kept() -> None:
    assert normalise_outcome("I'd like my money back") == "refund"
    assert normalise_outcome("please send a replacement") == "replacement"
    assert normalise_outcome("can you fix it") == "repair"
    assert normalise_outcome("a voucher would be nice") == "a voucher would be nice"


def test_priority() -> None:
    assert priority_for("fraud", "payments I never made") is Priority.HIGH
    assert priority_for("damaged_item", "the charger caught fire") is Priority.URGENT
    assert priority_for("billing", "I will contact my lawyer") is Priority.HIGH
    assert priority_for("delivery", "parcel was late") is Priority.NORMAL
