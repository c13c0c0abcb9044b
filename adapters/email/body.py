"""The customer's own words in a mail body: decoded whatever the charset, format=flowed
rejoined, quoted history (Gmail, Outlook, Apple Mail) and signatures cut, HTML turned into
text. Pure string functions."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Control characters a mail's text must not carry (line breaks and tabs are kept).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Lone surrogates: what a declared charset such as utf-7 or unicode-escape can decode to.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_BLANK_RUNS = re.compile(r"\n{3,}")
# "On <date>, <name> wrote:" and its translations; a time or an address must appear in it
# so a customer's own "On 5 May I wrote:" is not taken for a quote header.
_WROTE = re.compile(
    r"^\s*(on|le|am|el|op|il|em)\b(?=.*(\d[:.]\d\d|@)).{0,300}?"
    r"(wrote|a écrit|schrieb|escribió|schreef|ha scritto|escreveu)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_WROTE_START = re.compile(r"^\s*(on|le|am|el|op|il|em)\b", re.IGNORECASE)
_ORIGINAL_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORE_RULE = re.compile(r"^\s*_{10,}\s*$")
_FROM_FIELD = re.compile(r"^\s*\*?(from|von|de|van|da)\s*:\*?\s*\S", re.IGNORECASE)
_SENT_FIELD = re.compile(
    r"^\s*\*?(sent|date|gesendet|datum|envoyé|enviado|verzonden|inviato)\s*:", re.IGNORECASE
)
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(sent from my \S.*|sent from (mail|outlook|yahoo mail)\b.*|sent with \S+ \S.*"
    r"|get outlook for (ios|android)\b.*|envoyé de mon \S.*|von meinem \S.* gesendet\.?"
    r"|enviado desde mi \S.*)$",
    re.IGNORECASE,
)
_SIGNATURE_DELIMITER = re.compile(r"^--\s?$")


def printable(text: str) -> str:
    """`text` fit to show and to store, the same on SQLite and PostgreSQL: control
    characters dropped (NUL included, which PostgreSQL refuses in text and in JSON), lone
    surrogates (not UTF-8) replaced by U+FFFD; line breaks and tabs kept."""
    return _SURROGATES.sub("\ufffd", CONTROL.sub("", text))


def decode_bytes(data: bytes, declared: str | None) -> str:
    for charset in _charsets_to_try(declared, data):
        try:
            return data.decode(charset)
        except (LookupError, UnicodeError):
            continue
    return data.decode("cp1252", errors="replace")


def _charsets_to_try(declared: str | None, data: bytes) -> list[str]:
    declared = (declared or "").strip().strip("\"'").lower()
    # Mailers often say ASCII or Latin-1 and send UTF-8; valid UTF-8 that is not ASCII is
    # almost never Latin-1 text. Latin-1 labels mean Windows-1252, as browsers read them.
    if declared in ("", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252"):
        return ["ascii", "utf-8", "cp1252"] if not data.isascii() else ["ascii"]
    return [declared, "utf-8", "cp1252"]


def unflow(text: str, *, delsp: bool) -> str:
    """Rejoin the soft line breaks of format=flowed text (RFC 3676)."""
    lines: list[str] = []
    joining, last_depth = False, 0
    for raw_line in text.replace("\r\n", "\n").split("\n"):
        depth = len(raw_line) - len(raw_line.lstrip(">"))
        content = raw_line[depth:]
        content = content.removeprefix(" ")
        if joining and depth == last_depth and lines:
            lines[-1] += content
        else:
            lines.append(">" * depth + content)
        joining = content.endswith(" ") and not _SIGNATURE_DELIMITER.match(content)
        if joining and delsp:
            lines[-1] = lines[-1][:-1]
        last_depth = depth
    return "\n".join(lines)


def clean_body(text: str) -> str:
    """The customer's own words: no quoted history, no signature, no runs of blank lines."""
    text = CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = _strip_signature(_strip_quotes(text.split("\n")))
    text = "\n".join(line.rstrip() for line in lines)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _strip_quotes(lines: list[str]) -> list[str]:
    kept: list[str] = []
    index = 0
    while index < len(lines):
        header_lines = _wrote_header_at(lines, index)
        if header_lines:
            after = index + header_lines
            if not _next_is_quoted(lines, after):
                break  # a quote without ">" marks (Outlook, HTML): all the rest is history
            index = after
            continue
        if _original_message_at(lines, index):
            break
        if not lines[index].lstrip().startswith(">"):
            kept.append(lines[index])
        index += 1
    return kept


def _wrote_header_at(lines: list[str], index: int) -> int:
    """How many lines the "On ... wrote:" header starting at `index` spans (0: none)."""
    if not _WROTE_START.match(lines[index]):
        return 0
    for span in (1, 2, 3):
        window = lines[index : index + span]
        if len(window) < span or not _continues_header(window):
            return 0
        if _WROTE.match(" ".join(line.strip() for line in window)):
            return span
    return 0


def _continues_header(window: list[str]) -> bool:
    # Mail clients wrap a long header line; a finished sentence, a blank line, a quote or
    # another "On ..." line is not such a continuation.
    if len(window) == 1:
        return True
    previous, line = window[-2].rstrip(), window[-1]
    return bool(
        line.strip()
        and not previous.endswith((".", "!", "?"))
        and not line.lstrip().startswith(">")
        and not _WROTE_START.match(line)
    )


def _next_is_quoted(lines: list[str], index: int) -> bool:
    for line in lines[index:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return True


def _original_message_at(lines: list[str], index: int) -> bool:
    line = lines[index]
    if _ORIGINAL_SEPARATOR.match(line):
        return True
    if _UNDERSCORE_RULE.match(line):
        following = [candidate for candidate in lines[index + 1 : index + 4] if candidate.strip()]
        return bool(following) and bool(_FROM_FIELD.match(following[0]))
    if _FROM_FIELD.match(line):
        # Outlook's header block: From:, then Sent: (or Date:) within the next lines.
        following = [candidate for candidate in lines[index + 1 : index + 5] if candidate.strip()]
        return any(_SENT_FIELD.match(candidate) for candidate in following[:3])
    return False


def _strip_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line):
            lines = lines[:index]
            break
    return [line for line in lines if not _MOBILE_SIGNATURE.match(line)]


class _HtmlToText(HTMLParser):
    """Text of an HTML mail: paragraphs and line breaks kept, scripts, styles and quoted
    history (Gmail, Yahoo, Thunderbird, Apple Mail, Outlook on the web) dropped."""

    SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template", "svg"})
    QUOTE_CLASSES = frozenset(
        {"gmail_quote", "gmail_signature", "yahoo_quoted", "moz-cite-prefix", "moz-signature"}
    )
    # Outlook on the web puts everything after these elements' start into the quote.
    HISTORY_IDS = frozenset({"appendonsend", "divrplyfwdmsg"})
    PARAGRAPH_TAGS = frozenset(
        {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "pre", "hr"}
    )
    LINE_TAGS = frozenset(
        {"div", "tr", "section", "article", "header", "footer", "address", "dt", "dd"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_tag: str | None = None
        self._skip_depth = 0
        self._pre_depth = 0
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._done:
            return
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth += 1
            return
        attributes = {name: value or "" for name, value in attrs}
        if attributes.get("id", "").lower() in self.HISTORY_IDS:
            self._done = True
            return
        if self._skipped(tag, attributes):
            self._skip_tag, self._skip_depth = tag, 1
            return
        self._open(tag)

    def _skipped(self, tag: str, attributes: dict[str, str]) -> bool:
        classes = set(attributes.get("class", "").split())
        quoted = tag == "blockquote" and attributes.get("type", "").lower() == "cite"
        return tag in self.SKIP_TAGS or quoted or bool(classes & self.QUOTE_CLASSES)

    def _open(self, tag: str) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag in self.PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag in self.LINE_TAGS:
            self.parts.append("\n")
        if tag == "pre":
            self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._done:
            return
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in self.PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag in self.LINE_TAGS:
            self.parts.append("\n")
        if tag == "pre" and self._pre_depth:
            self._pre_depth -= 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/> must not also count as a closing tag.
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._done or self._skip_tag is not None:
            return
        self.parts.append(data if self._pre_depth else re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """Readable text of an HTML mail body (entities decoded, blocks on their own lines)."""
    parser = _HtmlToText()
    parser.feed(markup)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).replace("\xa0", " ").split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def one_line(value: str) -> str:
    """`value` with every run of whitespace (line breaks too) one space."""
    return " ".join(value.split())
