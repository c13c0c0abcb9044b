"""Handing conversations to people: queues and hours (`queues`), priority, routing to agents,
escalation (one way for the actions, voice and the console), the agents' desk and its side
effects, the agent console (`console`), the satisfaction survey, and handoff's own tables
(`models`) and store (`store`)."""
