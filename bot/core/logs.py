"""Structured logging: one JSON object per line (or readable lines in a terminal), with what
customers wrote, their addresses and any credential masked before a line is written."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from bot.core.redact import redact_fields, redact_text


def redact_event(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask message text, addresses and credentials in every field."""
    return redact_fields(event)


class RedactingFilter(logging.Filter):
    """Masks a standard-library record's message, exception and stack before any handler
    formats it (for handlers that do not use our structlog formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask `record` in place; never drops it."""
        if isinstance(record.msg, dict):
            return True  # a structlog event: `redact_event` masks it field by field
        message = record.getMessage()
        masked = redact_text(message)
        if masked != message:
            if record.name == "uvicorn.access" and isinstance(record.args, tuple):
                # uvicorn's access formatter reads the arguments, not the message.
                record.args = tuple(
                    redact_text(a) if isinstance(a, str) else a for a in record.args
                )
            else:
                record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def install_redaction(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Add a `RedactingFilter` to `handlers`; by default to every handler of every logger so
    far, since libraries (uvicorn, Sanic) give their loggers handlers of their own. Call it
    again after a library configures its logging."""
    if handlers is None:
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        handlers = [
            h for logger in loggers if isinstance(logger, logging.Logger) for h in logger.handlers
        ]
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and the standard library through one JSON (or console) renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                # Last before rendering, so the formatted traceback is masked too.
                redact_event,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    install_redaction()
    # One line per turn is ours; uvicorn's access log would double it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs every request at INFO, including URLs that carry Rasa's token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
