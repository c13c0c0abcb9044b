"""What every channel adapter is: the one contract behind which each channel sits.

A channel is a module or package under `adapters/` exposing
- `parse_inbound(raw, ...) -> InboundMessage`: what arrived (a frame, a webhook form, a
  mail), checked, as the one message shape of the core;
- `render_outbound(replies, ...)`: the replies in the channel's own form (JSON frames,
  SMS bodies, TwiML, a MIME mail), a pure function of the replies;
- for channels that send replies as they come (web chat sockets, SMS, email), a
  `PushChannel` the composition root registers with the core's deliveries.

What a channel cannot show is said another way, never dropped: `Degradation` turns buttons
into numbered options (or a keypad menu) and a picture into words, the same way on every
text-only channel (Rasa's `OutputChannel.send_text_with_buttons` is the model).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.core.attachments import AttachmentStore
from bot.core.background import BackgroundTasks
from bot.core.db import Database
from bot.core.messages import BotReply, Button, StoredReply
from bot.core.models import Channel
from bot.core.pipeline import MessagePipeline
from bot.core.rate_limits import RateLimits
from bot.core.settings import Settings
from bot.core.texts import Text, say


@dataclass(frozen=True)
class ChannelContext:
    """What a channel uses of the core: its settings, the store, the message path (with the
    deliveries), background work, where customers' files are kept, and the rate limits."""

    settings: Settings
    database: Database
    pipeline: MessagePipeline
    background: BackgroundTasks
    attachments: AttachmentStore
    rate_limits: RateLimits


class PushChannel(Protocol):
    """A channel that sends replies to an address as soon as they are stored."""

    @property
    def channel(self) -> Channel:
        """The channel it sends on."""
        ...

    @property
    def resends_pending(self) -> bool:
        """Whether replies it could not send are resent by the retry worker (not sockets,
        which get theirs when the customer reconnects)."""
        ...

    async def push(self, address: str, replies: Sequence[StoredReply]) -> bool:
        """Send `replies` to `address`; False to keep them pending and try again later."""
        ...


def numbered_option(number: int, button: Button) -> str:
    """A button as a numbered option: "2. Replacement"."""
    return f"{number}. {button.title}"


@dataclass(frozen=True)
class TextParts:
    """One reply as text: its own words, its choices, how to choose, its picture."""

    text: str
    options: tuple[str, ...] = ()
    prompt: str | None = None
    image: str | None = None

    def lines(self) -> list[str]:
        """Everything, one line after the other."""
        return [p for p in (self.text, *self.options, self.prompt, self.image) if p]

    def blocks(self) -> list[str]:
        """Paragraphs: the text, the list of options, the prompt, the picture."""
        options = "\n".join(self.options)
        return [p for p in (self.text, options, self.prompt, self.image) if p]


@dataclass(frozen=True)
class Degradation:
    """How a text-only channel says buttons and pictures (numbered options by default)."""

    option: Callable[[int, Button], str] = numbered_option
    prompt: str | None = say(Text.OPTIONS_PROMPT)
    image: Callable[[str], str] = str

    def parts(self, reply: BotReply) -> TextParts:
        """The reply as text parts, in Rasa's order: text, choices, picture."""
        options = tuple(self.option(n, b) for n, b in enumerate(reply.buttons, start=1))
        return TextParts(
            text=reply.text,
            options=options,
            prompt=self.prompt if options else None,
            image=self.image(reply.image) if reply.image else None,
        )
