"""NLP on this machine's CPU: sentence embeddings, sentiment and its trend, complaint
categories, summaries for agents and complaint records, priority; the background jobs that
compute them off the message path, and the tables that keep the results."""
