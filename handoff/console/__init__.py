"""The agent console: a web page and the API behind it (sign in, inbox, a conversation with its
context, take, reply, notes, decline, transfer, resolve, live updates).

`routes` are thin: authentication and request shapes in `deps` and `schemas`, what a view
shows in `views`, and every state change through `handoff.desk.AgentDesk`.
"""
