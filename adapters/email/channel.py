"""The email channel wired to the message path: mail from the IMAP poller in, SMTP out.

A mail is stored (with its attachments) before the poller flags it processed, so a crash
loses nothing and a redelivered mail is answered once. All the replies of a turn go out as
one mail in the customer's thread (In-Reply-To, References, "Re:" subject). A sender who
mails faster than EMAIL_SENDER_RATE has the mails stored and answered later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from email.utils import make_msgid

import structlog
from sqlalchemy import select

from adapters.contract import ChannelContext
from adapters.email.errors import EmailDeliveryError
from adapters.email.imap import MailboxPoller
from adapters.email.parse import AUTO_REPLY, NO_TEXT, ParsedEmail, parse_inbound
from adapters.email.render import OutboundFile, render_outbound
from adapters.email.smtp import SmtpSender, smtp_sender_from
from adapters.email.thread import EmailThread
from bot.core.attachments import AttachmentRejected
from bot.core.documents import DocumentStoreError
from bot.core.intents import LocalIntent
from bot.core.messages import BotReply, InvalidMessage, StoredReply
from bot.core.models import Attachment, Channel, Message, MessageStatus
from bot.core.pipeline import Accepted
from bot.core.rate_limits import RateLimited, Rule
from bot.core.store import deliveries, outbound
from bot.core.store import inbound as inbound_store
from bot.core.store.inbound import AttachmentRef
from bot.core.texts import Text, say

log = structlog.get_logger("adapters.email")


def rejected_note(rejected: Sequence[tuple[str, str]]) -> str:
    """Tell the customer which attachments were not kept, and why."""
    listed = "; ".join(f"{name}: {reason}" for name, reason in rejected)
    return say(Text.EMAIL_ATTACHMENTS_REFUSED, listed=listed)


class EmailChannel:
    """Answers the mails the poller hands over and sends replies as threaded mails."""

    channel = Channel.EMAIL
    resends_pending = True

    def __init__(self, context: ChannelContext, *, sender: SmtpSender) -> None:
        self._context = context
        self._sender = sender
        self._domain = context.settings.email_from_address.rpartition("@")[2] or "localhost"
        self._rate = Rule.parse("email_sender", context.settings.email_sender_rate)

    async def on_message(self, raw: bytes) -> None:
        """Store one mail and answer it (raising leaves it in the mailbox to try again)."""
        settings = self._context.settings
        try:
            # Parsing a big HTML mail takes seconds of CPU: not on the event loop.
            parsed = await asyncio.to_thread(
                parse_inbound,
                raw,
                max_attachment_bytes=settings.attachment_max_bytes,
                allowed_attachment_types=frozenset(settings.attachment_types),
            )
        except InvalidMessage as error:
            log.warning("email_unanswerable", code=error.code, reason=error.reason)
            return
        refs, rejected = await self._keep_attachments(parsed)
        inbound = parsed.to_inbound()
        metadata = {**inbound.metadata, "thread_refs": _thread_refs(parsed)}
        if rejected:
            metadata["rejected_attachments"] = [list(r) for r in rejected]
        inbound = inbound.model_copy(update={"metadata": metadata})
        pipeline = self._context.pipeline
        if not parsed.problem:
            inbound = await pipeline.with_chosen_option(inbound)
        accepted = await pipeline.accept(inbound, attachments=refs)
        if not accepted.stored.created:
            log.info("email_duplicate", message_id=parsed.message_id)
            return
        if parsed.problem == AUTO_REPLY:  # answering an out-of-office would start a loop
            await pipeline.answer_without_rasa(accepted, [], intent=LocalIntent.EMAIL_AUTO_REPLY)
            return
        if not await self._within_rate(accepted, no_text=parsed.problem == NO_TEXT):
            return
        if parsed.problem == NO_TEXT:
            notes = [BotReply(text=say(Text.EMAIL_NO_TEXT))]
            if rejected:
                notes.append(BotReply(text=rejected_note(rejected)))
            turn = await pipeline.answer_without_rasa(
                accepted, notes, intent=LocalIntent.EMAIL_NO_TEXT
            )
            await pipeline.deliveries.deliver(Channel.EMAIL, parsed.sender, turn.replies)
            return
        turn = await pipeline.respond(accepted, push=False)
        replies = list(turn.replies)
        if rejected:
            note = BotReply(text=rejected_note(rejected))
            replies.append(await pipeline.add_reply(accepted, note))
        await pipeline.deliveries.deliver(Channel.EMAIL, parsed.sender, replies)

    async def _within_rate(self, accepted: Accepted, *, no_text: bool) -> bool:
        """Count the mail against its sender's EMAIL_SENDER_RATE; over it, False, and the
        mail is kept but not answered now.

        It is already stored with its attachments (and flagged in the mailbox once this
        returns), so nothing is lost: a mail for the assistant is left waiting (RECEIVED)
        for the retry worker once it is `stale_processing_seconds` old, or for the sender's
        next mail within the rate (a conversation's earlier messages are answered first);
        one without text is closed without the "could not read" reply.
        """
        try:
            await self._context.rate_limits.hit(
                self._rate, accepted.inbound.sender_id, what="emails from this address"
            )
            return True
        except RateLimited as limited:
            log.warning(
                "email_rate_limited",
                message_id=accepted.stored.message.id,
                retry_after=limited.retry_after,
            )
        pipeline = self._context.pipeline
        if no_text:
            await pipeline.answer_without_rasa(accepted, [], intent=LocalIntent.EMAIL_NO_TEXT)
        elif accepted.claimed:  # taken for processing on storing: give it back, unanswered
            async with self._context.database.session() as session:
                await inbound_store.finish_inbound(
                    session=session,
                    message_id=accepted.stored.message.id,
                    status=MessageStatus.RECEIVED,
                    attempt=accepted.stored.message.attempts,
                )
        return False

    async def _keep_attachments(
        self, parsed: ParsedEmail
    ) -> tuple[list[AttachmentRef], list[tuple[str, str]]]:
        refs, rejected = [], list(parsed.rejected_attachments)
        for attachment in parsed.attachments:
            try:
                refs.append(
                    await self._context.attachments.save(
                        attachment.data,
                        content_type=attachment.content_type,
                        filename=attachment.filename,
                    )
                )
            except AttachmentRejected as error:
                rejected.append((attachment.filename or "attachment", error.reason))
        return refs, rejected

    async def push(self, address: str, replies: Sequence[StoredReply]) -> bool:
        """Send replies as mails, one per customer mail answered; False to try again later."""
        for thread, group in await self._threads(replies):
            if not await self._send(address, thread, group):
                return False
        return True

    async def _threads(
        self, replies: Sequence[StoredReply]
    ) -> list[tuple[EmailThread, list[StoredReply]]]:
        # Replies waiting since an outage may answer several mails: each goes to its thread.
        groups: dict[int | None, list[StoredReply]] = {}
        threads: dict[int | None, EmailThread] = {}
        async with self._context.database.session() as session:
            for reply in replies:
                outbound = await session.get_one(Message, reply.message_id)
                answered_id = outbound.in_reply_to_id
                if answered_id not in threads:
                    answered = await session.get(Message, answered_id) if answered_id else None
                    metadata = answered.payload.get("metadata", {}) if answered else {}
                    threads[answered_id] = EmailThread.from_metadata(metadata)
                groups.setdefault(answered_id, []).append(reply)
        return [(threads[key], group) for key, group in groups.items()]

    async def _files(self, replies: list[StoredReply]) -> list[OutboundFile]:
        # Files stored with a reply (a receipt's PDF an agent resent) go with its mail.
        async with self._context.database.session() as session:
            rows = await session.scalars(
                select(Attachment)
                .where(Attachment.message_id.in_([r.message_id for r in replies]))
                .order_by(Attachment.id)
            )
            kept = list(rows)
        return [
            OutboundFile(
                a.filename or "attachment",
                a.content_type,
                await self._context.attachments.read(a.storage_ref),
            )
            for a in kept
        ]

    async def _send(self, address: str, thread: EmailThread, replies: list[StoredReply]) -> bool:
        message_id = make_msgid(domain=self._domain)
        try:
            files = await self._files(replies)
        except DocumentStoreError as error:
            log.warning("email_attachment_unreadable", error=str(error))
            return False  # pending: tried again with the file store back
        mail = render_outbound(
            [r.reply for r in replies],
            thread=thread,
            from_address=self._context.settings.email_from_address,
            from_name=self._context.settings.email_from_name,
            to_address=address,
            message_id=message_id,
            files=files,
        )
        ids = [r.message_id for r in replies]
        try:
            await self._sender.send(mail)
        except EmailDeliveryError as error:
            log.warning("email_send_failed", permanent=error.permanent, reason=str(error))
            if not error.permanent:
                return False
            async with self._context.database.session() as session:
                await outbound.mark_failed(session=session, message_ids=ids, error=str(error))
            return True
        async with self._context.database.session() as session:
            for reply_id in ids:
                deliveries.record_delivery(
                    session=session,
                    message_id=reply_id,
                    channel=Channel.EMAIL,
                    provider_id=message_id,
                    status="sent",
                )
            await outbound.mark_delivered(session=session, message_ids=ids)
        return True


def _thread_refs(parsed: ParsedEmail) -> list[str]:
    refs = list(parsed.references)
    if parsed.in_reply_to and parsed.in_reply_to not in refs:
        refs.append(parsed.in_reply_to)
    return refs


def build_email_channel(context: ChannelContext) -> tuple[EmailChannel, MailboxPoller]:
    """The email channel and its mailbox poller, from the settings (not started)."""
    settings = context.settings
    channel = EmailChannel(context, sender=smtp_sender_from(settings))
    poller = MailboxPoller(
        host=settings.imap_host,
        port=settings.imap_port,
        user=settings.imap_user,
        password=settings.imap_password.get_secret_value(),
        mailbox=settings.imap_mailbox,
        use_ssl=settings.imap_ssl,
        poll_seconds=settings.email_poll_seconds,
        on_message=channel.on_message,
    )
    return channel, poller
