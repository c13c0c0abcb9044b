"""What the NLP models return: plain frozen records, the same whichever backend made them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SentimentLabel = Literal["negative", "neutral", "positive"]


@dataclass(frozen=True)
class Sentiment:
    """How a message feels: a label and a signed score, -1 (very negative) to 1 (very
    positive); `confidence` is the probability of the label."""

    label: SentimentLabel
    score: float
    confidence: float

    def as_json(self) -> dict[str, object]:
        """The shape the CLI prints and the store keeps."""
        return {"label": self.label, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Entity:
    """A thing named in a text (an order number, an amount, a date, a person)."""

    kind: str
    text: str
    score: float = 1.0


@dataclass(frozen=True)
class CategoryPrediction:
    """A complaint's category (the label exactly as in the training data) and how sure."""

    category: str
    confidence: float
