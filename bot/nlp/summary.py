"""Summaries of a conversation (or a complaint) for the human agent and the complaint record:
a few "Label: ..." lines built from the transcript and the facts the dialogue collected.

The "What happened" line comes from a backend: by default a few of the customer's own
sentences picked with the sentence-embedding model (extractive); with a local Hugging Face
seq2seq model (see `bot.nlp.seq2seq`), the model's text. The other lines always come from
the facts and the transcript, so the agent sees them whichever backend wrote the rest.
Every line is masked (`bot.nlp.masking`) before it leaves this module.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.nlp.masking import CODE_MASK, mask_sensitive

if TYPE_CHECKING:
    from bot.nlp.embeddings import SentenceEncoder

SENTENCE_CHARS = 200  # a picked sentence is cut (at a word) beyond this
MAX_IDENTIFIERS = 10
PER_KIND = 3  # orders, cases, amounts, dates found in the transcript, each
_SPEAKER_LABELS = {"customer": "Customer", "assistant": "Assistant", "agent": "Agent"}


@dataclass(frozen=True)
class Utterance:
    """One message of the conversation."""

    speaker: str  # "customer" | "assistant" | "agent"
    text: str
    sentiment: float | None = None  # -1..1 for customer messages once scored


@dataclass(frozen=True)
class Facts:
    """What the dialogue and the store know, beside the words."""

    customer: str | None = None  # "Alice Example (C-10001), verified by code"
    channel: str | None = None  # "sms"
    identifiers: Mapping[str, str] = field(default_factory=dict)  # {"order": "ORD-10042"}
    wants: str | None = None  # the desired outcome the dialogue collected
    done: Sequence[str] = ()  # what the assistant already did
    category: str | None = None  # complaint category / predicted category
    trend: str | None = None  # sentiment trend, computed elsewhere, printed as given


@dataclass(frozen=True)
class Summary:
    """The few lines ("Label: ...", masked) and the backend that wrote them."""

    text: str
    backend: str  # "extractive" | "seq2seq:<dir name>"


class Summarizer(Protocol):
    """Anything that turns a conversation and its facts into a `Summary`."""

    def summarize(self, utterances: Sequence[Utterance], facts: Facts) -> Summary: ...


class SummarizerModelError(ValueError):
    """The configured summariser model cannot be used (missing, or not a seq2seq model)."""


# --- sentences of the customer --------------------------------------------------------

_QUOTED_REPLY = re.compile(r"^\s*>|^\s*On .{4,200} wrote:\s*$", re.IGNORECASE)
_SIGNATURE = re.compile(r"^\s*(?:--\s*|Sent from my .*|Get Outlook for .*)$", re.IGNORECASE)
_BREAK = re.compile(r"(?<=[.!?])[\"')\]]?\s+|\s*\n\s*")
_ABBREVIATION = re.compile(
    r"\b(?:mr|mrs|ms|dr|st|no|nr|approx|e\.g|i\.e|etc|vs|ref|tel)\.$", re.IGNORECASE
)
_GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|greetings|good\s+(?:morning|afternoon|evening|day))\b"
    r"(?:\s+(?:there|team|all|again|folks))?|dear\s+[^,\n]{1,30}(?=,))[\s,!.:;\-]*",
    re.IGNORECASE,
)
# Words that alone say nothing about the problem ("ok thanks", "yes please", "hi there").
_FILLER_WORDS = (
    "hi hello hey hiya there good morning afternoon evening thanks thank you thx ty ok okay "
    "k yes yeah yep yup no nope sure please pls cheers bye goodbye great fine cool alright "
    "right sorry again much so very lol ta that that's thats it it's is all mate kind "
    "regards best many sincerely done got perfect understood will do wait hang on hold "
    "just a sec second minute me one the for"
)
_FILLER = frozenset(_FILLER_WORDS.split())
_IDENTITY = re.compile(
    r"^(?:it'?s|this is|my name is|i am|i'm)\s+(?-i:[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?)\W*$"
    r"|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b",
    re.IGNORECASE,
)
_PROBLEM = re.compile(
    r"\b(?:never|not|didn'?t|hasn'?t|haven'?t|wasn'?t|isn'?t|won'?t|can'?t|missing|late|"
    r"delay(?:ed)?|broken|damaged|smashed|wrong|faulty|charged|twice|refund|lost|still|"
    r"cancel(?:l?ed)?|complain(?:t)?|arriv(?:e|ed|al)|deliver(?:ed|y)?|parcel|package|"
    r"return(?:ed)?|stolen|waiting|nobody|nothing|problem|issue|error|money|paid)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[\w'’]+")


def customer_sentences(utterances: Sequence[Utterance]) -> list[str]:
    """The customer's sentences that say something (masked, greetings stripped, no fillers,
    codes, names or quoted email replies), in conversation order."""
    found: list[str] = []
    for utterance in utterances:
        if utterance.speaker != "customer":
            continue
        for sentence in _split_sentences(_own_words(mask_sensitive(utterance.text))):
            sentence = _strip_greeting(sentence)
            if _says_something(sentence):
                found.append(sentence)
    return found


def _own_words(text: str) -> str:
    # An email's quoted reply and signature are not what the customer wrote now.
    kept = []
    for line in text.splitlines():
        if _SIGNATURE.match(line):
            break
        if not _QUOTED_REPLY.match(line):
            kept.append(line)
    return "\n".join(kept)


def _split_sentences(text: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for cut in _BREAK.finditer(text):
        piece = text[start : cut.end()].strip()
        # "Mr. Smith", "ref. 123": a dot that does not end the sentence.
        if piece and not (_ABBREVIATION.search(piece.rstrip("\"')]")) and "\n" not in cut[0]):
            pieces.append(piece)
            start = cut.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


def _strip_greeting(sentence: str) -> str:
    rest = _GREETING.sub("", sentence, count=1).strip()
    return rest[:1].upper() + rest[1:] if rest else ""


def _says_something(sentence: str) -> bool:
    words = [w.lower() for w in _WORD.findall(sentence)]
    if not words or all(w in _FILLER or w.isdigit() for w in words):
        return False
    if CODE_MASK in sentence and len(words) < 8:  # "my code is ******"
        return False
    if _IDENTITY.search(sentence) and len(words) < 10:
        return False
    if len(words) == 2 and _PROBLEM.search(sentence):  # "It's broken."
        return True
    return len(words) >= 3 or bool(_identifiers_in(sentence))


def trim_sentence(sentence: str, limit: int = SENTENCE_CHARS) -> str:
    """`sentence` on one line, cut at a word beyond `limit` characters, ending with a stop."""
    sentence = " ".join(sentence.split())
    if len(sentence) > limit:
        sentence = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:-") + "…"
    elif sentence[-1] not in ".!?…":
        sentence += "."
    return sentence


# --- identifiers ----------------------------------------------------------------------

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
# (kind, the label printed before the value, pattern), in the order the line lists them
_KINDS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("order", "order", re.compile(r"\bORD-\d{3,}\b", re.IGNORECASE)),
    (
        "order",
        "order",
        re.compile(
            r"\border\s*(?:(?:number|no\.?|num|ref|id)\s*)?[:#]?\s*(\d{4,12})\b", re.IGNORECASE
        ),
    ),
    ("case", "case", re.compile(r"\bCMP-[A-Z0-9]{4,}\b", re.IGNORECASE)),
    (
        "amount",
        "",
        re.compile(
            r"[£$€]\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?(?!\d)"
            r"|\b(?:GBP|USD|EUR)\s?\d[\d,]*(?:\.\d{1,2})?\b"
            r"|\b\d[\d,]*(?:\.\d{1,2})?\s?(?:GBP|USD|EUR|pounds|euros|dollars)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "date",
        "",
        re.compile(
            rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\b(?:,?\s+(?:19|20)\d\d\b)?"
            rf"|\b{_MONTH}\s+{_DAY}\b(?:,?\s+(?:19|20)\d\d\b)?"
            r"|\b(?:19|20)\d\d-[01]\d-[0-3]\d\b"
            r"|\b(?:[0-3]?\d)[/.](?:[01]?\d)[/.](?:(?:19|20)\d\d|\d\d)\b",
            re.IGNORECASE,
        ),
    ),
)


def _identifiers_in(text: str) -> list[tuple[str, str]]:
    """(kind, label) of each identifier in `text`: orders, cases, then amounts and dates."""
    found: list[tuple[int, int, str, str]] = []  # (rank, position, kind, label)
    for rank, (kind, prefix, pattern) in enumerate(_KINDS):
        for match in pattern.finditer(text):
            value = match.group(match.lastindex or 0)
            label = f"{prefix} {value.upper()}" if prefix else value
            found.append((rank, match.start(), kind, label))
    return [(kind, label) for _, _, kind, label in sorted(found)]


def transcript_identifiers(utterances: Sequence[Utterance], facts: Facts) -> list[str]:
    """The facts' identifiers, then those the transcript names (up to three orders, cases,
    amounts and dates), each once, as "order ORD-10042" or "£49.99", masked."""
    known = {kind: value for kind, value in facts.identifiers.items() if value}
    labels = [f"{kind} {value}" for kind, value in known.items()]
    seen = {_identity(value) for value in known.values()}
    per_kind: Counter[str] = Counter()
    # The assistant's own prompts hold examples ("for example ORD-482913"); what it really
    # issued (case IDs) is in the facts.
    text = "\n".join(mask_sensitive(u.text) for u in utterances if u.speaker != "assistant")
    for kind, label in _identifiers_in(text):
        key = _identity(label)
        if key not in seen and per_kind[kind] < PER_KIND:
            seen.add(key)
            per_kind[kind] += 1
            labels.append(label)
    return [mask_sensitive(label) for label in labels[:MAX_IDENTIFIERS]]


def _identity(label: str) -> str:
    # "order ORD-10042" and "ORD-10042", "£1,249.00" and "£1249.00" are one identifier.
    value = label.split(" ", 1)[1] if label.startswith(("order ", "case ")) else label
    return re.sub(r"[\s,]", "", value).lower()


# --- the lines ------------------------------------------------------------------------

_WANT = re.compile(
    r"\b(?:i\s+(?:just\s+|really\s+|only\s+)?(?:want|need|would\s+like|'d\s+like|expect)"
    r"|i\s+would\s+(?:prefer|rather)|(?:can|could)\s+i\s+(?:get|have)"
    r"|please\s+(?:refund|replace|resend|send|cancel))\b",
    re.IGNORECASE,
)


def compose_summary(
    utterances: Sequence[Utterance], facts: Facts, *, happened: str, backend: str
) -> Summary:
    """The summary's lines from `happened` (the backend's account) and the facts; a line
    with nothing to say is left out. Everything is masked."""
    who = " · ".join(part for part in (facts.customer, facts.channel) if part)
    identifiers = transcript_identifiers(utterances, facts)
    lines = [
        ("Customer" if facts.customer else "Channel", who),
        ("What happened", " ".join(happened.split())),
        ("Category", facts.category or ""),
        ("Identifiers", " · ".join(identifiers)),
        ("Wants", facts.wants or _wants_in(utterances)),
        ("Done", "; ".join(d for d in facts.done if d)),
        ("Sentiment", facts.trend or _scores(utterances)),
    ]
    text = "\n".join(f"{label}: {value}" for label, value in lines if value)
    return Summary(text=mask_sensitive(text), backend=backend)


def _wants_in(utterances: Sequence[Utterance]) -> str:
    # Without a collected outcome, the customer's own latest "I want ..." in quotes.
    for sentence in reversed(customer_sentences(utterances)):
        match = _WANT.search(sentence)
        if match:
            return f'"{trim_sentence(sentence[match.start() :], 120).rstrip(".")}"'
    return ""


def _scores(utterances: Sequence[Utterance]) -> str:
    scores = [
        u.sentiment for u in utterances if u.speaker == "customer" and u.sentiment is not None
    ]
    if not scores:
        return ""
    return "customer scores " + ", ".join(f"{s:+.2f}" for s in scores[-5:]) + " (latest last)"


def transcript_lines(utterances: Sequence[Utterance]) -> list[str]:
    """The conversation as "Customer: ..." / "Assistant: ..." lines, masked."""
    lines = []
    for utterance in utterances:
        text = " ".join(mask_sensitive(utterance.text).split())
        if text:
            speaker = _SPEAKER_LABELS.get(utterance.speaker, utterance.speaker.title())
            lines.append(f"{speaker}: {text}")
    return lines


# --- extractive backend ---------------------------------------------------------------


class ExtractiveSummarizer:
    """Picks the customer's most representative sentences with sentence embeddings: close
    to everything the customer said, with a bonus for identifiers and problem words, and
    not a repeat of a sentence already picked."""

    def __init__(self, encoder: SentenceEncoder | None = None, *, sentences: int = 3) -> None:
        self._encoder = encoder
        self.sentences = sentences

    def summarize(self, utterances: Sequence[Utterance], facts: Facts) -> Summary:
        """The summary with the picked sentences as its "What happened" line."""
        happened = " ".join(trim_sentence(s) for s in self.pick(customer_sentences(utterances)))
        return compose_summary(utterances, facts, happened=happened, backend="extractive")

    def pick(self, sentences: Sequence[str]) -> list[str]:
        """Up to `self.sentences` of `sentences`, in their original order."""
        if len(sentences) <= self.sentences:
            return list(sentences)
        vectors = self._sentence_encoder().encode(list(sentences))  # one batch: ~10 ms each
        similarity = vectors @ vectors.T
        centrality = (similarity.sum(axis=1) - 1.0) / (len(sentences) - 1)
        score = centrality + np.array([_bonus(s) for s in sentences])
        chosen: list[int] = []
        while len(chosen) < self.sentences:
            redundancy = similarity[:, chosen].max(axis=1) if chosen else 0.0
            mmr = 0.7 * score - 0.3 * redundancy
            mmr[chosen] = -np.inf
            chosen.append(int(np.argmax(mmr)))
        return [sentences[i] for i in sorted(chosen)]

    def _sentence_encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            from bot.nlp.embeddings import sentence_encoder

            self._encoder = sentence_encoder()
        return self._encoder


def _bonus(sentence: str) -> float:
    words = len(_WORD.findall(sentence))
    problems = {m.lower() for m in _PROBLEM.findall(sentence)}
    bonus = 0.05 if _identifiers_in(sentence) else 0.0
    bonus += 0.03 * min(len(problems), 4)
    bonus += 0.05 * min(words, 12) / 12  # a longer sentence says more
    # "I want ..." is what the Wants line says; this line is for what happened.
    return bonus - (0.1 if _WANT.search(sentence) else 0.0)
