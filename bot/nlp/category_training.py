"""The recipe behind the complaint categories: several views of a narrative, stacked.

Base models, each on its own view of the text:
- word TF-IDF (1-2 grams, the whole narrative) and a linear SVM;
- which of those word n-grams a narrative has at all, weighted by how much more often each
  appears in a category than in the others, and a logistic regression per category
  (NB-SVM: Wang and Manning, "Baselines and Bigrams", 2012);
- character TF-IDF (2-5 grams inside words) and a linear SVM;
- the MiniLM embedding of the narrative's first 256 word pieces, read by an RBF SVM and by
  its 25 nearest training narratives (cosine).
A logistic regression combines their scores into calibrated probabilities. It learns from
out-of-fold scores (5 folds), so it sees how far each base model can be trusted on rows
that model was not fitted on.

On the CFPB narratives each view alone reaches 0.79-0.82 accuracy; stacked they gain
because they make different mistakes. The NB-SVM view alone is no better than the TF-IDF SVM
(0.81), yet adding it to the stack raised cross-validated accuracy by 0.3 points: it weighs
rare, category-specific n-grams that TF-IDF's normalisation dilutes.

Which views to stack and the combiner's regularisation were chosen by cross-validation on
the training part only. Embedding the text is most of the training time, so it is done once
per text and shared by the evaluation and the final fit; the base models' fits run in
parallel threads.

Tried on a validation part of the training data and not kept (none moved 5-fold
cross-validated accuracy by more than 0.1 point): embeddings of the whole narrative (the mean
over 180-word windows; about twice the embedding time), complement naive Bayes, logistic
regression, nearest neighbours on the TF-IDF vectors, word 1-3-gram views, NB-SVM on
character n-grams, the mean-pooled outputs of several MiniLM layers side by side, and
fine-tuning MiniLM's top two layers (0.80 alone after two epochs at 7 minutes each: not worth
its cost on two cores).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from bot.nlp.embeddings import SentenceEncoder

# Settings checked by 5-fold cross-validation on the training part of the CFPB split (never
# on its held-out part); each moves accuracy by well under a point around these values.
WORD_C = 0.5
CHAR_C = 0.5
EMBEDDING_C = 3.0
NB_SVM_C = 1.0
NB_SMOOTHING = 1.0
NEIGHBOURS = 25
COMBINER_C = 0.03
PROBABILITY_FLOOR = 1e-3
FOLDS = 5
# The word vocabulary keeps n-grams seen in at least two narratives, as the baseline does;
# a very small training set keeps them all, or nothing would be left.
MIN_DF = 2
SMALL_DATA_ROWS = 50

# Runs of redactions ("XXXX XXXX", "XX/XX/XXXX") become one marker: they cost word pieces
# in MiniLM's 256-piece window and say nothing but "something was redacted here".
_REDACTIONS = re.compile(r"\bX{2,}\b(?:[\s/,.-]*\bX{2,}\b)*")
_SPACES = re.compile(r"\s+")

Scores = NDArray[np.float64]


def embedding_text(text: str) -> str:
    """The text as MiniLM reads it: redaction runs collapsed, whitespace normalised."""
    return _SPACES.sub(" ", _REDACTIONS.sub("XXXX", text)).strip()


def embed(encoder: SentenceEncoder, texts: Sequence[str]) -> NDArray[np.float32]:
    """One MiniLM vector per text, in the order given."""
    cleaned = [embedding_text(t) for t in texts]
    # Sorted by length, each batch pads to a similar length: about a third less work.
    order = np.argsort([len(t) for t in cleaned], kind="stable")
    vectors = encoder.encode([cleaned[i] for i in order])
    out = np.empty_like(vectors)
    out[order] = vectors
    return out


def word_tfidf(rows: int) -> TfidfVectorizer:
    """TF-IDF of word 1-2 grams, as the baseline uses."""
    min_df = MIN_DF if rows >= SMALL_DATA_ROWS else 1
    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=min_df)


def char_tfidf(rows: int) -> TfidfVectorizer:
    """TF-IDF of 2-5 characters inside words: catches the word forms and misspellings that
    whole words miss."""
    min_df = MIN_DF + 1 if rows >= SMALL_DATA_ROWS else 1
    return TfidfVectorizer(sublinear_tf=True, analyzer="char_wb", ngram_range=(2, 5), min_df=min_df)


Source = Literal["words", "chars", "embedding"]
Folds = list[tuple[NDArray[np.intp], NDArray[np.intp]]]


@dataclass(frozen=True)
class Features:
    """What the base models read: word and character TF-IDF rows, MiniLM vectors."""

    words: Any
    chars: Any
    embedding: NDArray[np.float32]

    def of(self, source: Source) -> Any:
        """The rows for one base model."""
        return getattr(self, source)


@dataclass
class StackedClassifier:
    """The base models, each on its own features, combined by a logistic regression."""

    classes: NDArray[np.str_]
    word_vectorizer: TfidfVectorizer
    char_vectorizer: TfidfVectorizer
    base_models: list[tuple[Source, Any]]
    combiner: Pipeline

    def features(self, texts: Sequence[str], vectors: NDArray[np.float32]) -> Features:
        """The base models' inputs for these texts and their MiniLM vectors."""
        return Features(
            self.word_vectorizer.transform(texts), self.char_vectorizer.transform(texts), vectors
        )

    def probabilities(self, texts: Sequence[str], vectors: NDArray[np.float32]) -> Scores:
        """One row per text: the probability of each of `classes`."""
        features = self.features(texts, vectors)
        scores = [
            decision_scores(model, features.of(source), self.classes)
            for source, model in self.base_models
        ]
        probabilities: Scores = self.combiner.predict_proba(np.hstack(scores))
        return probabilities


class LogCountRatioClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """NB-SVM: per category, a logistic regression on which n-grams a text has, each scaled
    by the log of how much more often texts of that category have it than other texts.

    Reads any non-negative document-term rows (the word TF-IDF rows here) as presence."""

    def __init__(self, C: float = NB_SVM_C, smoothing: float = NB_SMOOTHING) -> None:
        self.C = C
        self.smoothing = smoothing

    def fit(self, x: Any, y: Sequence[str]) -> LogCountRatioClassifier:
        """Learn one weighted logistic regression per category (one against the rest)."""
        labels = np.asarray(y)
        present = _presence(x)
        self.classes_ = np.unique(labels)
        weights, intercepts = [], []
        for label in self.classes_:
            mine = labels == label
            ratio = self._log_count_ratio(present, mine)
            model = LogisticRegression(C=self.C, solver="liblinear", max_iter=2000)
            model.fit(present @ sp.diags(ratio), mine)
            # (presence * ratio) . w is presence . (ratio * w): keep one weight row per label.
            weights.append((ratio * model.coef_[0]).astype(np.float32))
            intercepts.append(float(model.intercept_[0]))
        self.coef_ = np.vstack(weights)
        self.intercept_ = np.asarray(intercepts)
        return self

    def decision_function(self, x: Any) -> Scores:
        """One score per row and category (higher: more likely that category)."""
        products = _presence(x) @ self.coef_.T.astype(np.float64)
        scores: Scores = np.asarray(products) + self.intercept_
        return scores

    def predict(self, x: Any) -> NDArray[np.str_]:
        """The highest-scoring category of each row."""
        picked: NDArray[np.str_] = self.classes_[self.decision_function(x).argmax(axis=1)]
        return picked

    def _log_count_ratio(self, present: Any, mine: NDArray[np.bool_]) -> NDArray[np.float64]:
        inside = np.asarray(present[mine].sum(axis=0)).ravel() + self.smoothing
        outside = np.asarray(present[~mine].sum(axis=0)).ravel() + self.smoothing
        ratio: NDArray[np.float64] = np.log((inside / inside.sum()) / (outside / outside.sum()))
        return ratio


def _presence(x: Any) -> Any:
    # 1 where a document has the term, whatever its weight.
    matrix = sp.csr_matrix(x, dtype=np.float64, copy=True)
    matrix.data = (matrix.data > 0).astype(np.float64)
    return matrix


def base_models(seed: int) -> list[tuple[Source, Callable[[], Any]]]:
    """Each base model (a new, unfitted one per call) and the features it reads."""
    return [
        ("words", lambda: LinearSVC(C=WORD_C, random_state=seed)),
        ("words", lambda: LogCountRatioClassifier(C=NB_SVM_C)),
        ("chars", lambda: LinearSVC(C=CHAR_C, random_state=seed)),
        ("embedding", lambda: SVC(C=EMBEDDING_C, kernel="rbf", gamma="scale", cache_size=500)),
        (
            "embedding",
            lambda: KNeighborsClassifier(NEIGHBOURS, weights="distance", metric="cosine"),
        ),
    ]


def fit_stack(
    texts: Sequence[str], labels: Sequence[str], vectors: NDArray[np.float32], *, seed: int
) -> StackedClassifier:
    """Fit the base models on all the rows given, the combiner on their out-of-fold scores."""
    y = np.asarray(labels)
    classes = np.unique(y)
    word_vectorizer, char_vectorizer = word_tfidf(len(texts)), char_tfidf(len(texts))
    features = Features(
        word_vectorizer.fit_transform(texts), char_vectorizer.fit_transform(texts), vectors
    )
    for vectorizer in (word_vectorizer, char_vectorizer):
        # Only for introspection, and it holds every pruned n-gram: it would dominate the file.
        vectorizer.stop_words_ = None
    makers = base_models(seed)
    folds = _folds(y, seed)
    # Every (base model, fold) fit is independent: run them on all cores. liblinear and
    # libsvm release the GIL, so threads suffice and share the feature matrices.
    jobs = [(b, fold) for b in range(len(makers)) for fold in [*folds, None]]
    results = Parallel(n_jobs=-1, prefer="threads")(
        delayed(_fit_part)(makers[b][1], features.of(makers[b][0]), y, fold) for b, fold in jobs
    )
    fitted: list[tuple[Source, Any]] = []
    columns: list[Scores] = []
    for b in range(len(makers)):
        mine = [result for (owner, _), result in zip(jobs, results, strict=True) if owner == b]
        model = mine[-1]
        fitted.append((makers[b][0], model))
        columns.append(_assemble(mine[:-1], folds, model, features.of(makers[b][0]), y, classes))
    combiner = make_pipeline(StandardScaler(), LogisticRegression(C=COMBINER_C, max_iter=2000))
    combiner.fit(np.hstack(columns), y)
    return StackedClassifier(classes, word_vectorizer, char_vectorizer, fitted, combiner)


def baseline_predictions(
    train_texts: Sequence[str], train_labels: Sequence[str], test_texts: Sequence[str]
) -> list[str]:
    """The reference to beat: TF-IDF (word 1-2 grams) and a linear SVM, default settings."""
    vectorizer = word_tfidf(len(train_texts))
    model = LinearSVC().fit(vectorizer.fit_transform(train_texts), list(train_labels))
    return [str(label) for label in model.predict(vectorizer.transform(test_texts))]


def decision_scores(model: Any, x: Any, classes: NDArray[np.str_]) -> Scores:
    """The model's decision scores as one column per class of `classes`."""
    if hasattr(model, "decision_function"):
        raw = np.asarray(model.decision_function(x), dtype=np.float64)
    else:  # neighbours: log-probabilities, floored so that a zero is not minus infinity
        raw = np.log(np.clip(model.predict_proba(x), PROBABILITY_FLOOR, 1.0))
    if raw.ndim == 1:  # two classes: one signed score, for the second of them
        raw = np.column_stack([-raw, raw])
    out = np.full((raw.shape[0], len(classes)), raw.min(initial=0.0) - 1.0)
    out[:, np.searchsorted(classes, model.classes_)] = raw
    return out


def _folds(y: NDArray[np.str_], seed: int) -> Folds:
    # As many folds as the rarest label allows (at most FOLDS), so every fitting part sees
    # every label. With a label of a single row nothing can be held out: no folds.
    smallest = min(Counter(y.tolist()).values())
    if smallest < 2:
        return []
    splitter = StratifiedKFold(min(FOLDS, smallest), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def _fit_part(
    make: Callable[[], Any],
    x: Any,
    y: NDArray[np.str_],
    fold: tuple[NDArray[np.intp], NDArray[np.intp]] | None,
) -> Any:
    # One fold's model (fitted without the fold's held-out rows), or with no fold the model
    # on every row.
    rows = np.arange(len(y)) if fold is None else fold[0]
    model = make()
    if isinstance(model, KNeighborsClassifier):
        model.set_params(n_neighbors=min(model.n_neighbors, len(rows)))
    return model.fit(x[rows], y[rows])


def _assemble(
    fold_models: list[Any],
    folds: Folds,
    full_model: Any,
    x: Any,
    y: NDArray[np.str_],
    classes: NDArray[np.str_],
) -> Scores:
    # Each row scored by the fold model that did not see it.
    if not folds:  # too few rows to hold any out: in-sample scores stand in
        return decision_scores(full_model, x, classes)
    out = np.zeros((len(y), len(classes)))
    for model, (_, held_rows) in zip(fold_models, folds, strict=True):
        out[held_rows] = decision_scores(model, x[held_rows], classes)
    return out
