"""Complaint categories: which of the company's categories a complaint narrative belongs to.

The category set and the examples are the company's: any CSV with a text column and a label
column trains a model (`train_from_csv`). The default data are real CFPB complaint narratives
labelled with one of 8 financial products. How the model works: `bot.nlp.category_training`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from bot.core.settings import PROJECT_ROOT
from bot.nlp.category_training import StackedClassifier, baseline_predictions, embed, fit_stack
from bot.nlp.embeddings import SentenceEncoder, packaged_model_path, sentence_encoder
from bot.nlp.model_files import dump_atomically
from bot.nlp.results import CategoryPrediction

SHARED_CFPB_CSV = PROJECT_ROOT.parent / "shared" / "data" / "cfpb_complaints_train.csv"
# A stratified 1,200-row sample kept in the project (data/categories/README.md): what the
# tests and a machine without the shared folder train on.
SAMPLE_CFPB_CSV = PROJECT_ROOT / "data" / "categories" / "cfpb_sample.csv"
CFPB_CSV = SHARED_CFPB_CSV if SHARED_CFPB_CSV.exists() else SAMPLE_CFPB_CSV
CFPB_TEXT_COLUMN = "Consumer complaint narrative"
CFPB_LABEL_COLUMN = "Product"
MODEL_FILE = "categories.joblib"
# The held-out figures of the training run that made the model, beside it.
REPORT_FILE = "categories.report.json"
# Written into the saved file; a file of another format is refused, not misread.
FILE_FORMAT = "categories/1"


def model_file(models_dir: Path) -> Path:
    """Where the category model lives in `models_dir`."""
    return models_dir / MODEL_FILE


def report_file(models_dir: Path) -> Path:
    """Where the training report of the category model in `models_dir` lives."""
    return models_dir / REPORT_FILE


@dataclass(frozen=True)
class CategoryReport:
    """Held-out figures of a training run: ours next to the TF-IDF + linear SVM baseline."""

    accuracy: float
    macro_f1: float
    baseline_accuracy: float
    baseline_macro_f1: float
    train_size: int
    test_size: int
    labels: list[str]
    seconds: float
    # The file the model was trained on, by name ("" when not trained from a file).
    source: str = ""

    def save(self, path: Path) -> None:
        """Write the report as JSON (atomically: a reader never sees half of it)."""
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n", "utf-8")
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> CategoryReport | None:
        """The report saved at `path`, or None when there is none."""
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text("utf-8")))

    def lines(self) -> list[str]:
        """Readable lines for the CLI and the benchmark."""
        rows = self.train_size + self.test_size
        return [
            f"held-out: {self.test_size} of {rows} rows (stratified), "
            f"{len(self.labels)} categories",
            f"stacked TF-IDF + MiniLM models: accuracy {self.accuracy:.3f}, "
            f"macro-F1 {self.macro_f1:.3f}",
            f"baseline TF-IDF + linear SVM: accuracy {self.baseline_accuracy:.3f}, "
            f"macro-F1 {self.baseline_macro_f1:.3f}",
            f"difference: accuracy {100 * (self.accuracy - self.baseline_accuracy):+.1f} "
            f"points, macro-F1 {100 * (self.macro_f1 - self.baseline_macro_f1):+.1f} points",
            f"trained in {self.seconds:.0f} s (final model refitted on all {rows} rows)",
        ]


class CategoryModel:
    """Narrative -> category (the label exactly as in the training CSV) and the calibrated
    probability of it. The sentence encoder is not part of the model: it is named and
    loaded on first use."""

    def __init__(
        self,
        stack: StackedClassifier,
        *,
        encoder_path: str,
        fallback: CategoryPrediction,
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self.stack = stack
        self.labels: list[str] = [str(label) for label in stack.classes]
        # "" is the packaged MiniLM, so a saved model works on any machine that installs it.
        self.encoder_path = encoder_path
        # What an empty text gets: the most frequent label, with its share as confidence.
        self.fallback = fallback
        self._encoder = encoder
        self._lock = threading.Lock()

    def predict(self, texts: Sequence[str]) -> list[CategoryPrediction]:
        """The category of each text and its probability."""
        out = [self.fallback] * len(texts)
        rows = [i for i, text in enumerate(texts) if text.strip()]
        if not rows:
            return out
        chosen = [texts[i] for i in rows]
        vectors = embed(self.encoder(), chosen)
        # scikit-learn's OpenMP and BLAS threads keep spinning after a call and then starve
        # torch's on the next text (24 ms became 116 ms on 2 cores); one thread here is enough.
        with threadpool_limits(limits=1):
            probabilities = self.stack.probabilities(chosen, vectors)
        for i, row in zip(rows, probabilities, strict=True):
            best = int(np.argmax(row))
            out[i] = CategoryPrediction(self.labels[best], float(row[best]))
        return out

    def encoder(self) -> SentenceEncoder:
        """The sentence encoder the model was trained with (loaded on first use)."""
        with self._lock:
            if self._encoder is None:
                self._encoder = sentence_encoder(self.encoder_path)
            return self._encoder

    def save(self, path: Path) -> None:
        """Write the model with joblib (the encoder only by its path)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": FILE_FORMAT,
            "stack": self.stack,
            "encoder_path": self.encoder_path,
            "fallback": (self.fallback.category, self.fallback.confidence),
        }
        dump_atomically(state, path, compress=3)

    @classmethod
    def load(cls, path: Path) -> CategoryModel:
        """A model written by `save`."""
        state: Any = joblib.load(path)
        if not isinstance(state, dict) or state.get("format") != FILE_FORMAT:
            raise ValueError(f"{path} is not a category model ({FILE_FORMAT}); train it again")
        category, confidence = state["fallback"]
        return cls(
            state["stack"],
            encoder_path=state["encoder_path"],
            fallback=CategoryPrediction(category, confidence),
        )


def categorize_rows(model: CategoryModel, texts: Sequence[str]) -> list[CategoryPrediction]:
    """The category of each text (the same as `model.predict`)."""
    return model.predict(texts)


def read_labelled_csv(
    path: Path, *, text_column: str, label_column: str
) -> tuple[list[str], list[str]]:
    """Texts and labels from a CSV with a header row; rows with an empty text or label are
    skipped. Labels are kept exactly as written."""
    # Complaint narratives can be longer than the csv module's default field limit.
    csv.field_size_limit(sys.maxsize)
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        for column in (text_column, label_column):
            if column not in columns:
                present = ", ".join(repr(c) for c in columns) or "none"
                raise ValueError(f"{path} has no column {column!r}; its columns are: {present}")
        for row in reader:
            text, label = row.get(text_column) or "", row.get(label_column) or ""
            if text.strip() and label.strip():
                texts.append(text)
                labels.append(label)
    return texts, labels


def train_categories(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    encoder: SentenceEncoder,
    seed: int = 12,
    test_size: float = 0.2,
) -> tuple[CategoryModel, CategoryReport]:
    """Evaluate the recipe on a stratified held-out part (`test_size` of the rows) next to
    the TF-IDF + linear SVM baseline, then refit the model on ALL rows: the returned model
    has seen the held-out rows too, the report describes the recipe, not that model."""
    _check_training_data(texts, labels)
    started = time.perf_counter()
    vectors = embed(encoder, texts)  # once: both fits use the same vectors
    train, test = _split(labels, seed=seed, test_size=test_size)
    train_texts, train_labels = _subset(texts, labels, train)
    test_texts, truth = _subset(texts, labels, test)
    stack = fit_stack(train_texts, train_labels, vectors[train], seed=seed)
    probabilities = stack.probabilities(test_texts, vectors[test])
    ours = [str(stack.classes[i]) for i in probabilities.argmax(axis=1)]
    baseline = baseline_predictions(train_texts, train_labels, test_texts)
    final = fit_stack(texts, labels, vectors, seed=seed)
    report = CategoryReport(
        accuracy=float(accuracy_score(truth, ours)),
        macro_f1=float(f1_score(truth, ours, average="macro")),
        baseline_accuracy=float(accuracy_score(truth, baseline)),
        baseline_macro_f1=float(f1_score(truth, baseline, average="macro")),
        train_size=len(train),
        test_size=len(test),
        labels=[str(label) for label in final.classes],
        seconds=time.perf_counter() - started,
    )
    model = CategoryModel(
        final,
        encoder_path=_encoder_reference(encoder),
        fallback=_most_frequent(labels),
        encoder=encoder,
    )
    return model, report


def train_from_csv(
    path: Path,
    models_dir: Path,
    *,
    text_column: str = CFPB_TEXT_COLUMN,
    label_column: str = CFPB_LABEL_COLUMN,
    encoder: SentenceEncoder | None = None,
) -> CategoryReport:
    """Train on a labelled CSV and save the model in `models_dir` (the training command)."""
    texts, labels = read_labelled_csv(path, text_column=text_column, label_column=label_column)
    model, report = train_categories(texts, labels, encoder=encoder or sentence_encoder())
    report = dataclasses.replace(report, source=path.name)
    model.save(model_file(models_dir))
    report.save(report_file(models_dir))
    return report


def _check_training_data(texts: Sequence[str], labels: Sequence[str]) -> None:
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    counts = Counter(labels)
    if len(counts) < 2:
        raise ValueError(f"need at least 2 different labels to train, got {len(counts)}")
    rare = sorted(label for label, count in counts.items() if count < 2)
    if rare:
        raise ValueError(
            "every label needs at least 2 rows (one to learn from, one to test on); "
            f"these have 1: {', '.join(repr(label) for label in rare)}"
        )


def _split(labels: Sequence[str], *, seed: int, test_size: float) -> tuple[list[int], list[int]]:
    # The held-out part needs a row of each label; each label has 2, so the rest learns too.
    n_test: float | int = test_size
    if math.ceil(test_size * len(labels)) < len(set(labels)):
        n_test = len(set(labels))
    train, test = train_test_split(
        list(range(len(labels))), test_size=n_test, stratify=list(labels), random_state=seed
    )
    return list(train), list(test)


def _subset(
    texts: Sequence[str], labels: Sequence[str], rows: list[int]
) -> tuple[list[str], list[str]]:
    return [texts[i] for i in rows], [labels[i] for i in rows]


def _most_frequent(labels: Sequence[str]) -> CategoryPrediction:
    label, count = Counter(labels).most_common(1)[0]
    return CategoryPrediction(label, count / len(labels))


def _encoder_reference(encoder: SentenceEncoder) -> str:
    # The packaged model is named by "" rather than its path on this machine.
    if Path(encoder.model_path).resolve() == packaged_model_path().resolve():
        return ""
    return str(encoder.model_path)
