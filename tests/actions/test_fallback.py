"""Counting the assistant's misses: only the latest run of fallbacks counts."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.fallback import consecutive_misses


def _user(intent: str) -> dict[str, Any]:
    return {"event": "user", "text": "...", "parse_data": {"intent": {"name": intent}}}


def test_consecutive_misses_counts_only_the_latest_run() -> None:
    events = [
        _user("nlu_fallback"),
        _user("greet"),
        {"event": "bot", "text": "hi"},
        _user("nlu_fallback"),
        {"event": "action", "name": "action_handle_nlu_fallback"},
        _user("nlu_fallback"),
    ]
    tracker = Tracker("c", {}, {}, events, False, None, {}, "action_listen")
    assert consecutive_misses(tracker) == 2
    tracker = Tracker("c", {}, {}, [*events, _user("greet")], False, None, {}, "action_listen")
    assert consecutive_misses(tracker) == 0
