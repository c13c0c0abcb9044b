"""Masking what must never reach a log: what customers wrote, their phone numbers, email
addresses and card numbers, credentials, one-time codes.

Two entry points: `redact_line` for a line of any process's output (our JSON lines, Rasa's
and the action server's text lines, tracebacks) and `redact_fields` for a structured event
before it is rendered. Masks are placeholders in brackets that no rule matches again, so
masking twice gives the same line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

TEXT = "[text]"
SECRET = "[secret]"
ADDRESS = "[address]"
PHONE = "[phone]"
EMAIL = "[email]"
CARD = "[card]"
CODE = "[code]"
VALUE = "[value]"

# Fields whose whole value is what a customer wrote (or is about to be sent to them).
TEXT_FIELDS = frozenset(
    {
        "text",
        "message",
        "body",
        "subject",
        "speechresult",
        "unstablespeechresult",
        "transcriptiontext",
        "transcript",
        "display_text",
        "user_message",
        "content",
        # complaints (our slot and column names)
        "description",
        "complaint_description",
        "summary",
        "note",
        "comment",
    }
)
# Fields that identify a customer or let someone act as them.
ADDRESS_FIELDS = frozenset(
    {"user_id", "visitor_id", "address", "from", "to", "caller", "called", "recipient"}
)
SECRET_FIELDS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "session",
        "credential",
        "credentials",
        "password",
        "passwd",
        "secret",
        "api_key",
        "apikey",
        "authorization",
        "cookie",
        "set-cookie",
        "x-twilio-signature",
    }
)
# One-time codes: any digits in these fields, six digits in a field merely called `code`
# (Twilio's error codes, also logged as `code`, have five).
OTP_FIELDS = frozenset({"otp", "one_time_code", "verification_code", "passcode", "pin"})

_FIELD_MASKS: dict[str, str] = (
    dict.fromkeys(TEXT_FIELDS, TEXT)
    | dict.fromkeys(ADDRESS_FIELDS, ADDRESS)
    | dict.fromkeys(SECRET_FIELDS, SECRET)
    | dict.fromkeys(OTP_FIELDS, CODE)
)


def field_mask(name: str) -> str | None:
    """The mask for the whole value of a field called `name`, or None if it has none."""
    return _FIELD_MASKS.get(name.lower())


_NAMES = "|".join(re.escape(n) for n in sorted(_FIELD_MASKS, key=len, reverse=True))
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
# "text": "...", 'text': '...' (JSON, Python reprs of dicts; a repr cut short by whoever
# logged it ends without its quote)
_QUOTED_OR_CUT = r"\"(?:[^\"\\]|\\.)*(?:\"|$)|'(?:[^'\\]|\\.)*(?:'|$)"
_KEYED_QUOTED = re.compile(
    rf"(?P<key>([\"'])(?P<name>{_NAMES})\2\s*:\s*)(?P<value>{_QUOTED_OR_CUT})", re.IGNORECASE
)
# text="..." or text='...' (key=value renderers)
_KV_QUOTED = re.compile(
    rf"(?P<key>(?<![\w.-])(?P<name>{_NAMES})=)(?P<value>{_QUOTED})", re.IGNORECASE
)
# text=words up to the next ` key=`, `&` or the end of the line (structlog's console
# renderer does not quote strings; url-encoded forms end a value at `&`).
_KV_BARE = re.compile(
    rf"(?P<key>(?<![\w.?&-])(?P<name>{_NAMES})=)(?P<value>[^&\s\"'][^&\n]*?)"
    r"(?=\s+[\w.-]+=|&|\s*$)",
    re.IGNORECASE,
)
_CODE_FIELD = re.compile(
    rf"(?P<key>(?:[\"']?\b(?:code|{'|'.join(OTP_FIELDS)})[\"']?\s*[:=]\s*[\"']?))"
    r"(?P<value>\d{6})(?!\d)",
    re.IGNORECASE,
)
# ?a=1&b=2 in URLs: values can be visitor ids, tokens, signatures
_QUERY_VALUE = re.compile(r"(?P<key>[?&](?P<name>[\w.\-\[\]%]+)=)(?P<value>[^&\s\"'#<>]+)")
_BEARER = re.compile(r"\b(?P<key>(?:Bearer|Basic|Token)\s+)(?P<value>[\w\-.~+/]{8,}=*)")
# (starting only where a run of such characters starts: linear time on long lines)
_EMAIL = re.compile(r"(?<![\w.%+\-])[\w.%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# 13-19 digits, optionally grouped by single spaces or dashes (Luhn-valid or not)
_CARD = re.compile(r"(?<![\w\-])(?:\d[ \-]?){12,18}\d(?![\w\-])")
_PHONE_PATTERNS = (
    # international: +44 20 7946 0958, +1 (415) 555-0100, +14155550100
    r"\+\d{1,3}(?:[ .\-]?\(?\d{1,4}\)?){2,6}",
    # North American: (415) 555-0100, 415-555-0100, 415.555.0100
    r"\(\d{3}\)\s?\d{3}[ .\-]\d{4}",
    r"\d{3}[.\-]\d{3}[.\-]\d{4}",
    # national with a trunk zero: 020 7946 0958, 07700 900123
    r"0\d{2,4}[ \-]\d{3,6}(?:[ \-]\d{3,4})?",
    # bare runs of 10 to 12 digits (longer ones are cards)
    r"\d{10,12}",
)
_PHONE = re.compile(rf"(?<![\w\-+.:/])(?:{'|'.join(_PHONE_PATTERNS)})(?!\w|-|\.\d)")
# Signed tokens (header.payload.signature, payload.signature): 20+ url-safe characters
# with a dot, a digit and a capital (dotted module names and file names have no digit
# and capital together, or shorter parts).
_DOTTED_TOKEN = re.compile(
    r"(?<![\w\-./])(?=[\w\-.]{20})(?=[\w\-.]*[0-9])(?=[\w\-.]*[A-Z])"
    r"[\w\-]{8,}(?:\.[\w\-]{4,}){1,3}=*(?![\w\-./])"
)
# Random-looking runs of 32+ url-safe characters mixing cases and digits (url-safe
# tokens); Twilio's ids (two capitals and 32 hex digits) are kept, they correlate logs.
_LONG_SECRET = re.compile(
    r"(?<![\w\-])(?![A-Z]{2}[0-9a-f]{32}(?![\w\-]))"
    r"(?=[\w\-]*[0-9])(?=[\w\-]*[A-Z])(?=[\w\-]*[a-z])[\w\-]{32,}(?![\w\-])"
)
# SQLAlchemy and the drivers quote the statement's parameters and conflicting keys.
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s*(?:\(Background|$))", re.DOTALL)
_SQL_KEY = re.compile(r"(?P<key>Key \([^)]*\)=)\((?P<value>[^)]*)\)")

_SIX_DIGITS = re.compile(r"\d{6}")
_MASKS = frozenset({TEXT, SECRET, ADDRESS, PHONE, EMAIL, CARD, CODE, VALUE})
# Structured tracebacks (structlog's, as Rasa renders them) list each frame's local
# variables: the customer's message, the tracker's slots. Only their names are kept.
_LOCALS = "locals"


def _by_name(match: re.Match[str]) -> str:
    # The value of a named field, masked whole (quotes kept) unless it already is.
    value = match.group("value")
    if value.strip("\"'") in _MASKS:
        return match.group(0)
    mask = field_mask(match.group("name")) or SECRET
    if value[:1] in "\"'":
        mask = value[0] + mask + value[0]
    return match.group("key") + mask


def _phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    return PHONE if 8 <= digits <= 15 else match.group(0)


def _keep_key(mask: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return match.group("key") + mask

    return replace


_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_SQL_PARAMETERS, f"[parameters: {SECRET}]"),
    (_SQL_KEY, lambda m: f"{m.group('key')}({SECRET})"),
    (_KEYED_QUOTED, _by_name),
    (_KV_QUOTED, _by_name),
    (_KV_BARE, _by_name),
    (_QUERY_VALUE, _by_name),
    (_CODE_FIELD, _keep_key(CODE)),
    (_BEARER, _keep_key(SECRET)),
    (_EMAIL, EMAIL),
    (_DOTTED_TOKEN, SECRET),
    (_LONG_SECRET, SECRET),
    (_CARD, CARD),
    (_PHONE, _phone),
)


def redact_text(text: str) -> str:
    """`text` with every phone number, email, card number, credential and keyed text masked."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def redact_value(name: str, value: Any) -> Any:
    """A field's value as it may be logged: masked whole by its name, else by its content."""
    mask = field_mask(name)
    if mask is not None and value not in (None, "", [], {}):
        return mask
    if name == _LOCALS and isinstance(value, Mapping):
        return dict.fromkeys(value, VALUE)
    if name.lower() == "code" and _SIX_DIGITS.fullmatch(str(value)):
        return CODE
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return redact_fields(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value("", item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Anything else would be rendered by its repr, which can hold anything.
    return redact_text(repr(value))


def redact_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A structured event with every field masked as `redact_value` says."""
    return {key: redact_value(str(key), value) for key, value in fields.items()}


def redact_line(line: str) -> str:
    """One line of a process's output, masked. A JSON object (alone on the line, or after a
    prefix such as Rasa's `2024-05-01 12:00:00 ERROR logger - `) is masked field by field
    and stays valid JSON."""
    start = line.find("{")
    if start >= 0 and line.rstrip().endswith("}"):
        try:
            event = json.loads(line[start:])
        except ValueError:
            event = None
        if isinstance(event, dict):
            masked = redact_fields(event)
            rest = line[start:] if masked == event else json.dumps(masked, ensure_ascii=False)
            return redact_text(line[:start]) + rest
    return redact_text(line)
