"""Masking the numbers that let someone take money or act as a customer (card and bank
account numbers, one-time codes, card security codes) in text that people read: summaries
for agents and complaint records.

Unlike `bot.core.redact` (which blanks whole values for logs), this keeps what an agent
needs: the last digits of a card or account, and every order number, case id, amount and
date. Masks are made of `*`, which no rule matches again, so masking twice changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable

CODE_MASK = "******"
CVV_MASK = "***"
_KEEP = 4  # last digits of a card, an account or an IBAN that stay visible

# IBAN: country, check digits, then 11-30 letters or digits, optionally in groups of four.
_IBAN = re.compile(
    r"(?<![\w\-*])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)"
    r"(?![\w\-])",
    re.IGNORECASE,
)
# 13-19 digits, optionally grouped by single spaces or dashes (Luhn-valid or not).
_CARD = re.compile(r"(?<![\w\-*./£$€])(?:\d[ \-]?){12,18}\d(?![\w\-*]|[.,]\d)")
_SORT_CODE = re.compile(r"(?<![\w\-*/])\d{2}([- ])\d{2}\1\d{2}(?![\w\-*/])")
_ACCOUNT = re.compile(r"(?<![\w\-*/.£$€])\d{8}(?![\w\-*/]|[.,]\d)")
# (not a group of a phone number, "07700 900123", nor the last four of a masked card)
_CVV_NUMBER = re.compile(r"(?<![\w\-*/.£$€+])(?<![\d*] )\d{3,4}(?![\w\-*/]|[.,]\d| \d)")
_CODE_NUMBER = re.compile(
    r"(?<![\w\-*/.£$€#+])(?<![\d*] )(?:\d{3}[ \-]\d{3}|\d{4,8})(?![\w\-*/]|[.,:]\d| \d)"
)
# A message that is nothing but a six-digit code ("482913", "482 913").
_BARE_CODE = re.compile(r"\s*\d{3}[ \-]?\d{3}\s*[.!]?\s*")

_BANK_WORDS = re.compile(r"\b(?:sort\s*code|account|acct|acc|a/c|bank|iban)\b", re.IGNORECASE)
_CVV_WORDS = re.compile(
    r"\b(?:cvv2?|cvc2?|csc|cid|security\s+(?:code|number|digits)|"
    r"(?:three|3)[ \-]digits?(?:\s+code)?|digits\s+on\s+the\s+back)\b",
    re.IGNORECASE,
)
_CODE_WORDS = re.compile(
    r"\b(?:codes?|otp|pin|passcode|pass\s+code|one[ \-]time|verification|verify|"
    r"verifying|authentication|2fa|security)\b",
    re.IGNORECASE,
)
# "post code 94105", "error code 5003", "order 12345 code": numbers that are not secrets.
_NOT_SECRET_CODE = re.compile(
    r"\b(?:post|postal|zip|area|dialling|dialing|country|error|status|promo|promotion|"
    r"discount|voucher|coupon|tracking|product|item)\s*$",
    re.IGNORECASE,
)
_NOT_SECRET_BEFORE = re.compile(
    r"(?:\b(?:order|ord|ref|reference|case|complaint|ticket|invoice|item|tracking)"
    r"(?:\s*(?:no|number|nr|id|ref)\b)?\.?|#)\s*[:#]?\s*$",
    re.IGNORECASE,
)
_MONTH_BEFORE = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s*(?:\d{1,2}"
    r"(?:st|nd|rd|th)?,?\s*)?$",
    re.IGNORECASE,
)
_YEAR_WORDS_BEFORE = re.compile(r"\b(?:in|since|year|of|from|until|till|by)\s*$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?\n]\s")


def mask_sensitive(text: str) -> str:
    """`text` with card and bank account numbers (last digits kept), IBANs, one-time
    codes and card security codes masked; order numbers, case ids, amounts, dates, years
    and phone numbers are left as they are."""
    if _BARE_CODE.fullmatch(text):
        return CODE_MASK
    text = _IBAN.sub(_mask_iban, text)
    text = _SORT_CODE.sub(_near(_BANK_WORDS, _keep_last(2), before=40, after=0), text)
    text = _ACCOUNT.sub(_near(_BANK_WORDS, _keep_last(_KEEP), before=40, after=25), text)
    text = _CARD.sub(_mask_card, text)
    text = _CVV_NUMBER.sub(_near(_CVV_WORDS, lambda _: CVV_MASK, before=30, after=20), text)
    return _CODE_NUMBER.sub(_near(_CODE_WORDS, lambda _: CODE_MASK, before=40, after=20), text)


def _mask_iban(match: re.Match[str]) -> str:
    value, tail = match.group(0), ""
    # Groups of letters after the number are the next words of the sentence.
    while " " in value and not any(c.isdigit() for c in value.rsplit(" ", 1)[1]):
        value, word = value.rsplit(" ", 1)
        tail = f" {word}{tail}"
    if sum(c.isdigit() for c in value) < 10:  # "ab12 cdef ghij" is not an IBAN
        return match.group(0)
    # The country stays (it says which bank system), and the last four.
    return value[:2] + _star_all_but_last(value[2:], _KEEP, str.isalnum) + tail


def _mask_card(match: re.Match[str]) -> str:
    return _star_all_but_last(match.group(0), _KEEP, str.isdigit)


def _keep_last(keep: int) -> Callable[[str], str]:
    def mask(value: str) -> str:
        return _star_all_but_last(value, keep, str.isdigit)

    return mask


def _star_all_but_last(value: str, keep: int, secret: Callable[[str], bool]) -> str:
    # Separators stay where they were, so "4242 4242 4242 4242" reads "**** **** **** 4242".
    total = sum(1 for c in value if secret(c))
    seen = 0
    out = []
    for char in value:
        if secret(char):
            seen += 1
            out.append(char if seen > total - keep else "*")
        else:
            out.append(char)
    return "".join(out)


def _near(
    words: re.Pattern[str], mask: Callable[[str], str], *, before: int, after: int
) -> Callable[[re.Match[str]], str]:
    """A replacement that masks a number only when one of `words` is close to it, in the
    same sentence, and the word just before the number does not name an order or case."""

    def replace(match: re.Match[str]) -> str:
        text, start, end = match.string, match.start(), match.end()
        left = _same_sentence_left(text[max(0, start - before) : start])
        right = _same_sentence_right(text[end : end + after])
        if _NOT_SECRET_BEFORE.search(left) or _is_year(match.group(0), left):
            return match.group(0)
        for found in words.finditer(left):
            if not _NOT_SECRET_CODE.search(left[: found.start()]):
                return mask(match.group(0))
        if right and words.search(right):
            return mask(match.group(0))
        return match.group(0)

    return replace


def _same_sentence_left(window: str) -> str:
    ends = list(_SENTENCE_END.finditer(window))
    return window[ends[-1].end() :] if ends else window


def _same_sentence_right(window: str) -> str:
    end = _SENTENCE_END.search(window)
    return window[: end.start()] if end else window


def _is_year(number: str, left: str) -> bool:
    # "3 May 2026", "since 2019": a year after a month or such a word is not a PIN.
    if len(number) != 4 or number[:2] not in ("19", "20"):
        return False
    return bool(_MONTH_BEFORE.search(left) or _YEAR_WORDS_BEFORE.search(left))
