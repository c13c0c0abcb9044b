"""Extractive summaries of a real-looking delivery complaint, with the packaged MiniLM."""

from __future__ import annotations

import re

import pytest

from bot.nlp.summarizers import build_summarizer
from bot.nlp.summary import (
    ExtractiveSummarizer,
    Facts,
    Summary,
    Utterance,
    customer_sentences,
    transcript_identifiers,
)
from tests.support.conversations import CARD, CONVERSATION, FACTS, A, C, utterances


@pytest.fixture(scope="module")
def summarizer() -> ExtractiveSummarizer:
    built = build_summarizer()
    assert isinstance(built, ExtractiveSummarizer)
    built.summarize(utterances(), FACTS)  # loads the model
    return built


def lines(summary: Summary) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in summary.text.splitlines())


def test_delivery_complaint_summary_has_every_line(summarizer: ExtractiveSummarizer) -> None:
    summary = summarizer.summarize(utterances(), FACTS)
    found = lines(summary)

    assert summary.backend == "extractive"
    assert list(found) == [
        "Customer",
        "What happened",
        "Category",
        "Identifiers",
        "Wants",
        "Done",
        "Sentiment",
    ]
    assert found["Customer"] == "Alice Example (C-10001), verified by code · sms"
    assert found["Identifiers"].startswith("order ORD-10042 · case CMP-7K3Q9 · £49.99")
    assert "3 May" in found["Identifiers"]
    assert "9 May" in found["Identifiers"]
    assert found["Wants"] == "a refund"
    assert found["Done"] == "; ".join(FACTS.done)
    assert found["Sentiment"] == "negative and worsening (-0.21, -0.55, -0.83)"


def test_what_happened_is_the_customers_problem_in_their_words(
    summarizer: ExtractiveSummarizer,
) -> None:
    happened = lines(summarizer.summarize(utterances(), FACTS))["What happened"]
    customer_text = " ".join(text for speaker, text, _ in CONVERSATION if speaker == C)

    assert re.search(r"never arrived|not true|delivered|hasnt arrived", happened)
    picked = re.split(r"(?<=[.!?…])\s+", happened)
    assert 2 <= len(picked) <= 3
    for sentence in picked:
        assert sentence.rstrip(".…")[:40].lower() in customer_text.lower()
        assert len(sentence) <= 201
    assert not re.search(r"\b(?:hi|hello|ok|thanks|yes please)\b", happened, re.IGNORECASE)
    assert "482913" not in happened
    assert "Sorry to hear" not in happened  # the assistant's words are not the customer's


def test_no_full_card_number_anywhere(summarizer: ExtractiveSummarizer) -> None:
    facts = Facts(identifiers={"card": CARD, "account": "12345678"})
    text = summarizer.summarize(utterances(), facts).text

    assert re.search(r"(?:\d[ -]?){13,19}", text) is None
    assert "12345678" not in text
    assert "**** **** **** 9012" in text
    assert "482913" not in text


def test_sentences_drop_greetings_codes_signatures_and_names() -> None:
    found = customer_sentences(
        [
            Utterance(C, "Hi there"),
            Utterance(C, "It's Alice Example"),
            Utterance(C, "my code is 482913"),
            Utterance(C, "Hello, my order ORD-10042 never came. The box was empty!\n-- \nAlice"),
            Utterance(A, "The order was sent on 3 May."),
            Utterance(
                C, "> On 3 May you wrote:\nI was charged twice, see ref. 55 on my statement."
            ),
            Utterance(C, "ok thanks"),
            Utterance(C, "I am really angry. It's broken"),
        ]
    )

    assert found == [
        "My order ORD-10042 never came.",
        "The box was empty!",
        "I was charged twice, see ref. 55 on my statement.",
        "I am really angry.",
        "It's broken",
    ]


def test_identifiers_from_the_transcript_once_each() -> None:
    found = transcript_identifiers(
        [
            Utterance(C, "order 55123 was £1,249.00 and order ORD-10042 was 49.99 GBP"),
            Utterance(
                "agent", "ord-10042 shipped 2026-05-03; refund of £1,249.00 due May 10th, 2026"
            ),
            # The assistant's prompts hold examples, not this customer's identifiers.
            Utterance(A, "Do you have an order number (for example ORD-482913)?"),
            Utterance(C, "case cmp-7k3q9, letter dated 12/05/2026, card 4242 4242 4242 4242"),
        ],
        Facts(identifiers={"order": "ORD-10042", "amount": "£1249.00"}),
    )

    assert found == [
        "order ORD-10042",
        "amount £1249.00",
        "order 55123",
        "case CMP-7K3Q9",
        "49.99 GBP",
        "2026-05-03",
        "May 10th, 2026",
        "12/05/2026",
    ]


def test_summary_of_an_empty_conversation_is_the_facts(summarizer: ExtractiveSummarizer) -> None:
    assert summarizer.summarize([], FACTS).text.splitlines() == [
        "Customer: Alice Example (C-10001), verified by code · sms",
        "Category: delivery",
        "Identifiers: order ORD-10042 · case CMP-7K3Q9",
        "Wants: a refund",
        "Done: " + "; ".join(FACTS.done),
        "Sentiment: negative and worsening (-0.21, -0.55, -0.83)",
    ]
    assert summarizer.summarize([], Facts()).text == ""


def test_one_sms_without_facts() -> None:
    # One sentence needs no model at all: the encoder is never asked.
    summary = ExtractiveSummarizer(sentences=3).summarize(
        [Utterance(C, "parcel ORD-20077 never came i want my money back", -0.6)], Facts()
    )

    assert summary.text.splitlines() == [
        "What happened: Parcel ORD-20077 never came i want my money back.",
        "Identifiers: order ORD-20077",
        'Wants: "i want my money back"',
        "Sentiment: customer scores -0.60 (latest last)",
    ]


def test_at_most_three_of_each_kind_from_the_transcript() -> None:
    said = [Utterance(C, f"order ORD-1000{i} cost £{i + 1}0.00 on {i + 1} May") for i in range(6)]

    assert transcript_identifiers(said, Facts(identifiers={"case": "CMP-7K3Q9"})) == [
        "case CMP-7K3Q9",
        "order ORD-10000",
        "order ORD-10001",
        "order ORD-10002",
        "£10.00",
        "£20.00",
        "£30.00",
        "1 May",
        "2 May",
        "3 May",
    ]
