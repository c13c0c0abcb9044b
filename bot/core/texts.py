"""Every customer-facing text the app says itself (not Rasa's responses, which are in the
domain), in one catalogue keyed by name, so that it can become per-language content.

`say(Text.HOLD_POSITION, position=3)` fills a text's `{placeholders}`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Text(enum.StrEnum):
    """The name of one text in the catalogue."""

    # The message path
    SERVICE_TROUBLE = "service_trouble"
    GAVE_UP = "gave_up"
    ANSWER_PENDING = "answer_pending"
    # Degraded replies, on channels that show no buttons or pictures
    OPTIONS_PROMPT = "options_prompt"
    IMAGE_LINK = "image_link"
    # Web chat
    WEBCHAT_NOT_TAKEN = "webchat_not_taken"
    WEBCHAT_DELAYED = "webchat_delayed"
    # SMS
    SMS_STARTED_AGAIN = "sms_started_again"
    SMS_MEDIA_ONLY = "sms_media_only"
    SMS_UNREADABLE = "sms_unreadable"
    SMS_FILE_REFUSED = "sms_file_refused"
    SMS_MEDIA_REFUSED = "sms_media_refused"
    # Phone calls
    CALL_GREETING = "call_greeting"
    CALL_RECORDING_NOTICE = "call_recording_notice"
    CALL_CONSENT_PROMPT = "call_consent_prompt"
    CALL_REPROMPT = "call_reprompt"
    CALL_OFFER_HUMAN = "call_offer_human"
    CALL_CALLBACK_CONFIRMED = "call_callback_confirmed"
    CALL_NO_INPUT_GOODBYE = "call_no_input_goodbye"
    CALL_ONE_MOMENT = "call_one_moment"
    CALL_TOO_SLOW = "call_too_slow"
    CALL_KEYPAD_OPTION = "call_keypad_option"
    CALL_PICTURE = "call_picture"
    CALL_HOLD_POSITION = "call_hold_position"
    CALL_HOLD_TIMED_OUT = "call_hold_timed_out"
    CALL_HOLD_ENDED = "call_hold_ended"
    CALL_PUTTING_THROUGH = "call_putting_through"
    CALL_AGENT_WILL_TEXT = "call_agent_will_text"
    # Email
    EMAIL_NO_TEXT = "email_no_text"
    EMAIL_ATTACHMENTS_REFUSED = "email_attachments_refused"
    EMAIL_DEFAULT_SUBJECT = "email_default_subject"
    # People
    AGENT_JOINED = "agent_joined"
    UPSET_HANDED_TO_PEOPLE = "upset_handed_to_people"
    SURVEY_INTRO = "survey_intro"
    SURVEY_UNDERSTOOD = "survey_understood"
    SURVEY_SOLVED = "survey_solved"
    SURVEY_AGAIN = "survey_again"
    SURVEY_THANKS = "survey_thanks"
    # Complaints (said by the custom actions)
    COMPLAINT_LOGGED = "complaint_logged"
    COMPLAINT_NOT_SAVED = "complaint_not_saved"
    COMPLAINT_NOT_FOUND = "complaint_not_found"
    COMPLAINTS_NONE = "complaints_none"
    COMPLAINT_STATUS_ONE = "complaint_status_one"
    COMPLAINT_STATUS_MANY = "complaint_status_many"
    COMPLAINT_DESCRIBED = "complaint_described"
    COMPLAINT_PENDING = "complaint_pending"
    COMPLAINT_OPEN = "complaint_open"
    COMPLAINT_RESOLVED = "complaint_resolved"


CATALOGUE: Mapping[Text, str] = {
    Text.SERVICE_TROUBLE: (
        "Sorry, we're having trouble on our side right now. Your message is saved and "
        "we'll answer it here as soon as we're back."
    ),
    Text.ANSWER_PENDING: "Thanks, your message is saved; our answer will follow here shortly.",
    Text.GAVE_UP: "Sorry, I couldn't process that message. Could you try saying it another way?",
    Text.OPTIONS_PROMPT: "Reply with the number of your choice.",
    Text.IMAGE_LINK: "Image: {url}",
    Text.WEBCHAT_NOT_TAKEN: "We couldn't take your message; please send it again.",
    Text.WEBCHAT_DELAYED: "Your message is saved; we'll answer it shortly.",
    Text.SMS_STARTED_AGAIN: "You're subscribed again and will get our replies. How can I help?",
    Text.SMS_MEDIA_ONLY: (
        "Thanks, I've saved what you sent with your conversation. "
        "Please also tell me in a text message what it's about."
    ),
    Text.SMS_UNREADABLE: (
        "Sorry, I couldn't read that message. Could you send it again as plain text?"
    ),
    Text.SMS_FILE_REFUSED: "Sorry, I couldn't keep the file you sent: {reason}.",
    Text.SMS_MEDIA_REFUSED: (
        "Sorry, I couldn't keep what you sent: {reason}. Please tell me in a text instead."
    ),
    Text.CALL_GREETING: (
        "Hello, you're through to our customer service assistant. How can I help you today?"
    ),
    Text.CALL_RECORDING_NOTICE: "This call may be recorded for quality and training.",
    Text.CALL_CONSENT_PROMPT: (
        "We'd like to record this call for quality and training. To allow this, press 1. "
        "To continue without recording, stay on the line."
    ),
    Text.CALL_REPROMPT: "Sorry, I didn't catch that.",
    Text.CALL_OFFER_HUMAN: (
        "I'm sorry, I still can't hear you. To speak to a person, press 0. "
        "To get a call back on this number, press 1."
    ),
    Text.CALL_CALLBACK_CONFIRMED: (
        "Thank you. A colleague will call you back on this number. Goodbye."
    ),
    Text.CALL_NO_INPUT_GOODBYE: "I'm sorry, I couldn't hear you. Please call us again. Goodbye.",
    Text.CALL_ONE_MOMENT: "One moment, please.",
    Text.CALL_TOO_SLOW: "I'm sorry, this is taking longer than it should. Let me try again.",
    Text.CALL_KEYPAD_OPTION: "For {title}, press {number}.",
    Text.CALL_PICTURE: "I've got a picture for you that I can't show on a call.",
    Text.CALL_HOLD_POSITION: "You are number {position} in line. Thank you for holding.",
    Text.CALL_HOLD_TIMED_OUT: (
        "I'm sorry to keep you waiting. A colleague will call you back on this number "
        "as soon as someone is free. Goodbye."
    ),
    Text.CALL_HOLD_ENDED: "Your request has been dealt with. Thank you for calling. Goodbye.",
    Text.CALL_PUTTING_THROUGH: "Putting you through to {agent} now.",
    Text.CALL_AGENT_WILL_TEXT: (
        "{agent} from our team has your request, and will reply by text message to "
        "this number or call you back. Goodbye."
    ),
    Text.EMAIL_NO_TEXT: (
        "Thank you for your email. I couldn't find any text in it; please write your question "
        "in the body of the email and I'll answer straight away."
    ),
    Text.EMAIL_ATTACHMENTS_REFUSED: (
        "I couldn't keep some of your attachments ({listed}). Please send them another way."
    ),
    Text.EMAIL_DEFAULT_SUBJECT: "Your message",
    Text.AGENT_JOINED: "{agent} from our {team} team has joined the conversation.",
    Text.UPSET_HANDED_TO_PEOPLE: (
        "I'm sorry this has been so frustrating. I've asked our {team} team to take over; "
        "someone will reply here as soon as they can."
    ),
    Text.SURVEY_INTRO: (
        "Before you go, three quick statements. Reply with a number from 1 (disagree) to 5 (agree)."
    ),
    Text.SURVEY_UNDERSTOOD: "The person who helped me understood my problem.",
    Text.SURVEY_SOLVED: "My problem was solved.",
    Text.SURVEY_AGAIN: "I would be happy to get help this way again.",
    Text.SURVEY_THANKS: (
        "Thank you for your answers, they help us get better. I'm here if you need anything else."
    ),
    Text.COMPLAINT_LOGGED: (
        "Thank you. Your complaint ({category}) is logged with case ID {case_id}. Our team "
        "will review it within 2 working days. Ask me for its status any time, quoting "
        "{case_id}."
    ),
    Text.COMPLAINT_NOT_SAVED: (
        "Sorry, I couldn't save your complaint because of a problem on our side. Please ask "
        "me to file it again in a few minutes; I've kept the details."
    ),
    Text.COMPLAINT_NOT_FOUND: (
        "I couldn't find a complaint {case_id} on your account. Please check the case ID; "
        "it looks like CMP-7K3Q9."
    ),
    Text.COMPLAINTS_NONE: (
        "I can't find any complaints from you. If something went wrong, I can file one now."
    ),
    Text.COMPLAINT_STATUS_ONE: "Your complaint {complaint}.",
    Text.COMPLAINT_STATUS_MANY: "Your latest complaints:\n{complaints}",
    Text.COMPLAINT_DESCRIBED: "{case_id} ({category}, filed {filed}) is {status}",
    Text.COMPLAINT_PENDING: "received and waiting for our team to review it",
    Text.COMPLAINT_OPEN: "being worked on by our team",
    Text.COMPLAINT_RESOLVED: "resolved",
}


def say(key: Text, /, **values: object) -> str:
    """The text called `key`, with its `{placeholders}` filled from `values`."""
    return CATALOGUE[key].format(**values) if values else CATALOGUE[key]
