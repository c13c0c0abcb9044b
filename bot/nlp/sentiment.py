"""Sentiment of customer messages: a small classifier on MiniLM sentence embeddings and the
VADER lexicon's scores, trained on the labelled messages under `data/sentiment/`.

The lexicon alone misses what customer service is full of: sarcasm ("great, another week
without my parcel"), polite complaints ("I'd be grateful if someone finally looked at
this") and flat statements of a problem. The embeddings carry the meaning; the lexicon's
four scores are added as features because they still help on short, emotional SMS.
"""

from __future__ import annotations

import csv
import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import joblib
import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from bot.core.settings import PROJECT_ROOT
from bot.nlp.embeddings import SentenceEncoder
from bot.nlp.model_files import dump_atomically
from bot.nlp.results import Sentiment, SentimentLabel

LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
DATA_DIR = PROJECT_ROOT / "data" / "sentiment"
HELDOUT_FILE = "heldout.csv"
# VADER's own thresholds on its compound score.
LEXICON_THRESHOLD = 0.05
# How much the lexicon's scores weigh beside the 384 embedding dimensions (chosen by
# cross-validation on the training messages, never on the held-out ones).
LEXICON_WEIGHT = 0.5
REGULARISATION = 4.0
MODEL_FILE = "sentiment.joblib"
# The idiom count's scale beside VADER's scores (0..1): a handful of training messages use
# the idioms, and at VADER's scale the regularised classifier gave them too little weight.
IDIOM_SCALE = 4.0
# Part of the saved model's digest: a change to what the classifier reads retrains it.
FEATURES_VERSION = "embedding+vader+idioms-3"


def training_files(data_dir: Path = DATA_DIR) -> list[Path]:
    """The labelled training messages (every CSV but the held-out one)."""
    return sorted(p for p in data_dir.glob("*.csv") if p.name != HELDOUT_FILE)


def read_messages(paths: Sequence[Path]) -> tuple[list[str], list[SentimentLabel]]:
    """Texts and labels from CSV files with `text` and `label` columns."""
    texts: list[str] = []
    labels: list[SentimentLabel] = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row["label"] not in LABELS:
                    raise ValueError(f"{path.name}: unknown label {row['label']!r}")
                texts.append(row["text"])
                labels.append(cast(SentimentLabel, row["label"]))
    return texts, labels


# Idioms that VADER reads word by word and so gets backwards ("thanks" is positive, so
# "thanks for nothing" is too): the lexicon reads each as the plain word it means. The
# embedding still sees the customer's own words.
_IDIOMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), meaning)
    for pattern, meaning in (
        (r"\b(?:thanks|thank you|thx|ty|cheers)\s+(?:for|4)\s+(?:nothing|nowt|nada)\b", "useless"),
        (r"\bsaid no\s?(?:one|body) ever\b", "awful"),
        (r"\byeah,?\s+right\b", "ridiculous"),
        (r"\bwhat a (?:surprise|shock)\b", "disappointing"),
        (r"\blove that for me\b", "awful"),
        (r"[\U0001F644\U0001F643]", " annoyed "),  # eye roll, upside-down face
    )
)


def read_idioms(text: str) -> str:
    """The text with each idiom the lexicon would get backwards replaced by its meaning."""
    for pattern, meaning in _IDIOMS:
        text = pattern.sub(meaning, text)
    return text


def idioms_in(text: str) -> int:
    """How many of the idioms the lexicon gets backwards the text uses."""
    return sum(len(pattern.findall(text)) for pattern, _ in _IDIOMS)


def data_digest(paths: Sequence[Path]) -> str:
    """Changes when the training data or the features change (the saved model is then
    retrained)."""
    digest = hashlib.sha256(FEATURES_VERSION.encode())
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class Lexicon:
    """VADER, whose lexicon ships in its package, with a few customer-service idioms read
    as what they mean; thread-safe (it keeps no state)."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def scores(self, text: str) -> dict[str, float]:
        """VADER's neg/neu/pos proportions and its compound score (-1..1), the idioms read
        as what they mean."""
        return cast(dict[str, float], self._analyzer.polarity_scores(read_idioms(text)))

    def sentiment(self, text: str) -> Sentiment:
        """VADER alone, as it ships (no idioms), by its usual thresholds: the baseline."""
        compound = float(self._analyzer.polarity_scores(text)["compound"])
        if compound >= LEXICON_THRESHOLD:
            label: SentimentLabel = "positive"
        elif compound <= -LEXICON_THRESHOLD:
            label = "negative"
        else:
            label = "neutral"
        return Sentiment(
            label, compound, abs(compound) if label != "neutral" else 1 - abs(compound)
        )

    def features(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row of [compound, neg, neu, pos, idioms] per text (idioms: how many of the
        sarcastic idioms it uses, at most two)."""
        rows = [(self.scores(t), IDIOM_SCALE * min(2, idioms_in(t))) for t in texts]
        return np.array(
            [[r["compound"], r["neg"], r["neu"], r["pos"], n] for r, n in rows], dtype=np.float32
        )


class SentimentModel:
    """Embeddings + lexicon features -> logistic regression over negative/neutral/positive.
    The score is P(positive) - P(negative)."""

    backend = "minilm+vader"

    def __init__(
        self,
        encoder: SentenceEncoder,
        classifier: LogisticRegression,
        *,
        digest: str = "",
        lexicon_weight: float = LEXICON_WEIGHT,
    ) -> None:
        self.encoder = encoder
        self.classifier = classifier
        self.digest = digest
        self.lexicon_weight = lexicon_weight
        self.lexicon = Lexicon()

    def score(self, texts: Sequence[str]) -> list[Sentiment]:
        """The sentiment of each text (an empty text is neutral)."""
        if not texts:
            return []
        probabilities = self.classifier.predict_proba(self.features(texts))
        order = [list(self.classifier.classes_).index(label) for label in LABELS]
        return [
            _sentiment(row[order], text) for row, text in zip(probabilities, texts, strict=True)
        ]

    def features(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """What the classifier sees for each text."""
        return features(self.encoder, self.lexicon, texts, self.lexicon_weight)

    def save(self, path: Path) -> None:
        """Write the classifier (not the encoder: it is reloaded from its own files)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "classifier": self.classifier,
            "digest": self.digest,
            "lexicon_weight": self.lexicon_weight,
        }
        dump_atomically(state, path)

    @classmethod
    def load(cls, path: Path, encoder: SentenceEncoder) -> SentimentModel:
        """A model saved by `save`, on `encoder`."""
        state: dict[str, Any] = joblib.load(path)
        return cls(
            encoder,
            state["classifier"],
            digest=state["digest"],
            lexicon_weight=state["lexicon_weight"],
        )


def _sentiment(probabilities: NDArray[np.float64], text: str) -> Sentiment:
    if not text.strip():
        return Sentiment("neutral", 0.0, 1.0)
    best = int(np.argmax(probabilities))
    score = float(probabilities[2] - probabilities[0])
    return Sentiment(LABELS[best], score, float(probabilities[best]))


def features(
    encoder: SentenceEncoder, lexicon: Lexicon, texts: Sequence[str], lexicon_weight: float
) -> NDArray[np.float32]:
    """Sentence embedding beside the weighted lexicon scores."""
    return np.hstack([encoder.encode(texts), lexicon_weight * lexicon.features(texts)])


def fit_classifier(x: NDArray[np.float32], labels: Sequence[str]) -> LogisticRegression:
    """The classifier over features; classes weighted so the few positives count."""
    classifier = LogisticRegression(C=REGULARISATION, max_iter=2000, class_weight="balanced")
    classifier.fit(x, list(labels))
    return classifier


def train_sentiment(encoder: SentenceEncoder, data_dir: Path = DATA_DIR) -> SentimentModel:
    """A model trained on every training file in `data_dir` (never the held-out file)."""
    paths = training_files(data_dir)
    if not paths:
        raise FileNotFoundError(f"no labelled sentiment messages in {data_dir}")
    texts, labels = read_messages(paths)
    lexicon = Lexicon()
    classifier = fit_classifier(features(encoder, lexicon, texts, LEXICON_WEIGHT), labels)
    return SentimentModel(encoder, classifier, digest=data_digest(paths))


@dataclass(frozen=True)
class SentimentReport:
    """Held-out figures: the model next to the lexicon alone."""

    messages: int
    accuracy: float
    macro_f1: float
    lexicon_accuracy: float
    lexicon_macro_f1: float
    # Accuracy per tone (sarcastic, polite_unhappy, ...): ours and the lexicon's.
    by_tone: dict[str, tuple[float, float]]

    def lines(self) -> list[str]:
        """Readable lines for the CLI and the benchmark."""
        tones = ", ".join(
            f"{tone} {ours:.2f} (lexicon {lexicon:.2f})"
            for tone, (ours, lexicon) in sorted(self.by_tone.items())
        )
        return [
            f"held-out messages: {self.messages}",
            f"MiniLM + lexicon: accuracy {self.accuracy:.3f}, macro-F1 {self.macro_f1:.3f}",
            f"lexicon (VADER) alone: accuracy {self.lexicon_accuracy:.3f}, "
            f"macro-F1 {self.lexicon_macro_f1:.3f}",
            f"accuracy by tone: {tones}",
        ]


def evaluate_sentiment(model: SentimentModel, heldout: Path) -> SentimentReport:
    """Accuracy and macro-F1 on the held-out messages, next to VADER alone."""
    texts, truth = read_messages([heldout])
    ours = [s.label for s in model.score(texts)]
    lexicon = [model.lexicon.sentiment(t).label for t in texts]
    with heldout.open(encoding="utf-8", newline="") as handle:
        tones = [row.get("tone") or "" for row in csv.DictReader(handle)]
    by_tone: dict[str, tuple[float, float]] = {}
    for tone in set(tones):
        rows = [i for i, t in enumerate(tones) if t == tone]
        by_tone[tone] = (
            sum(ours[i] == truth[i] for i in rows) / len(rows),
            sum(lexicon[i] == truth[i] for i in rows) / len(rows),
        )
    return SentimentReport(
        messages=len(texts),
        accuracy=float(accuracy_score(truth, ours)),
        macro_f1=float(f1_score(truth, ours, average="macro")),
        lexicon_accuracy=float(accuracy_score(truth, lexicon)),
        lexicon_macro_f1=float(f1_score(truth, lexicon, average="macro")),
        by_tone=by_tone,
    )


_LOCK = threading.Lock()


def load_or_train(
    models_dir: Path, encoder: SentenceEncoder, data_dir: Path = DATA_DIR
) -> SentimentModel:
    """The saved model if it was trained on today's data, else a fresh one (saved)."""
    path = models_dir / MODEL_FILE
    with _LOCK:
        digest = data_digest(training_files(data_dir))
        if path.exists():
            model = SentimentModel.load(path, encoder)
            if model.digest == digest:
                return model
        model = train_sentiment(encoder, data_dir)
        model.save(path)
        return model
