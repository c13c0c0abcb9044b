"""Twilio, shared by the SMS and voice channels: webhook authentication (`webhook`) and our
client of its REST API (`rest`)."""
