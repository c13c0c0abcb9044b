"""Training the Rasa model, only when the assistant's data, config or domain changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from bot.core.settings import PROJECT_ROOT, Settings

TRAINING_INPUTS = ("config.yml", "domain.yml", "data")
# What Rasa reads under data/ (it skips other files, such as the sentiment messages' CSV).
RASA_DATA_SUFFIXES = frozenset({".yml", ".yaml", ".json"})


class TrainingError(RuntimeError):
    """`rasa train` failed or could not be started."""


def training_files(root: Path = PROJECT_ROOT) -> list[Path]:
    """Every file the model is trained from, in a stable order."""
    files: list[Path] = []
    for name in TRAINING_INPUTS:
        path = root / name
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in RASA_DATA_SUFFIXES)
            )
        else:
            files.append(path)
    return files


def fingerprint(root: Path = PROJECT_ROOT) -> str:
    """A hash of the training inputs' names and contents."""
    digest = hashlib.sha256()
    for path in training_files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def fingerprint_path(settings: Settings) -> Path:
    """Where the fingerprint of the current model's inputs is kept."""
    return settings.model_path.with_suffix("").with_suffix(".fingerprint")


def model_is_current(settings: Settings, root: Path = PROJECT_ROOT) -> bool:
    """Whether the trained model exists and was trained from the current inputs."""
    marker = fingerprint_path(settings)
    return (
        settings.model_path.is_file()
        and marker.is_file()
        and marker.read_text().strip() == fingerprint(root)
    )


def rasa_environment(settings: Settings) -> dict[str, str]:
    """Environment for Rasa commands: no telemetry (no network here), quiet TensorFlow."""
    env = dict(os.environ)
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        RASA_CACHE_DIRECTORY=str(settings.var_dir / "rasa-cache"),
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
    )
    return env


def train(settings: Settings, *, force: bool = False, root: Path = PROJECT_ROOT) -> Path:
    """Train the model if it is missing or stale (or `force`); return its path."""
    if not force and model_is_current(settings, root):
        print(f"Model is up to date: {settings.model_path}", file=sys.stderr)
        return settings.model_path
    rasa = settings.rasa_executable
    if not rasa.exists():
        raise TrainingError(f"{rasa} not found: run `make setup` first.")
    log_path = settings.var_dir / "log" / "train.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"Training the Rasa model, about 4 minutes (log: {log_path})...", file=sys.stderr)
    inputs_hash = fingerprint(root)
    command = [
        str(rasa),
        "train",
        "--config",
        str(root / "config.yml"),
        "--domain",
        str(root / "domain.yml"),
        "--data",
        str(root / "data"),
        "--out",
        str(settings.models_dir),
        "--fixed-model-name",
        settings.model_name,
    ]
    with log_path.open("wb") as log:
        result = subprocess.run(
            command,
            cwd=root,
            env=rasa_environment(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0 or not settings.model_path.is_file():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise TrainingError(f"rasa train failed (exit {result.returncode}):\n{tail}")
    print(f"Model trained: {settings.model_path}", file=sys.stderr)
    fingerprint_path(settings).write_text(inputs_hash + "\n")
    return settings.model_path
