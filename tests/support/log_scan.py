"""What the end-to-end tests sent that no process's log may contain, and the scan for it.

The values come from where they really are: the stack's database (what customers wrote,
their phone numbers, email addresses and web chat visitor ids), the stack's settings (its
secrets), and the credentials the test helpers were given (`tests.support.credentials`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from bot.core.db import Database
from bot.core.models import Channel, ChannelIdentity, Complaint, Customer, Direction, Message
from bot.core.redact import redact_line
from bot.core.settings import Settings
from handoff.models import Agent, Handoff
from tests.support.agents import PASSWORD
from tests.support.credentials import remembered

# Shorter fragments of what customers wrote ("yes", "agent", "thanks") also occur in
# ordinary log lines, so only lines of message text at least this long are looked for.
MIN_TEXT_CHARS = 12
MIN_VALUE_CHARS = 6


@dataclass(frozen=True)
class Leak:
    """A line of a log file that holds something it must not."""

    path: Path
    line_number: int
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path.name}:{self.line_number}: {self.kind}: {self.excerpt}"


def _add(found: dict[str, str], kind: str, value: str | None, minimum: int) -> None:
    value = (value or "").strip()
    if len(value) >= minimum:
        found.setdefault(value, kind)


def _add_text(found: dict[str, str], kind: str, text: str | None) -> None:
    for line in (text or "").splitlines():
        # The start of each line is enough: a repr cut short keeps only that much of it.
        _add(found, kind, line.strip()[:MIN_TEXT_CHARS], MIN_TEXT_CHARS)


def _add_phone(found: dict[str, str], kind: str, phone: str | None) -> None:
    _add(found, kind, phone, MIN_VALUE_CHARS)
    # URL-encoded forms carry "+14155550100" as "%2B14155550100".
    _add(found, kind, (phone or "").lstrip("+"), 8)


async def _from_store(database_url: str) -> dict[str, str]:
    found: dict[str, str] = {}
    database = Database(database_url)
    try:
        async with database.session() as session:
            for message in await session.scalars(
                select(Message).where(Message.direction == Direction.INBOUND)
            ):
                _add_text(found, f"{message.channel.value} message text", message.text)
                _add_text(found, "email subject", (message.payload or {}).get("subject"))
            for identity in await session.scalars(select(ChannelIdentity)):
                if identity.channel in (Channel.SMS, Channel.VOICE):
                    _add_phone(found, f"{identity.channel.value} phone number", identity.address)
                else:
                    _add(found, f"{identity.channel.value} address", identity.address, 6)
            for customer in await session.scalars(select(Customer)):
                _add(found, "customer email", customer.email, MIN_VALUE_CHARS)
                _add_phone(found, "customer phone number", customer.phone)
            for complaint in await session.scalars(select(Complaint)):
                _add_text(found, "complaint text", complaint.description)
                _add_text(found, "complaint outcome", complaint.desired_outcome)
            for agent in await session.scalars(select(Agent)):
                _add(found, "agent email", agent.email, MIN_VALUE_CHARS)
                _add_phone(found, "agent phone number", agent.phone)
            for number in await session.scalars(select(Handoff.callback_number)):
                _add_phone(found, "callback number", number)
    finally:
        await database.dispose()
    return found


def sensitive_values(settings: Settings) -> dict[str, str]:
    """Everything of a stack's that no log may hold, each with what it is."""
    found = asyncio.run(_from_store(settings.effective_database_url))
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            _add(found, f"setting {name.upper()}", value.get_secret_value(), 8)
    _add(found, "agent password", PASSWORD, 8)
    for value, kind in remembered().items():
        _add(found, kind, value, 8)
    return found


def scan(paths: Iterable[Path], sensitive: Mapping[str, str]) -> list[Leak]:
    """Lines of `paths` that hold a value of `sensitive` (in any case), or anything the log
    masking would still mask (so a file written without it is caught too)."""
    by_folded = {value.casefold(): kind for value, kind in sensitive.items()}
    pattern = re.compile(
        "|".join(re.escape(v) for v in sorted(by_folded, key=len, reverse=True)) or "(?!)"
    )
    leaks: list[Leak] = []
    for path in paths:
        # Lines as the supervisor wrote them: split at newlines only, not at a lone \r.
        with path.open(encoding="utf-8", errors="replace", newline="") as file:
            for number, line in enumerate(file, start=1):
                line = line.rstrip("\r\n")
                for match in pattern.finditer(line.casefold()):
                    leaks.append(Leak(path, number, by_folded[match.group(0)], line[:200]))
                if redact_line(line) != line:
                    leaks.append(Leak(path, number, "unmasked", line[:200]))
    return leaks


def log_files_in(directory: Path) -> list[Path]:
    """Every log file in `directory`, rotated ones included."""
    return sorted(p for p in directory.iterdir() if p.is_file() and ".log" in p.name)
