"""Writing trained models to disk so that no process ever reads half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import joblib


def dump_atomically(state: Any, path: Path, **options: Any) -> None:
    """joblib-dump `state` to `path` by way of a temporary file in the same directory: a
    process loading the model meanwhile (the app, a worker, the tests) sees the old file or
    the new one, never a part of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        joblib.dump(state, temporary, **options)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
