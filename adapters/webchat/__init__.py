"""Web chat: a WebSocket and a plain REST endpoint, and the chat page that uses them.

`frames` reads what the page sends and renders what it shows, `hub` pushes replies to a
visitor's open tabs, `routes` are the page and the endpoints.
"""
