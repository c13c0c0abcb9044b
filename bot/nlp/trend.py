"""Where a conversation's sentiment is heading: the last few customer scores, whether they
are getting better or worse, and a phrase the agent reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Literal

Direction = Literal["worsening", "improving", "steady", "unknown"]
WINDOW = 5
# A change of the mean score by this much between the older and newer half is a trend.
CHANGE = 0.15
NEGATIVE_BELOW = -0.25
POSITIVE_ABOVE = 0.25
STRONGLY_NEGATIVE = -0.5


@dataclass(frozen=True)
class Trend:
    """The last few scores (oldest first), their direction and where they stand now."""

    direction: Direction
    recent: tuple[float, ...]

    @property
    def current(self) -> float | None:
        """Where the customer stands now: the newest scores (up to three), the newest
        weighing most (3:2:1), so that a furious last message is not averaged away by the
        calm questions before it; None with no scores."""
        if not self.recent:
            return None
        newest = self.recent[-3:]
        return fmean(newest, weights=range(1, len(newest) + 1))

    @property
    def feeling(self) -> str:
        """negative / positive / mixed, by the newest scores."""
        current = self.current
        if current is None:
            return "unknown"
        if current <= NEGATIVE_BELOW:
            return "strongly negative" if current <= STRONGLY_NEGATIVE else "negative"
        return "positive" if current >= POSITIVE_ABOVE else "neutral"

    def describe(self) -> str:
        """ "negative and worsening (-0.21, -0.55, -0.83)"."""
        if not self.recent:
            return "no customer messages scored yet"
        scores = ", ".join(f"{s:+.2f}" for s in self.recent)
        if self.direction in ("unknown", "steady"):
            return f"{self.feeling} ({scores})"
        return f"{self.feeling} and {self.direction} ({scores})"


def trend_of(scores: Sequence[float], *, window: int = WINDOW) -> Trend:
    """The trend of a conversation's customer scores, oldest first."""
    recent = tuple(round(float(s), 2) for s in scores[-window:])
    if len(recent) < 2:
        return Trend("unknown", recent)
    half = len(recent) // 2
    older, newer = fmean(recent[:half]), fmean(recent[half:])
    if newer - older <= -CHANGE:
        return Trend("worsening", recent)
    if newer - older >= CHANGE:
        return Trend("improving", recent)
    return Trend("steady", recent)
