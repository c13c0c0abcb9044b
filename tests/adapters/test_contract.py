"""How a text-only channel says what it cannot show, asserted on exact text: buttons as
numbered options with a prompt, a picture in words, in Rasa's order (the keypad menu a call
says instead is asserted through the voice channel)."""

from __future__ import annotations

from adapters.contract import Degradation, TextParts, numbered_option
from bot.core.messages import BotReply, Button

CHOICES = (Button(title="Refund", payload="/refund"), Button(title="Replacement", payload="/new"))
PROMPT = "Reply with the number of your choice."


def test_a_button_is_a_numbered_option() -> None:
    assert numbered_option(2, CHOICES[1]) == "2. Replacement"


def test_buttons_become_numbered_options_and_a_prompt() -> None:
    reply = BotReply(text="What would you like us to do?", buttons=CHOICES)
    parts = Degradation().parts(reply)
    assert parts == TextParts(
        text="What would you like us to do?",
        options=("1. Refund", "2. Replacement"),
        prompt=PROMPT,
    )
    assert parts.lines() == [
        "What would you like us to do?",
        "1. Refund",
        "2. Replacement",
        PROMPT,
    ]


def test_a_reply_without_buttons_gets_no_prompt() -> None:
    parts = Degradation().parts(BotReply(text="Your parcel left today."))
    assert parts == TextParts(text="Your parcel left today.")
    assert parts.lines() == ["Your parcel left today."]


def test_text_options_prompt_then_picture_in_rasas_order() -> None:
    reply = BotReply(text="Which one?", buttons=CHOICES, image="https://shop.test/a.png")
    assert Degradation().parts(reply).lines() == [
        "Which one?",
        "1. Refund",
        "2. Replacement",
        PROMPT,
        "https://shop.test/a.png",
    ]


def test_blocks_keep_the_options_together_and_a_channel_says_pictures_its_way() -> None:
    degradation = Degradation(image=lambda url: f"Image: {url}")
    reply = BotReply(text="Which one?", buttons=CHOICES, image="https://shop.test/a.png")
    assert degradation.parts(reply).blocks() == [
        "Which one?",
        "1. Refund\n2. Replacement",
        PROMPT,
        "Image: https://shop.test/a.png",
    ]
    assert degradation.parts(BotReply(image="https://shop.test/a.png")).lines() == [
        "Image: https://shop.test/a.png"
    ]
