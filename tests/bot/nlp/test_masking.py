"""Masking card and bank numbers and codes, and leaving orders, cases, amounts and dates."""

from __future__ import annotations

import pytest

from bot.nlp.masking import mask_sensitive


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("my card is 4242 4242 4242 4242 thanks", "my card is **** **** **** 4242 thanks"),
        ("card 4929-1234-5678-9012.", "card ****-****-****-9012."),
        ("4000056655665556", "************5556"),
        ("it's 4111111111111112 (not valid)", "it's ************1112 (not valid)"),
        ("amex 3782 822463 10005", "amex **** ****** *0005"),
        ("19 digits 6011 0009 9013 9424 123", "19 digits **** **** **** ***4 123"),
    ],
)
def test_card_numbers_keep_their_last_four(text: str, masked: str) -> None:
    assert mask_sensitive(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("sort code 12-34-56 account 12345678", "sort code **-**-56 account ****5678"),
        ("Sort code: 40 47 84, acc no 87654321.", "Sort code: ** ** 84, acc no ****4321."),
        ("my account number is 12345678", "my account number is ****5678"),
        ("12345678 is my account number", "****5678 is my account number"),
        (
            "IBAN GB29 NWBK 6016 1331 9268 19 from my bank",
            "IBAN GB** **** **** **** **68 19 from my bank",
        ),
        ("iban: GB29NWBK60161331926819", "iban: GB****************6819"),
        ("DE89 3704 0044 0532 0130 00", "DE** **** **** **** **30 00"),
    ],
)
def test_bank_details_keep_their_last_digits(text: str, masked: str) -> None:
    assert mask_sensitive(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("my code is 482913", "my code is ******"),
        ("482913", "******"),
        (" 482 913 ", "******"),
        ("OTP: 4829. Then ORD-10042 came", "OTP: ******. Then ORD-10042 came"),
        ("the PIN is 1234", "the PIN is ******"),
        ("The code you sent me (482913) didn't work", "The code you sent me (******) didn't work"),
        ("verification: 12345678", "verification: ******"),
        ("cvv 123", "cvv ***"),
        ("CVC: 9876", "CVC: ***"),
        ("the security code is 321", "the security code is ***"),
        ("123 is the cvv on the back", "*** is the cvv on the back"),
    ],
)
def test_codes_are_masked_whole(text: str, masked: str) -> None:
    assert mask_sensitive(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "order ORD-10042, case CMP-7K3Q9, £49.99 on 3 May, 12/05/2026, in 2026",
        "order 10042345 and the code never came",
        "order #10042, what code?",
        "the verification code was sent on 3 May 2026",
        "I've had the code since 2019",
        "call me on 07700 900123 about the code",
        "phone +44 7700 900123, no code yet",
        "my postcode is SW1A 1AA and the zip code 94105",
        "I paid £1234.56 with the discount code",
        "error code 5003 on the website",
        "the refund of 49.99 GBP on 2026-05-12 for order 55123",
        "account C-10001, 3 items, £12",
        "a 6 digit code",
        "1234567",
    ],
)
def test_orders_cases_amounts_dates_and_phones_stay(text: str) -> None:
    assert mask_sensitive(text) == text


def test_masking_twice_changes_nothing() -> None:
    text = (
        "card 4242 4242 4242 4242, sort code 12-34-56 account 12345678, "
        "IBAN GB29 NWBK 6016 1331 9268 19, my code is 482913, cvv 123"
    )
    once = mask_sensitive(text)

    assert mask_sensitive(once) == once
    assert once == (
        "card **** **** **** 4242, sort code **-**-56 account ****5678, "
        "IBAN GB** **** **** **** **68 19, my code is ******, cvv ***"
    )
