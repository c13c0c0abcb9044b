"""SMS and MMS through Twilio Programmable Messaging.

In: Twilio posts each message to `POST /twilio/sms` (signed; see `adapters.twilio.webhook`).
The message is stored (idempotent on MessageSid), then answered. Out, by SMS_REPLY_MODE:
  rest   the webhook answers at once with empty TwiML; replies go out through Twilio's REST
         API (status callbacks to `POST /twilio/sms/status`) when the assistant has them;
  twiml  the webhook waits for the assistant and answers with `<Message>` TwiML.
Buttons become numbered options ("Reply 2" picks option 2); long replies are split on word
boundaries; STOP/START/HELP are honoured before anything reaches the assistant.

`parse` reads a webhook, `render` says replies as SMS, `sender` pushes them through the
REST API, `channel` is the message path, `routes` the webhooks.
"""
