"""The seq2seq backend with a tiny BART built here from a config (random weights, a byte-level
BPE tokenizer trained on a few hundred words): nothing is downloaded."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest

from bot.nlp.seq2seq import Seq2SeqSummarizer
from bot.nlp.summarizers import build_summarizer
from bot.nlp.summary import Facts, SummarizerModelError, Utterance
from tests.support.conversations import CARD, FACTS, utterances

CORPUS = """
My parcel never arrived and the tracking says it was delivered to my address on the third of
May. The courier left it at the wrong door and the photo shows someone else's house. I want a
refund of the money I paid, not a replacement, because this is the second time an order has
gone missing. The assistant verified the customer by code and filed a complaint about the
delivery. A colleague will review the refund because it is over the automatic limit. The
customer is unhappy and thinking of leaving. Please send the refund to the original payment
card. The order number and the case number are in the summary for the agent. Summary of the
conversation: what happened, what the customer wants, what the assistant already did, and how
the customer feels. Damaged item, late delivery, missing parcel, wrong item, charged twice,
cancelled order, return label, collection, courier, warehouse, tracking number, postcode.
"""


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(CORPUS.split("\n"), trainer)
    bpe.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    # (transformers leaves the tokenizer's constructor untyped)
    return cast("Callable[..., Any]", PreTrainedTokenizerFast)(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=512,
    )


def _save_tiny_bart(directory: Path, **generation: int) -> Path:
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    tokenizer = _tokenizer()
    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=512,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
    )
    torch.manual_seed(12)
    model = BartForConditionalGeneration(config)
    for name, value in generation.items():
        setattr(model.generation_config, name, value)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny BART that writes at least a few different tokens (distilbart's own
    generation settings also have a min_length and a no_repeat_ngram_size)."""
    return _save_tiny_bart(
        tmp_path_factory.mktemp("tiny-bart"), min_new_tokens=8, no_repeat_ngram_size=1
    )


@pytest.fixture(scope="module")
def silent_bart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BART whose first word is the end: it says nothing."""
    return _save_tiny_bart(tmp_path_factory.mktemp("silent-bart"), forced_bos_token_id=2)


def lines(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines())


def test_tiny_model_summarises_with_the_fact_lines(tiny_bart: Path) -> None:
    summarizer = build_summarizer(model_path=str(tiny_bart))
    assert isinstance(summarizer, Seq2SeqSummarizer)

    started = time.perf_counter()
    summary = summarizer.summarize(utterances(), FACTS)
    took = time.perf_counter() - started
    found = lines(summary.text)

    assert summary.backend == f"seq2seq:{tiny_bart.name}"
    assert list(found) == [
        "Customer",
        "What happened",
        "Category",
        "Identifiers",
        "Wants",
        "Done",
        "Sentiment",
    ]
    assert re.search(r"\w", found["What happened"])  # gibberish from random weights
    assert found["Identifiers"].startswith("order ORD-10042 · case CMP-7K3Q9 · £49.99")
    assert found["Wants"] == "a refund"
    assert found["Sentiment"] == FACTS.trend
    assert CARD not in summary.text
    assert re.search(r"(?:\d[ -]?){13,19}", summary.text) is None
    assert took < 10, f"{took:.1f} s"


def test_a_conversation_longer_than_the_model_reads_is_cut(tiny_bart: Path) -> None:
    long = [Utterance("customer", "My parcel ORD-10042 never arrived. " * 5)] * 200
    summarizer = Seq2SeqSummarizer(tiny_bart, max_input_tokens=128, max_summary_tokens=16)

    summary = summarizer.summarize(long, Facts())

    assert summary.text.startswith("What happened: ")
    assert "Identifiers: order ORD-10042" in summary.text


def test_a_model_that_says_nothing_falls_back_to_the_customers_words(silent_bart: Path) -> None:
    summary = Seq2SeqSummarizer(silent_bart).summarize(utterances(), Facts())

    assert lines(summary.text)["What happened"] == (
        "My parcel hasnt arrived. It was supposed to come on 3 May and it's now the 12th."
    )


def test_threads_share_one_loaded_model(tiny_bart: Path) -> None:
    summarizer = Seq2SeqSummarizer(tiny_bart, max_summary_tokens=8)
    conversation = utterances()[:6]

    with ThreadPoolExecutor(4) as pool:
        summaries = list(pool.map(lambda _: summarizer.summarize(conversation, Facts()), range(4)))

    assert {s.backend for s in summaries} == {f"seq2seq:{tiny_bart.name}"}
    assert all(s.text.startswith("What happened: ") for s in summaries)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SummarizerModelError, match=r"no such directory.*SUMMARIZER_MODEL_PATH"):
        build_summarizer(model_path=str(tmp_path / "distilbart-cnn"))


def test_a_directory_without_a_seq2seq_model_is_a_clear_error(tmp_path: Path) -> None:
    from transformers import BertConfig

    with pytest.raises(SummarizerModelError, match=r"no config\.json"):
        build_summarizer(model_path=str(tmp_path))
    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2).save_pretrained(tmp_path)
    with pytest.raises(SummarizerModelError, match="a bert model, not seq2seq"):
        build_summarizer(model_path=str(tmp_path))
