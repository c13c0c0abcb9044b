"""Email: IMAP in, SMTP out.

`parse` reads a raw mail (with `body` for the customer's own words), `render` turns a
turn's replies into one mail in the customer's `thread`, `imap` watches the mailbox,
`smtp` sends, and `channel` wires them to the message path: a mail is stored (with its
attachments) before the poller flags it processed, so a crash loses nothing and a
redelivered mail is answered once.
"""
