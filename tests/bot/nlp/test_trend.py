"""The sentiment trend of a conversation and how it reads to an agent."""

from __future__ import annotations

from bot.nlp.trend import trend_of


def test_a_customer_getting_angrier_is_worsening() -> None:
    trend = trend_of([0.1, -0.2, -0.55, -0.83])
    assert trend.direction == "worsening"
    assert trend.describe() == "strongly negative and worsening (+0.10, -0.20, -0.55, -0.83)"


def test_a_customer_calming_down_is_improving() -> None:
    trend = trend_of([-0.9, -0.7, 0.1, 0.6])
    assert trend.direction == "improving"
    assert trend.feeling == "neutral"  # the newest three, newest weighing most: +0.22


def test_a_furious_last_message_is_not_averaged_away_by_calm_questions() -> None:
    trend = trend_of([-0.4, -0.12, -0.01, -1.0])
    assert trend.feeling == "strongly negative"
    assert trend.current is not None and -0.53 < trend.current < -0.52


def test_only_the_last_five_scores_count() -> None:
    trend = trend_of([-1.0, -1.0, -1.0, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert trend.recent == (0.5, 0.5, 0.5, 0.5, 0.5)
    assert trend.direction == "steady"
    assert trend.describe().startswith("positive (")


def test_one_score_has_no_direction_and_none_has_no_feeling() -> None:
    assert trend_of([-0.4]).direction == "unknown"
    assert trend_of([-0.4]).describe() == "negative (-0.40)"
    assert trend_of([]).current is None
    assert trend_of([]).describe() == "no customer messages scored yet"
