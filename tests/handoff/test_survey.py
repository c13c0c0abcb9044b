"""The satisfaction survey's questions and what counts as a rating."""

from __future__ import annotations

import pytest

from bot.core.texts import say
from handoff.survey import STATEMENTS, parse_score, question


def test_questions_are_numbered_and_the_first_explains_the_scale() -> None:
    assert question(0).startswith("Before you go, three quick statements.")
    assert question(0).endswith(f"1/3: {say(STATEMENTS[0])}")
    assert question(2) == f"3/3: {say(STATEMENTS[2])}"


@pytest.mark.parametrize(("text", "score"), [("4", 4), (" 5 ", 5), ("1.", 1), ("3!", 3)])
def test_ratings(text: str, score: int) -> None:
    assert parse_score(text) == score


@pytest.mark.parametrize("text", ["0", "6", "four", "4 stars", "", "45"])
def test_anything_else_is_not_a_rating(text: str) -> None:
    assert parse_score(text) is None
