"""Command line: `python -m bot run | train | migrate`."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from pydantic import ValidationError

from bot.db import migrate
from bot.processes import ProcessFailed, Supervisor, assistant_specs
from bot.settings import Settings, get_settings
from bot.training import TrainingError, train


def run(settings: Settings) -> int:
    """Train if needed, migrate, start Rasa, the action server and the app; stop on Ctrl-C."""
    try:
        model = train(settings)
    except TrainingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    migrate(settings.effective_database_url)
    supervisor = Supervisor()
    specs = assistant_specs(settings, model=model)

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        supervisor.start_all(specs, echo=["app"])
        print(
            f"\nThe assistant is running. Web chat: {settings.app_url}/webchat\n"
            f"Health: {settings.app_url}/health   Stop: Ctrl-C\n",
            file=sys.stderr,
            flush=True,
        )
        while (exited := supervisor.first_exited()) is None:
            time.sleep(1)
        print(f"error: {exited.name} stopped; see {exited.log_path}", file=sys.stderr)
        return 1
    except ProcessFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", file=sys.stderr)
        return 0
    finally:
        supervisor.stop_all()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start Rasa, the action server and the app together")
    train_parser = commands.add_parser("train", help="train the Rasa model if its inputs changed")
    train_parser.add_argument("--force", action="store_true", help="train even if up to date")
    commands.add_parser("migrate", help="bring the database schema up to date")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        print(f"error: invalid configuration (environment or .env): {problems}", file=sys.stderr)
        return 2
    if args.command == "run":
        return run(settings)
    if args.command == "train":
        try:
            train(settings, force=args.force)
        except TrainingError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    migrate(settings.effective_database_url)
    return 0
