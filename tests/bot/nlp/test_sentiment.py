"""The sentiment classifier on messages written the way customers write (none of them in
`data/sentiment/`), its held-out figures against the lexicon, and retraining on new data."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from bot.core.settings import PROJECT_ROOT
from bot.nlp.embeddings import sentence_encoder
from bot.nlp.sentiment import (
    DATA_DIR,
    HELDOUT_FILE,
    SentimentModel,
    evaluate_sentiment,
    load_or_train,
    read_messages,
    training_files,
)

MODELS = PROJECT_ROOT / "models" / "nlp"


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return load_or_train(MODELS, sentence_encoder())


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("this is the 4th time ive asked where my refund is. absolutely useless", "negative"),
        ("Cheers for nothing. Parcel STILL not here and no one replies", "negative"),
        (
            "Hello, I am sorry to bother you again but my card has been blocked for three "
            "days now and I am really worried about paying my rent. Kind regards, P. Okafor",
            "negative",
        ),
        ("can u send me the receipt for order 55120 pls", "neutral"),
        ("What time do you close on Saturdays?", "neutral"),
        (
            "yeah um i'm calling about the direct debit date i want to move it to the 15th",
            "neutral",
        ),
        ("that's sorted it, thank you so much for your help today!", "positive"),
        ("Refund arrived this morning, really appreciate you chasing it 👍", "positive"),
    ],
)
def test_labels_customer_messages(model: SentimentModel, text: str, label: str) -> None:
    sentiment = model.score([text])[0]
    assert sentiment.label == label
    assert -1.0 <= sentiment.score <= 1.0
    assert 0.0 < sentiment.confidence <= 1.0


def test_scores_are_signed_and_empty_text_is_neutral(model: SentimentModel) -> None:
    angry, happy, empty = model.score(
        ["I am DONE with you people, cancel everything", "you're all stars, thanks!", "  "]
    )
    assert angry.score < -0.5 < 0.5 < happy.score
    assert (empty.label, empty.score) == ("neutral", 0.0)
    assert model.score([]) == []


def test_sarcastic_idioms_are_negative_though_their_words_are_kind(
    model: SentimentModel,
) -> None:
    # None of these is in the labelled data; VADER alone calls none of them negative.
    sarcastic = [
        "cheers for nothing, mate",
        "Thank you for nothing. Closing my account tomorrow.",
        "fast delivery said nobody ever",
        "Yeah, right. 'Dispatched today.'",
        "oh wonderful 🙄",
    ]
    assert [s.label for s in model.score(sarcastic)] == ["negative"] * len(sarcastic)
    assert all(model.lexicon.sentiment(t).label != "negative" for t in sarcastic)
    # The same kind words, meant: still positive.
    kind = ["cheers for sorting that so fast", "Thank you for everything, all fixed now."]
    assert [s.label for s in model.score(kind)] == ["positive", "positive"]


def test_beats_the_lexicon_on_the_held_out_messages(model: SentimentModel) -> None:
    report = evaluate_sentiment(model, DATA_DIR / HELDOUT_FILE)
    assert report.messages >= 300
    assert report.accuracy >= 0.8
    assert report.macro_f1 >= 0.8
    assert report.accuracy >= report.lexicon_accuracy + 0.2
    assert "lexicon (VADER) alone" in "\n".join(report.lines())
    # The hard cases the lexicon reads backwards: still right more often than not.
    for tone in ("sarcastic", "polite_unhappy"):
        ours, lexicon = report.by_tone[tone]
        assert ours > 0.55
        assert ours > lexicon


def test_retrains_when_the_labelled_data_changes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DATA_DIR / "train_chat_sms.csv", data / "train_chat_sms.csv")
    encoder = sentence_encoder()
    first = load_or_train(tmp_path / "models", encoder, data)
    assert load_or_train(tmp_path / "models", encoder, data).digest == first.digest
    with (data / "train_chat_sms.csv").open("a", encoding="utf-8") as handle:
        handle.write("the new app update is lovely,positive,chat,positive\n")
    assert load_or_train(tmp_path / "models", encoder, data).digest != first.digest


def test_no_training_message_is_a_near_copy_of_a_held_out_one() -> None:
    held_out, _ = read_messages([DATA_DIR / HELDOUT_FILE])
    training, _ = read_messages(training_files())
    near: list[tuple[str, str]] = []
    for other in held_out:
        matcher = difflib.SequenceMatcher(b=other.lower())
        for text in training:
            matcher.set_seq1(text.lower())
            if matcher.real_quick_ratio() >= 0.8 and matcher.ratio() >= 0.8:
                near.append((text, other))
    assert near == []
