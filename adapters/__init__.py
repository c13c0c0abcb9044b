"""Channel adapters: one module per channel, plus the message shapes they share."""
