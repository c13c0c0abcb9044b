"""`python -m bot nlp ...`: the NLP models on anyone's data, from the command line.

nlp sentiment                      one message per line in, one JSON object per line out
nlp categorize --input FILE.csv    one {"category", "confidence"} per row, in order
nlp train-categories --csv FILE.csv --text-column C --label-column L
nlp evaluate-sentiment             held-out accuracy and macro-F1 next to the lexicon
nlp summarize --conversation ID    the summary an agent sees
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from bot.core.db import Database
from bot.core.settings import Settings
from bot.core.store.conversations import conversation_by_public_id
from bot.nlp.analysis import Analyser, NlpModels
from bot.nlp.categories import (
    CFPB_CSV,
    CFPB_LABEL_COLUMN,
    CFPB_TEXT_COLUMN,
    CategoryModel,
    model_file,
    train_from_csv,
)
from bot.nlp.embeddings import sentence_encoder
from bot.nlp.sentiment import DATA_DIR, HELDOUT_FILE, evaluate_sentiment, load_or_train
from bot.schema import migrate

BATCH = 64


def add_nlp_verbs(commands: Any) -> None:
    """The `nlp` verb and its sub-verbs."""
    nlp = commands.add_parser("nlp", help="sentiment, categories and summaries on your data")
    verbs = nlp.add_subparsers(dest="nlp_command", required=True)
    verbs.add_parser("sentiment", help="stdin: one message per line; stdout: one JSON per line")
    categorize = verbs.add_parser("categorize", help="the category of each row of a CSV file")
    categorize.add_argument("--input", required=True, type=Path)
    categorize.add_argument("--text-column", default=CFPB_TEXT_COLUMN)
    train = verbs.add_parser("train-categories", help="train the complaint category model")
    train.add_argument("--csv", type=Path, default=CFPB_CSV)
    train.add_argument("--text-column", default=CFPB_TEXT_COLUMN)
    train.add_argument("--label-column", default=CFPB_LABEL_COLUMN)
    train.add_argument("--if-missing", action="store_true", help="only if none is trained yet")
    verbs.add_parser("evaluate-sentiment", help="held-out accuracy and macro-F1")
    summarize = verbs.add_parser("summarize", help="analyse a stored conversation")
    summarize.add_argument("--conversation", required=True, help="its id or public id")


def nlp_verb(settings: Settings, args: argparse.Namespace) -> int:
    """Run one `nlp` sub-verb; the exit status."""
    verb = args.nlp_command
    if verb == "sentiment":
        return print_sentiments(settings, sys.stdin, sys.stdout)
    if verb == "categorize":
        return categorize_csv(settings, args.input, args.text_column, sys.stdout)
    if verb == "train-categories":
        return train_category_model(settings, args)
    if verb == "evaluate-sentiment":
        return print_sentiment_report(settings)
    migrate(settings.effective_database_url)  # as the store's other verbs do
    return asyncio.run(print_summary(settings, args.conversation))


def print_sentiments(settings: Settings, lines: TextIO, out: TextIO) -> int:
    """Score each input line, printing as each batch is done (works on a stream)."""
    scorer = NlpModels(settings).sentiment()
    for batch in _batches(line.rstrip("\n") for line in lines):
        for sentiment in scorer.score(batch):
            out.write(json.dumps(sentiment.as_json()) + "\n")
        out.flush()
    return 0


def categorize_csv(settings: Settings, path: Path, text_column: str, out: TextIO) -> int:
    """One JSON object per row of `path`, in input order."""
    model = _category_model(settings)
    if model is None:
        return 1
    try:
        rows = _column(path, text_column)
        for batch in _batches(rows):
            for prediction in model.predict(batch):
                record = {"category": prediction.category, "confidence": prediction.confidence}
                out.write(json.dumps(record) + "\n")
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def train_category_model(settings: Settings, args: argparse.Namespace) -> int:
    """Train, report held-out figures beside TF-IDF's, save where the app loads it."""
    target = model_file(settings.nlp_models_dir)
    if args.if_missing and target.exists():
        return 0
    print(f"Training the complaint categories on {args.csv}...")
    try:
        report = train_from_csv(
            args.csv,
            settings.nlp_models_dir,
            text_column=args.text_column,
            label_column=args.label_column,
            encoder=sentence_encoder(settings.sentence_model_path),
        )
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(*report.lines(), f"saved: {target}", sep="\n")
    return 0


def ensure_nlp_models(settings: Settings) -> int:
    """Before the assistant starts: train the category model from the shared CFPB file if
    none is trained (minutes, once), and the sentiment model if its data changed."""
    if not settings.nlp_enabled:
        return 0
    load_or_train(settings.nlp_models_dir, sentence_encoder(settings.sentence_model_path))
    if model_file(settings.nlp_models_dir).exists() or not CFPB_CSV.exists():
        return 0
    args = argparse.Namespace(
        csv=CFPB_CSV,
        text_column=CFPB_TEXT_COLUMN,
        label_column=CFPB_LABEL_COLUMN,
        if_missing=True,
    )
    return train_category_model(settings, args)


def print_sentiment_report(settings: Settings) -> int:
    """The sentiment model's held-out accuracy and macro-F1, next to the lexicon alone."""
    encoder = sentence_encoder(settings.sentence_model_path)
    model = load_or_train(settings.nlp_models_dir, encoder)
    print(*evaluate_sentiment(model, DATA_DIR / HELDOUT_FILE).lines(), sep="\n")
    return 0


async def print_summary(settings: Settings, conversation: str) -> int:
    """Analyse a stored conversation now and print what the agent would see."""
    database = Database(settings.effective_database_url)
    try:
        conversation_id = await _conversation_id(database, conversation)
        analysis = None
        if conversation_id is not None:
            analysis = await Analyser(database, NlpModels(settings)).analyse(conversation_id)
    finally:
        await database.dispose()
    if analysis is None:
        print(f"error: no conversation {conversation!r}", file=sys.stderr)
        return 1
    print(analysis.summary.text)
    print(f"Priority: {analysis.priority.priority.value} ({analysis.priority.reason})")
    if analysis.category is not None:
        category = analysis.category
        print(f"Predicted category: {category.category} ({category.confidence:.0%})")
    return 0


async def _conversation_id(database: Database, given: str) -> int | None:
    if given.isdigit():
        return int(given)
    async with database.session() as session:
        found = await conversation_by_public_id(session=session, public_id=given)
        return found.id if found is not None else None


def _category_model(settings: Settings) -> CategoryModel | None:
    path = model_file(settings.nlp_models_dir)
    if not path.exists():
        print(
            f"error: no category model at {path}; train one with "
            "`python -m bot nlp train-categories`",
            file=sys.stderr,
        )
        return None
    return CategoryModel.load(path)


def _column(path: Path, column: str) -> Iterator[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise ValueError(
                f"{path}: no column {column!r}; the columns are {reader.fieldnames}"
                " (choose one with --text-column)"
            )
        for row in reader:
            yield row[column] or ""


def _batches(items: Iterator[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
