"""`python -m bot nlp ...` as a user runs it: a process, stdin and stdout, files."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from bot.core.db import Database
from bot.core.settings import PROJECT_ROOT
from bot.nlp.categories import SAMPLE_CFPB_CSV
from tests.support.databases import sqlite_url
from tests.support.store import receive

CFPB = SAMPLE_CFPB_CSV


def _nlp(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "nlp", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        timeout=600,
        check=False,
    )


def test_sentiment_reads_lines_and_writes_one_json_object_per_line() -> None:
    lines = ["my parcel is lost AGAIN, worst company ever", "what time do you open?", "thanks!!"]
    done = _nlp("sentiment", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["label"] for a in answers] == ["negative", "neutral", "positive"]
    assert all(set(a) == {"label", "score"} and -1 <= a["score"] <= 1 for a in answers)


def _small_csv(path: Path, rows: int) -> Path:
    """`rows` CFPB narratives of three products, under other column names."""
    wanted = {"Mortgage": 0, "Credit card or prepaid card": 0, "Debt collection": 0}
    with CFPB.open(encoding="utf-8", newline="") as source, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["narrative", "team"])
        for row in csv.DictReader(source):
            product = row["Product"]
            if product in wanted and wanted[product] < rows // 3:
                wanted[product] += 1
                writer.writerow([row["Consumer complaint narrative"], product])
    return path


def test_train_on_any_csv_then_categorize_in_input_order(tmp_path: Path) -> None:
    data = _small_csv(tmp_path / "complaints.csv", 150)
    env = {"NLP_MODELS_DIR": str(tmp_path / "models")}
    trained = _nlp(
        "train-categories",
        "--csv",
        str(data),
        "--text-column",
        "narrative",
        "--label-column",
        "team",
        env=env,
    )
    assert trained.returncode == 0, trained.stderr
    assert "TF-IDF" in trained.stdout
    assert (tmp_path / "models" / "categories.joblib").exists()

    done = _nlp("categorize", "--input", str(data), "--text-column", "narrative", env=env)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    with data.open(encoding="utf-8", newline="") as handle:
        truth = [row["team"] for row in csv.DictReader(handle)]
    assert len(answers) == len(truth)
    assert {a["category"] for a in answers} <= {
        "Mortgage",
        "Credit card or prepaid card",
        "Debt collection",
    }
    right = sum(a["category"] == t for a, t in zip(answers, truth, strict=True))
    assert right / len(truth) > 0.8  # its own training rows
    assert all(0 < a["confidence"] <= 1 for a in answers)


def test_a_wrong_column_or_no_model_is_a_clear_error(tmp_path: Path) -> None:
    data = _small_csv(tmp_path / "complaints.csv", 9)
    env = {"NLP_MODELS_DIR": str(tmp_path / "empty")}
    missing = _nlp("categorize", "--input", str(data), env=env)
    assert missing.returncode == 1
    assert "train one with `python -m bot nlp train-categories`" in missing.stderr
    wrong = _nlp("train-categories", "--csv", str(data), "--text-column", "body", env=env)
    assert wrong.returncode == 1
    assert "body" in wrong.stderr and "narrative" in wrong.stderr


async def test_summarize_a_stored_conversation(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    first = await receive(
        database, text="My card 4111 1111 1111 1111 was charged twice for order ORD-55123."
    )
    await receive(database, text="I want the second payment refunded please.")
    await receive(database, text="Third time I'm asking. This is absolutely useless.")
    env = {"DATABASE_URL": database_url, "VAR_DIR": str(tmp_path / "var")}
    shown = await asyncio.to_thread(
        _nlp, "summarize", "--conversation", str(first.conversation.id), env=env
    )
    assert shown.returncode == 0, shown.stderr
    assert "ORD-55123" in shown.stdout
    assert "4111 1111 1111 1111" not in shown.stdout
    assert "Priority: " in shown.stdout
    missing = await asyncio.to_thread(_nlp, "summarize", "--conversation", "999999", env=env)
    assert missing.returncode == 1
    assert "no conversation '999999'" in missing.stderr


def test_summarize_on_a_new_database_says_there_is_no_such_conversation(tmp_path: Path) -> None:
    # Before the app ever ran: the schema is created, not a traceback.
    env = {"DATABASE_URL": sqlite_url(tmp_path), "VAR_DIR": str(tmp_path / "var")}
    shown = _nlp("summarize", "--conversation", "1", env=env)
    assert shown.returncode == 1
    assert shown.stderr.strip().splitlines()[-1] == "error: no conversation '1'"
