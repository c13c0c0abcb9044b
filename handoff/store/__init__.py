"""Handoff's store: every write to handoff's tables (agents, handoffs, declines, notes,
survey answers) and the queries that go with them, one module per concept.

Like the core store (`bot.core.store`), functions take keyword-only arguments and a session
whose transaction the caller owns.
"""
