"""Tools for testing and benchmarking the assistant against real servers, shared by `tests/`
and `bench/`: free ports, Twilio's webhooks signed as Twilio signs them, a local stand-in
for Twilio's REST API speaking its wire format (the one remote service a test cannot reach),
and data written straight into the store as the assistant would write it (`seed`).
"""
