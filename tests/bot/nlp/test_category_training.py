"""The NB-SVM base model of the category stack, on real CFPB narratives."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from bot.nlp.categories import CFPB_CSV, CFPB_LABEL_COLUMN, CFPB_TEXT_COLUMN, read_labelled_csv
from bot.nlp.category_training import LogCountRatioClassifier, word_tfidf

TRAIN_ROWS = 800
UNSEEN_ROWS = 400


@pytest.fixture(scope="module")
def split() -> tuple[list[str], list[str], list[str], list[str]]:
    """800 stratified CFPB narratives to learn from and 400 others."""
    texts, labels = read_labelled_csv(
        CFPB_CSV, text_column=CFPB_TEXT_COLUMN, label_column=CFPB_LABEL_COLUMN
    )
    rest, chosen = train_test_split(
        list(range(len(texts))), test_size=TRAIN_ROWS, stratify=labels, random_state=5
    )
    unseen = rest[:UNSEEN_ROWS]
    return (
        [texts[i] for i in chosen],
        [labels[i] for i in chosen],
        [texts[i] for i in unseen],
        [labels[i] for i in unseen],
    )


def test_it_learns_real_categories(
    split: tuple[list[str], list[str], list[str], list[str]],
) -> None:
    texts, labels, unseen, truth = split
    vectorizer = word_tfidf(len(texts))
    model = LogCountRatioClassifier().fit(vectorizer.fit_transform(texts), labels)
    predicted = model.predict(vectorizer.transform(unseen))
    majority = max(truth.count(label) for label in set(truth)) / len(truth)
    accuracy = float(np.mean(predicted == np.asarray(truth)))
    assert accuracy > majority + 0.3, (accuracy, majority)


def test_a_category_word_weighs_for_its_category_only(
    split: tuple[list[str], list[str], list[str], list[str]],
) -> None:
    texts, labels, _, _ = split
    vectorizer = word_tfidf(len(texts))
    model = LogCountRatioClassifier().fit(vectorizer.fit_transform(texts), labels)
    column = vectorizer.vocabulary_["foreclosure"]
    weights = dict(zip(model.classes_, model.coef_[:, column], strict=True))
    assert weights["Mortgage"] > 0
    assert max(weights.values()) == weights["Mortgage"]


def test_it_reads_whether_a_term_is_there_not_how_much() -> None:
    texts = ["late fee on my card", "card fee card fee card fee", "loan payment", "loan servicer"]
    labels = ["card", "card", "loan", "loan"]
    vectorizer = word_tfidf(len(texts))
    x = vectorizer.fit_transform(texts)
    model = LogCountRatioClassifier().fit(x, labels)
    assert np.allclose(model.decision_function(x), model.decision_function(x * 7.0))
    # Two categories still give one score column per category, in `classes_` order.
    scores = model.decision_function(vectorizer.transform(["a fee on my card"]))
    assert scores.shape == (1, 2)
    assert list(model.predict(vectorizer.transform(["a fee on my card", "my loan"]))) == [
        "card",
        "loan",
    ]
