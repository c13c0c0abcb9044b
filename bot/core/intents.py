"""The intents the app itself records on a customer message it answers without Rasa.

Every answer that does not come from Rasa names one of these, so a message answered without
an intent was Rasa's (see `store.understanding.not_yet_understood`).
"""

from __future__ import annotations

import enum


class LocalIntent(enum.StrEnum):
    """Why the app, not Rasa, answered (or kept quiet about) a customer message."""

    FOR_AGENT = "for_agent"  # an agent has the conversation: the message is theirs
    CSAT = "csat"  # a rating in the satisfaction survey
    CALLBACK = "callback"  # a caller pressed 1 for a call back
    SMS_STOP = "sms_stop"
    SMS_START = "sms_start"
    SMS_HELP = "sms_help"
    SMS_UNREADABLE_OR_MEDIA_ONLY = "sms_unreadable_or_media_only"
    EMAIL_AUTO_REPLY = "email_auto_reply"  # out-of-office or bounce: never answered
    EMAIL_NO_TEXT = "email_no_text"
