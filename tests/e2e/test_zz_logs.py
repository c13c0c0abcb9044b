"""After the end-to-end tests: no process's log file (the app's, Rasa's, the action server's,
rotated ones included) holds what customers wrote, their phone numbers, email addresses or
web chat ids, a credential or a secret of the stack.

This module's name makes it the last of the directory; it uses no stack of its own but reads
the logs of every stack the session started (none: skipped)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.log_scan import log_files_in, scan, sensitive_values
from tests.support.stack import STACKS


def test_no_process_logged_what_customers_sent_or_a_credential() -> None:
    if not STACKS:
        pytest.skip("no end-to-end stack ran in this session")
    for stack in STACKS:
        files = log_files_in(stack.log_dir)
        names = {f.name for f in files}
        assert {"app.log", "rasa.log", "action-server.log"} <= names, names
        # The files are the real ones: the app logged the customers' turns there.
        assert '"event": "turn"' in stack.app_log.read_text()
        sensitive = (
            stack.sensitive if stack.sensitive is not None else sensitive_values(stack.settings)
        )
        kinds = set(sensitive.values())
        assert any(k.endswith("message text") for k in kinds), kinds
        leaks = scan(files, sensitive)
        assert not leaks, "\n".join(map(str, leaks[:30]))


def test_the_scan_finds_what_was_planted(tmp_path: Path) -> None:
    clean = json.dumps({"event": "turn", "conversation_id": "conv-1", "status": "answered"})
    (tmp_path / "app.log").write_text(f"{clean}\n{clean}\n")
    (tmp_path / "app.log.1").write_text("INFO ok\nWARNING retry for My Order Never Came\n")
    (tmp_path / "rasa.log").write_text("text=hello sender=conv-1\n")
    sensitive = {"my order never came": "webchat message text", "+14155550100": "phone"}
    leaks = scan(log_files_in(tmp_path), sensitive)
    assert [(leak.path.name, leak.line_number, leak.kind) for leak in leaks] == [
        ("app.log.1", 2, "webchat message text"),
        ("rasa.log", 1, "unmasked"),
    ]
    assert scan([tmp_path / "app.log"], sensitive) == []
