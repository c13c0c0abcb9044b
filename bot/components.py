"""Everything one app process runs, built from the settings and wired together: the core
(with handoff's responders on its message path), handoff, and every configured channel
registered with the core's deliveries. The only module that knows them all."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters.contract import ChannelContext, PushChannel
from adapters.email.channel import build_email_channel
from adapters.email.imap import MailboxPoller
from adapters.sms.channel import SmsChannel
from adapters.sms.sender import SmsSender
from adapters.twilio.rest import TwilioRest
from adapters.voice.calls import VoiceCalls
from adapters.webchat.hub import WebchatHub
from bot.business.factory import build_business_systems
from bot.business.protocol import BusinessSystems
from bot.core.db import Database
from bot.core.models import Channel
from bot.core.services import CoreServices
from bot.core.settings import Settings
from bot.nlp.analysis import Analyser, NlpModels
from bot.nlp.jobs import NlpJobs
from handoff.responders import handoff_responders
from handoff.services import HandoffServices


@dataclass
class Components:
    """The core, handoff and the channels of one app process."""

    core: CoreServices
    handoff: HandoffServices
    webchat_hub: WebchatHub
    twilio: TwilioRest | None
    sms: SmsChannel
    voice: VoiceCalls
    mailbox: MailboxPoller | None
    business: BusinessSystems
    jobs: NlpJobs

    @classmethod
    def build(cls, settings: Settings) -> Components:
        """Create every long-lived object (nothing connects until first use)."""
        core = CoreServices.build(
            settings,
            database=Database(settings.effective_database_url),
            responders=handoff_responders(),
        )
        business = build_business_systems(settings)
        jobs = NlpJobs(settings)
        core.pipeline.on_customer_message(jobs.kick_message)
        handoff = HandoffServices.build(core, business, jobs)
        twilio = _twilio(settings)
        hub = WebchatHub()
        push: list[PushChannel] = [hub]
        if twilio is not None:
            push.extend(_sms_senders(core, twilio))
        context = ChannelContext(
            core.settings,
            core.database,
            core.pipeline,
            core.background,
            core.attachments,
            core.rate_limits,
        )
        mailbox = None
        if settings.email_enabled:
            email, mailbox = build_email_channel(context)
            push.append(email)
        _register(core, push)
        sms = SmsChannel(context, twilio=twilio)
        voice = VoiceCalls(context, escalations=handoff.escalations, twilio=twilio)
        return cls(core, handoff, hub, twilio, sms, voice, mailbox, business, jobs)

    def app_state(self) -> dict[str, object]:
        """What routes may depend on, by the names the dependency aliases use
        (`bot.core.deps`, `handoff.deps`, each channel's routes)."""
        core, handoff = self.core, self.handoff
        return {
            "components": self,
            "settings": core.settings,
            "database": core.database,
            "pipeline": core.pipeline,
            "rate_limits": core.rate_limits,
            "attachments": core.attachments,
            "desk": handoff.desk,
            "console": handoff.console,
            "queues": handoff.queues,
            "watcher": handoff.watcher,
            "sign_in": handoff.sign_in,
            "business": self.business,
            "customer_updates": handoff.updates,
            "customer_actions": handoff.customer_actions,
            "webchat_hub": self.webchat_hub,
            "sms": self.sms,
            "voice": self.voice,
        }

    def start(self) -> None:
        """Start the background work: retries, the console's live feed, the mailbox, the
        demo backend's refund payment run, the NLP jobs (unless a worker process runs them)."""
        self.handoff.watcher.start()
        if self.handoff.payouts is not None:
            self.handoff.payouts.start()
        self.core.retry.start()
        if self.mailbox is not None:
            self.mailbox.start()
        settings = self.core.settings
        if settings.nlp_enabled and settings.jobs_in_app:
            analyser = Analyser(
                self.core.database,
                NlpModels(settings),
                [self.handoff.insights(self.core.database, settings)],
            )
            self.jobs.serve(analyser, asyncio.get_running_loop(), in_app=True)

    async def aclose(self) -> None:
        """Stop the background work and close every client."""
        await asyncio.to_thread(self.jobs.stop)
        if self.mailbox is not None:
            await self.mailbox.stop()
        await self.handoff.watcher.stop()
        if self.handoff.payouts is not None:
            await self.handoff.payouts.stop()
        await self.business.aclose()
        await self.core.aclose()
        if self.twilio is not None:
            self.twilio.close()

    def channel_states(self) -> dict[str, Any]:
        """Which channels are on, and whether the mailbox is being watched."""
        settings = self.core.settings
        return {
            "webchat": {"enabled": True},
            "sms": {"enabled": settings.twilio_enabled, "reply_mode": settings.sms_reply_mode},
            "voice": {"enabled": settings.twilio_enabled},
            "email": _mailbox_state(self.mailbox),
        }


def _twilio(settings: Settings) -> TwilioRest | None:
    if not settings.twilio_enabled:
        return None
    return TwilioRest(
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        api_base_url=settings.twilio_api_base_url,
    )


def _sms_senders(core: CoreServices, twilio: TwilioRest) -> list[SmsSender]:
    # A call cannot be spoken to after it ends: an answer that comes later (after an
    # outage) is texted to the caller's number instead.
    settings = core.settings
    return [
        SmsSender(
            database=core.database,
            twilio=twilio,
            from_number=settings.twilio_phone_number,
            status_callback=f"{settings.app_url}/twilio/sms/status",
            channel=channel,
        )
        for channel in (Channel.SMS, Channel.VOICE)
    ]


def _register(core: CoreServices, channels: Sequence[PushChannel]) -> None:
    for channel in channels:
        core.deliveries.register(
            channel.channel, channel.push, resend_pending=channel.resends_pending
        )


def _mailbox_state(poller: MailboxPoller | None) -> dict[str, Any]:
    if poller is None:
        return {"enabled": False}
    if not poller.connected:
        detail = f"not connected: {poller.last_error or 'connecting'}"
    else:
        detail = "watching with IMAP IDLE" if poller.uses_idle else "polling"
    return {"enabled": True, "ok": poller.connected, "detail": detail}
