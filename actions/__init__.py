"""Custom actions served to Rasa by the rasa-sdk action server (Python 3.11)."""
