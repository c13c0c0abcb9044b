"""The Rasa assistant itself: its data validates, its test stories pass, and it understands
messages nobody wrote into the training data."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.core.settings import PROJECT_ROOT, Settings
from bot.training import rasa_environment, train

pytestmark = pytest.mark.integration

HOLDOUT = PROJECT_ROOT / "tests" / "nlu" / "holdout.yml"
STORIES = PROJECT_ROOT / "tests" / "stories"
MIN_HOLDOUT_INTENT_ACCURACY = 0.9
ANNOTATION = re.compile(r"\[([^\]]+)\]\([^)]+\)|\[([^\]]+)\]\{[^}]+\}")


def _rasa(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(settings.rasa_executable), *args],
        cwd=PROJECT_ROOT,
        env=rasa_environment(settings),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="module")
def test_results(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `rasa test` run: the test stories and the NLU holdout set on the trained model."""
    model = train(settings)
    out = tmp_path_factory.mktemp("rasa-test")
    result = _rasa(
        settings,
        "test",
        "--model", str(model),
        "--stories", str(STORIES),
        "--nlu", str(HOLDOUT),
        "--out", str(out),
    )  # fmt: skip
    (out / "rasa-test.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_data_validates(settings: Settings) -> None:
    result = _rasa(settings, "data", "validate", "--domain", "domain.yml", "--data", "data")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "No story structure conflicts found" in result.stdout + result.stderr


def test_test_stories_pass(test_results: Path) -> None:
    failed = (test_results / "failed_test_stories.yml").read_text()
    assert "None of the test stories failed" in failed, failed


def test_understands_messages_it_was_not_trained_on(test_results: Path) -> None:
    report = json.loads((test_results / "intent_report.json").read_text())
    assert report["accuracy"] >= MIN_HOLDOUT_INTENT_ACCURACY, {
        name: scores["confused_with"]
        for name, scores in report.items()
        if isinstance(scores, dict) and scores.get("f1-score", 1) < 0.9
    }


def _examples(path: Path) -> set[str]:
    examples = set()
    for block in yaml.safe_load(path.read_text())["nlu"]:
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            text = ANNOTATION.sub(lambda m: m.group(1) or m.group(2), line.strip().lstrip("- "))
            examples.add(re.sub(r"\W+", " ", text).strip().lower())
    return examples


def test_holdout_set_is_not_in_the_training_data() -> None:
    holdout = _examples(HOLDOUT)
    assert len(holdout) >= 150
    assert holdout.isdisjoint(_examples(PROJECT_ROOT / "data" / "nlu.yml"))


def test_every_intent_has_enough_varied_examples() -> None:
    blocks = yaml.safe_load((PROJECT_ROOT / "data" / "nlu.yml").read_text())["nlu"]
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    counts = {b["intent"]: len(b["examples"].strip().splitlines()) for b in blocks if "intent" in b}
    assert set(counts) == set(domain["intents"])
    assert min(counts.values()) >= 25, counts
