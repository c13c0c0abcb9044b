"""The core store: every write to the core's tables, and the reads that go with them, one
module per concept (customers, conversations, inbound and outbound messages, deliveries,
calls, complaints, history, audit).

Functions take keyword-only arguments and a session; the caller owns the transaction
(`Database.session()` commits or rolls back), so one request or action is one unit.
Handoff's tables have their own store, `handoff.store`.
"""
