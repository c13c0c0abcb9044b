"""Receipt links name one payment of one customer, expire, and cannot be altered."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.business import receipt_links
from bot.business.receipt_links import read_receipt_token, receipt_token, receipt_url
from bot.core.settings import Settings


def test_a_link_reads_back_its_payment_and_customer(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, public_url="https://help.shop.example")
    url = receipt_url(settings, payment_ref="PAY-100001", customer_ref="C-10001")
    assert url.startswith("https://help.shop.example/receipts/")
    token = url.rsplit("/", 1)[1]
    assert read_receipt_token(settings, token) == ("PAY-100001", "C-10001")


def test_an_altered_or_foreign_link_is_refused(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    token = receipt_token(settings, payment_ref="PAY-100001", customer_ref="C-10001")
    data, _, signature = token.partition(".")
    other = receipt_token(settings, payment_ref="PAY-100003", customer_ref="C-10002")
    assert read_receipt_token(settings, f"{other.partition('.')[0]}.{signature}") is None
    assert read_receipt_token(settings, f"{data}.{'0' * len(signature)}") is None
    assert read_receipt_token(settings, "garbage") is None
    # What a fuzzer sends: not even ASCII.
    assert read_receipt_token(settings, "ãü´\U000e6051.\U000911dd Uºí") is None
    assert read_receipt_token(settings, f"{data}.ü{signature[1:]}") is None
    elsewhere = Settings(var_dir=tmp_path / "other")
    assert read_receipt_token(elsewhere, token) is None


def test_a_link_expires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(var_dir=tmp_path)
    token = receipt_token(settings, payment_ref="PAY-100001", customer_ref="C-10001")
    later = time.time() + receipt_links.LINK_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert read_receipt_token(settings, token) is None
