"""Summaries written by a local Hugging Face seq2seq model (a distilbart or flan-t5 a
company keeps on disk), for the "What happened" line; the fact lines are added as in the
extractive summaries.

transformers 5 no longer has the "summarization" pipeline task, so this does what the
pipeline did: tokenizer + `AutoModelForSeq2SeqLM.generate`, with the model's own
summarisation prefix and generation settings (`task_specific_params["summarization"]`).
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from bot.nlp import embeddings  # noqa: F401  (sets HF_HUB_OFFLINE: models come from disk only)
from bot.nlp.masking import mask_sensitive
from bot.nlp.summary import (
    Facts,
    SummarizerModelError,
    Summary,
    Utterance,
    compose_summary,
    customer_sentences,
    transcript_lines,
    trim_sentence,
)

# Generation settings a model may carry for summarisation that are kept as they are.
_KEPT_PARAMS = ("num_beams", "length_penalty", "no_repeat_ngram_size", "early_stopping")
MAX_SUMMARY_CHARS = 600
_FALLBACK_SENTENCES = 2


class Seq2SeqSummarizer:
    """Summaries by the seq2seq model in `model_dir`, loaded on first use (once, whatever
    the number of threads asking)."""

    def __init__(
        self, model_dir: Path, *, max_input_tokens: int = 512, max_summary_tokens: int = 96
    ) -> None:
        self.model_dir = model_dir
        self.max_input_tokens = max_input_tokens
        self.max_summary_tokens = max_summary_tokens
        self._config = _seq2seq_config(model_dir)  # fails now, not at the first complaint
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    @property
    def backend(self) -> str:
        """The name the summaries carry: "seq2seq:<directory name>"."""
        return f"seq2seq:{self.model_dir.name}"

    def summarize(self, utterances: Sequence[Utterance], facts: Facts) -> Summary:
        """The summary with the model's text as its "What happened" line (the customer's
        first sentences if the model says nothing)."""
        happened = self.generate(transcript_lines(utterances)) if utterances else ""
        if not happened:
            first = customer_sentences(utterances)[:_FALLBACK_SENTENCES]
            happened = " ".join(trim_sentence(s) for s in first)
        return compose_summary(utterances, facts, happened=happened, backend=self.backend)

    def generate(self, lines: Sequence[str]) -> str:
        """The model's summary of the transcript `lines` (masked, whitespace collapsed)."""
        import torch

        tokenizer, model = self._model()
        params = self._task_params()
        prefix = str(params.get("prefix") or "")
        text = prefix + "\n".join(self._fitting(tokenizer, lines, prefix))
        inputs = tokenizer(
            [text], truncation=True, max_length=self._input_limit(tokenizer), return_tensors="pt"
        )
        options = {k: params[k] for k in _KEPT_PARAMS if k in params}
        with torch.inference_mode():
            output = model.generate(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                max_new_tokens=self.max_summary_tokens,
                **options,
            )
        decoded = tokenizer.decode(output[0], skip_special_tokens=True)
        # Control characters and broken bytes (a poorly trained model's) would reach the agent.
        printable = "".join(
            " " if unicodedata.category(c)[0] == "C" or c == "\ufffd" else c for c in decoded
        )
        return mask_sensitive(" ".join(printable.split())[:MAX_SUMMARY_CHARS])

    def _fitting(self, tokenizer: Any, lines: Sequence[str], prefix: str) -> list[str]:
        # Too long a conversation keeps its beginning (the problem) and its end (where
        # things stand), dropping lines from the middle.
        budget = self._input_limit(tokenizer) - len(tokenizer(prefix)["input_ids"]) - 4
        encoded = tokenizer(list(lines), add_special_tokens=False)["input_ids"] if lines else []
        lengths = [len(ids) + 1 for ids in encoded]  # + the line break
        if sum(lengths) <= budget:
            return list(lines)
        head, tail = 0, len(lines)
        used = 0
        while head < tail:
            index = head if head <= len(lines) - tail else tail - 1
            if used + lengths[index] > budget:
                break
            used += lengths[index]
            if index == head:
                head += 1
            else:
                tail -= 1
        if head == 0 and tail == len(lines):  # one huge first line: the tokenizer cuts it
            return list(lines)
        return [*lines[:head], "...", *lines[tail:]]

    def _input_limit(self, tokenizer: Any) -> int:
        limits = [self.max_input_tokens, int(tokenizer.model_max_length)]
        positions = getattr(self._config, "max_position_embeddings", None)
        if isinstance(positions, int):
            limits.append(positions)
        return max(16, min(limits))

    def _task_params(self) -> dict[str, Any]:
        params = getattr(self._config, "task_specific_params", None) or {}
        found = params.get("summarization") if isinstance(params, dict) else None
        found = dict(found) if isinstance(found, dict) else {}
        if "prefix" not in found and getattr(self._config, "model_type", "") in ("t5", "mt5"):
            found["prefix"] = "summarize: "  # T5 models are told the task in the text
        return found

    def _model(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
                from transformers.utils import logging as hf_logging

                # (transformers leaves this function untyped)
                cast("Callable[[], None]", hf_logging.disable_progress_bar)()
                try:
                    tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
                    model = AutoModelForSeq2SeqLM.from_pretrained(str(self.model_dir))
                except (OSError, ValueError) as error:
                    raise SummarizerModelError(_advice(self.model_dir, str(error))) from error
                model.eval()
                self._loaded = (tokenizer, model)
            return self._loaded


def _seq2seq_config(model_dir: Path) -> Any:
    """The model's configuration, if `model_dir` holds an encoder-decoder model."""
    if not model_dir.is_dir():
        raise SummarizerModelError(_advice(model_dir, "no such directory"))
    if not (model_dir / "config.json").is_file():
        raise SummarizerModelError(_advice(model_dir, "no config.json in it"))
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(str(model_dir))
    except (OSError, ValueError) as error:
        raise SummarizerModelError(_advice(model_dir, f"unreadable config ({error})")) from error
    if not getattr(config, "is_encoder_decoder", False):
        kind = getattr(config, "model_type", "?")
        raise SummarizerModelError(_advice(model_dir, f"a {kind} model, not seq2seq"))
    return config


def _advice(model_dir: Path, problem: str) -> str:
    return (
        f"summarizer_model_path {model_dir}: {problem}. Set SUMMARIZER_MODEL_PATH to a local "
        "Hugging Face seq2seq model directory (config.json, tokenizer files and weights, e.g. "
        "a distilbart or flan-t5 saved with save_pretrained), or leave it empty for "
        "extractive summaries."
    )
