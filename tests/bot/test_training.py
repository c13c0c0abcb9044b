"""Training happens only when the assistant's inputs changed."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.core.settings import PROJECT_ROOT, Settings
from bot.training import fingerprint, fingerprint_path, model_is_current


def _copy_inputs(root: Path) -> None:
    for name in ("config.yml", "domain.yml"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    shutil.copytree(PROJECT_ROOT / "data", root / "data")


def test_fingerprint_follows_content_not_timestamps(tmp_path: Path) -> None:
    _copy_inputs(tmp_path)
    before = fingerprint(tmp_path)
    (tmp_path / "domain.yml").touch()
    assert fingerprint(tmp_path) == before
    with (tmp_path / "data" / "nlu.yml").open("a") as nlu:
        nlu.write("\n")
    assert fingerprint(tmp_path) != before
    (tmp_path / "data" / "extra.yml").write_text('version: "3.1"\n')
    assert fingerprint(tmp_path) != before


def test_model_is_current_only_with_matching_fingerprint(tmp_path: Path) -> None:
    _copy_inputs(tmp_path)
    settings = Settings(models_dir=tmp_path / "models")
    assert not model_is_current(settings, tmp_path)
    settings.models_dir.mkdir()
    settings.model_path.write_bytes(b"model")
    assert not model_is_current(settings, tmp_path)
    fingerprint_path(settings).write_text(fingerprint(tmp_path) + "\n")
    assert model_is_current(settings, tmp_path)
    (tmp_path / "config.yml").write_text("changed: true\n")
    assert not model_is_current(settings, tmp_path)
