"""Web chat: a WebSocket and a plain REST endpoint, and the chat page that uses them.

`sessions` issues and reads the signed credential each visitor gets, `access` checks it (and
the JSON, and the rate limits) on every request, `frames` reads what the page sends and
renders what it shows, `hub` pushes replies to a visitor's open tabs, `socket` is the
WebSocket, `routes` the page, sessions and REST endpoints, `uploads` the files a visitor
sends (checked and shown by `files`).
"""
