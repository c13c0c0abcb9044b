"""Departments, queues, skills and opening hours, read from `handoff/queues.yml`.

Pure: which queue a conversation goes to, which queues an agent can serve, whether a queue
is open at a moment and when it opens next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DEFAULT_QUEUES_FILE = Path(__file__).resolve().parent / "queues.yml"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
MINUTES_A_DAY = 24 * 60


class QueueConfigError(ValueError):
    """The queues file is wrong; the message says where and how to fix it."""


@dataclass(frozen=True)
class Queue:
    """One queue: who may take its conversations, what goes there, when it is staffed.

    `hours[weekday]` holds (start, end) minutes of the day in the queue's time zone.
    """

    key: str
    department: str
    name: str
    skills: frozenset[str]
    intents: frozenset[str]
    complaint_categories: frozenset[str]
    timezone: ZoneInfo
    hours: Mapping[int, tuple[tuple[int, int], ...]]

    def is_open(self, at: datetime) -> bool:
        """Whether the queue is staffed at `at` (any timezone-aware moment)."""
        local = at.astimezone(self.timezone)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.hours.get(local.weekday(), ()))

    def next_opening(self, at: datetime) -> datetime | None:
        """When the queue is next open, from `at` on (`at` itself if open); None if never."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.timezone)
        for days_ahead in range(8):
            day = (local + timedelta(days=days_ahead)).date()
            for start, _ in sorted(self.hours.get(day.weekday(), ())):
                opening = datetime(
                    day.year, day.month, day.day, start // 60, start % 60, tzinfo=self.timezone
                )
                if opening > local:
                    return opening
        return None

    def serves(self, skills: Iterable[str]) -> bool:
        """Whether an agent with `skills` may take this queue's conversations."""
        return self.skills <= set(skills)


@dataclass(frozen=True)
class QueueDirectory:
    """Every queue, in file order, and where a conversation without a match goes."""

    queues: tuple[Queue, ...]
    default_key: str

    def get(self, key: str) -> Queue:
        """A queue by key (`department.queue`); KeyError if there is none."""
        for queue in self.queues:
            if queue.key == key:
                return queue
        raise KeyError(key)

    def route(self, *, intent: str | None = None, complaint_category: str | None = None) -> Queue:
        """The queue for a conversation: by complaint category, else intent, else default."""
        if complaint_category:
            for queue in self.queues:
                if complaint_category in queue.complaint_categories:
                    return queue
        if intent:
            for queue in self.queues:
                if intent in queue.intents:
                    return queue
        return self.get(self.default_key)

    def served_by(self, skills: Iterable[str]) -> list[str]:
        """The keys of the queues an agent with `skills` can take conversations from."""
        owned = set(skills)
        return [queue.key for queue in self.queues if queue.serves(owned)]


def load_queues(path: Path = DEFAULT_QUEUES_FILE) -> QueueDirectory:
    """Read and check the queues file; QueueConfigError says what is wrong and where."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise QueueConfigError(f"{path}: cannot read it: {error}") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("departments"), dict):
        raise QueueConfigError(f"{path}: expected a mapping with 'departments'")
    default_tz = _zone(raw.get("timezone", "UTC"), f"{path}: timezone")
    queues = []
    for dept_key, department in raw["departments"].items():
        where = f"{path}: departments.{dept_key}"
        if not isinstance(department, dict) or not isinstance(department.get("queues"), dict):
            raise QueueConfigError(f"{where}: expected 'name' and a mapping of 'queues'")
        for queue_key, spec in department["queues"].items():
            queues.append(
                _queue(
                    f"{dept_key}.{queue_key}",
                    str(department.get("name", dept_key)),
                    spec,
                    default_tz,
                    f"{where}.queues.{queue_key}",
                )
            )
    directory = QueueDirectory(tuple(queues), str(raw.get("default_queue", "")))
    if directory.default_key not in {q.key for q in queues}:
        raise QueueConfigError(
            f"{path}: default_queue {directory.default_key!r} is not one of "
            f"{', '.join(q.key for q in queues)}"
        )
    return directory


def _queue(key: str, department: str, spec: Any, default_tz: ZoneInfo, where: str) -> Queue:
    if not isinstance(spec, dict):
        raise QueueConfigError(f"{where}: expected a mapping")
    timezone = _zone(spec["timezone"], f"{where}.timezone") if "timezone" in spec else default_tz
    return Queue(
        key=key,
        department=department,
        name=str(spec.get("name", key)),
        skills=_names(spec.get("skills"), f"{where}.skills"),
        intents=_names(spec.get("intents"), f"{where}.intents"),
        complaint_categories=_names(
            spec.get("complaint_categories"), f"{where}.complaint_categories"
        ),
        timezone=timezone,
        hours=_hours(spec.get("hours") or {}, f"{where}.hours"),
    )


def _zone(name: Any, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise QueueConfigError(f"{where}: unknown time zone {name!r}") from error


def _names(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueueConfigError(f"{where}: expected a list of names")
    return frozenset(value)


def _hours(spec: Any, where: str) -> dict[int, tuple[tuple[int, int], ...]]:
    if not isinstance(spec, dict):
        raise QueueConfigError(f"{where}: expected a mapping such as {{mon-fri: '08:00-20:00'}}")
    hours: dict[int, list[tuple[int, int]]] = {}
    for days, ranges in spec.items():
        for day in _days(str(days), where):
            for text in ranges if isinstance(ranges, list) else [ranges]:
                hours.setdefault(day, []).append(_range(str(text), f"{where}.{days}"))
    return {day: tuple(sorted(ranges)) for day, ranges in hours.items()}


def _days(text: str, where: str) -> list[int]:
    first, _, last = text.lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        raise QueueConfigError(f"{where}: {text!r} is not a day (mon..sun) or range (mon-fri)")
    start, end = DAYS.index(first), DAYS.index(last or first)
    if end < start:
        raise QueueConfigError(f"{where}: {text!r} runs backwards")
    return list(range(start, end + 1))


def _range(text: str, where: str) -> tuple[int, int]:
    match = _RANGE.match(text.strip())
    if match is None:
        raise QueueConfigError(f"{where}: {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or not 0 <= start < end <= MINUTES_A_DAY:
        raise QueueConfigError(f"{where}: {text!r} is not a time range within one day")
    return start, end
