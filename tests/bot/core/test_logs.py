"""Our processes mask what they log themselves (without the supervisor in front of them):
structlog events, standard-library records, uvicorn's own handlers, tracebacks."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
import structlog
import uvicorn.config

from bot.core.logs import configure_logging

_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Leave the logging configuration as the test found it."""
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level)
        for name in _LOGGERS
    }
    yield
    for name, (handlers, level) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).setLevel(level)
    structlog.reset_defaults()


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_structlog_events_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    log = structlog.get_logger("test")
    log.info("inbound from +14155550100", text="my card is 4111 1111 1111 1111", user_id="v-1")
    (line,) = _json_lines(capsys.readouterr().err)
    assert line["event"] == "inbound from [phone]"
    assert line["text"] == "[text]"
    assert line["user_id"] == "[address]"


def test_tracebacks_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging()
    try:
        raise ValueError("no customer with email jane@example.com")
    except ValueError:
        structlog.get_logger("test").exception("lookup_failed")
        logging.getLogger("stdlib").exception("lookup failed for %s", "+14155550100")
    err = capsys.readouterr().err
    assert "jane@example.com" not in err
    assert "4155550100" not in err
    structured, plain = _json_lines(err)
    assert "ValueError: no customer with email [email]" in str(structured["exception"])
    assert plain["event"] == "lookup failed for [phone]"


def test_uvicorn_handlers_are_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    # uvicorn configures its loggers (with their own handlers) before it imports the app.
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    configure_logging()
    logging.getLogger("uvicorn.error").info(
        '%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/webchat/ws?user_id=v-secret"
    )
    logging.getLogger("uvicorn.access").warning(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/x?token=abc123", "1.1", 200
    )
    err = capsys.readouterr()
    output = err.out + err.err
    assert "v-secret" not in output and "abc123" not in output
    assert '"WebSocket /webchat/ws?user_id=[address]" [accepted]' in output
    assert '"GET /x?token=[secret] HTTP/1.1" 200' in output
