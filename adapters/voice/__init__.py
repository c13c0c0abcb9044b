"""Phone calls through Twilio Programmable Voice: TwiML in, speech and keypad out.

`parse` reads what the caller said or pressed, `render` is the TwiML (pure), `calls` carries
each call through the message path and hands callers to people (held with `<Enqueue>` while
the team is open and on duty, put through with `<Dial>` to the agent who takes it), and
`routes` are the webhooks.
"""
