"""Human handoff: agent queues, routing, the agent console and CSAT (not built yet)."""
