"""The summariser the settings name: extractive (the default) or a local seq2seq model."""

from __future__ import annotations

from pathlib import Path

from bot.nlp.embeddings import sentence_encoder
from bot.nlp.seq2seq import Seq2SeqSummarizer
from bot.nlp.summary import ExtractiveSummarizer, Summarizer


def build_summarizer(*, model_path: str = "", encoder_path: str = "") -> Summarizer:
    """The configured summariser: extractive with the sentence model at `encoder_path`
    (empty: the packaged MiniLM), or the seq2seq model in the directory `model_path`.
    Raises `SummarizerModelError` if `model_path` is not a seq2seq model directory."""
    if not model_path:
        return ExtractiveSummarizer(sentence_encoder(encoder_path))
    return Seq2SeqSummarizer(Path(model_path))
