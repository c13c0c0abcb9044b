"""Saving a model replaces the file whole."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest

from bot.nlp.model_files import dump_atomically


def test_a_saved_model_replaces_the_old_one_whole(tmp_path: Path) -> None:
    path = tmp_path / "models" / "m.joblib"
    dump_atomically({"version": 1}, path)
    dump_atomically({"version": 2}, path, compress=3)
    assert joblib.load(path) == {"version": 2}
    assert [p.name for p in path.parent.iterdir()] == ["m.joblib"]


class Unpicklable:
    def __reduce__(self) -> tuple[()]:
        raise RuntimeError("cannot be saved")


def test_a_failed_save_keeps_the_old_model_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    dump_atomically({"version": 1}, path)
    with pytest.raises(RuntimeError, match="cannot be saved"):
        dump_atomically({"model": Unpicklable()}, path)
    assert joblib.load(path) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.joblib"]
