"""Each process's log file under var/log: what the process writes (stdout and stderr), masked
line by line, in a file rotated at a size so the disk never fills.

The supervisor reads a child's output through a pipe: Rasa's and the action server's lines
are masked the same way as ours, whatever they log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import IO, TextIO

from bot.core.redact import redact_line

# A longer line is cut: one request's worth of output must not be one rotation's worth.
MAX_LINE_CHARS = 16 * 1024
_READ_LIMIT = 4 * MAX_LINE_CHARS


class LogFile:
    """An append-only log file rotated at `max_bytes`, keeping `backups` old ones
    (`app.log.1` the newest of them)."""

    def __init__(self, path: Path, *, max_bytes: int, backups: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handler = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, line: str) -> None:
        """Append one line (rotating first if it would not fit)."""
        self._handler.handle(logging.makeLogRecord({"msg": line, "args": None}))

    def close(self) -> None:
        """Flush and close the file."""
        self._handler.close()


def log_files(path: Path) -> list[Path]:
    """`path` and its rotated predecessors that exist, newest first."""
    rotated = sorted(
        (p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]),
    )
    return ([path] if path.exists() else []) + rotated


def masked_lines(stream: IO[bytes]) -> Iterator[str]:
    """The lines of a process's output, decoded, cut to `MAX_LINE_CHARS` and masked."""
    line, cut = b"", False
    while chunk := stream.readline(_READ_LIMIT):
        if len(line) < _READ_LIMIT:
            line += chunk
        else:
            cut = True  # the rest of an overlong line is dropped, not written as lines
        if chunk.endswith(b"\n"):
            yield _mask(line, cut)
            line, cut = b"", False
    if line:
        yield _mask(line, cut)


def _mask(raw: bytes, cut: bool) -> str:
    # Masked before it is cut, so no cut leaves half a phone number or token unmasked.
    text = redact_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    if cut or len(text) > MAX_LINE_CHARS:
        return text[:MAX_LINE_CHARS] + f" [line cut at {MAX_LINE_CHARS} characters]"
    return text


class OutputPump(threading.Thread):
    """Copies a child's output into its log file (and the terminal), masked line by line."""

    def __init__(self, name: str, stream: IO[bytes], log: LogFile, *, echo: TextIO | None):
        super().__init__(name=f"log-{name}", daemon=True)
        self._stream = stream
        self._log = log
        self._echo = echo

    def run(self) -> None:
        """Until the child closes its output."""
        try:
            for line in masked_lines(self._stream):
                self._log.write(line)
                if self._echo is not None:
                    print(line, file=self._echo, flush=True)
        finally:
            self._log.close()
            self._stream.close()
